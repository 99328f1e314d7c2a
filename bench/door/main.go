// Command door measures how the infra server's public door holds under a
// password-guessing attack, in one run:
//
//  1. A real `airlock server` (the static binary, built by this program,
//     run as a subprocess on 127.0.0.1 with a throwaway data directory; no
//     Docker needed). The admin creates a user, alice.
//  2. Quiet: alice signs in -n times (POST /api/v1/auth/login, asking for
//     an API token, as the CLI does), and between sign-ins lists the
//     workspaces with her token (GET /api/v1/workspaces), -api times in
//     all; each request is timed.
//  3. Attack: -attackers goroutines send bad sign-ins as fast as the server
//     answers them, for invented user names, over HTTP/2 from -attack-addrs
//     loopback addresses (127.0.1.x: the server sees that many clients;
//     they ignore Retry-After). After a second of attack, alice does the
//     same as in 2, from 127.0.0.1.
//
// It reports alice's sign-in and API latency (p50, p90) in both phases
// and their ratio (attack / quiet), what the attack was answered (401:
// checked and wrong; 429: throttled; 503: no hash slot in time), and the
// server's peak RSS (VmHWM) before and after the attack. There is no
// target: the figures are for comparison across changes.
//
// Everything is on loopback; the run is bounded (about -n sign-ins per
// phase, each waiting at most the server's hash wait), and the subprocess
// and its files are removed at exit, also on failure or interrupt. Run it
// with `go run ./bench/door`; it prints a table and one line starting with
// "BENCH" for scripts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/airlock-rbi/airlock/bench/internal/airlockup"
	"github.com/airlock-rbi/airlock/bench/internal/benchmain"
)

type options struct {
	n, api           int
	attackers, addrs int
	keepLog          bool
}

func main() {
	var o options
	fs := flag.NewFlagSet("door", flag.ExitOnError)
	fs.IntVar(&o.n, "n", 20, "legitimate sign-ins per phase")
	fs.IntVar(&o.api, "api", 200, "API requests (GET /api/v1/workspaces) per phase")
	fs.IntVar(&o.attackers, "attackers", 200, "concurrent bad sign-ins during the attack")
	fs.IntVar(&o.addrs, "attack-addrs", 8, "loopback addresses the attack comes from (1-250)")
	fs.BoolVar(&o.keepLog, "keep-log", false, "keep the server's log")
	_ = fs.Parse(os.Args[1:])
	benchmain.Run("door", func(ctx context.Context, out io.Writer) error { return run(ctx, out, o) })
}

func run(ctx context.Context, out io.Writer, o options) (err error) {
	if o.n < 1 || o.api < 1 || o.attackers < 1 || o.addrs < 1 || o.addrs > 250 {
		return errors.New("-n, -api and -attackers must be at least 1, -attack-addrs between 1 and 250")
	}
	dir, cleanup, err := airlockup.WorkDir("door", o.keepLog)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()
	bin, err := airlockup.Build(ctx, dir)
	if err != nil {
		return err
	}
	adminPassword := airlockup.RandomPassword()
	s, err := startServer(ctx, bin, dir, adminPassword)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.stop()) }()

	legit := s.client("127.0.0.1", 0)
	admin, err := s.token(ctx, legit, "admin", adminPassword)
	if err != nil {
		return err
	}
	alicePassword := airlockup.RandomPassword()
	if code, err := s.call(ctx, legit, "POST", "/api/v1/users", admin,
		map[string]any{"name": "alice", "password": alicePassword}, nil); err != nil || code != 201 {
		return fmt.Errorf("create alice: %d %v", code, err)
	}
	alice := user{name: "alice", password: alicePassword}
	if alice.token, err = s.token(ctx, legit, alice.name, alice.password); err != nil {
		return err
	}

	quiet, err := s.measure(ctx, legit, alice, o)
	if err != nil {
		return fmt.Errorf("quiet phase: %w", err)
	}
	rssQuiet, err := s.peakRSS()
	if err != nil {
		return err
	}
	attacked, answers, err := s.underAttack(ctx, legit, alice, o)
	if err != nil {
		return fmt.Errorf("attack phase: %w", err)
	}
	rssPeak, err := s.peakRSS()
	if err != nil {
		return err
	}
	fmt.Fprintln(out, report(out, o, quiet, attacked, answers, rssQuiet, rssPeak))
	return nil
}
