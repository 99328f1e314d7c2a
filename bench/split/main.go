// Command split measures launch-to-ready through a split deployment, each
// infra role in a process of its own talking over the internal zone's
// mutual TLS, against the same launch through the all-in-one server, in
// one run on one machine:
//
//  1. All-in-one: a real `airlock up` (the static binary, built by this
//     program, with a throwaway data directory): the api, the gateway,
//     the relay, cron and the portal in one process, and the local
//     provision node.
//  2. Split: five more processes, `airlock server --roles R` for the api,
//     signal, portal, cron and gateway, on the same data directory (the
//     same CA, keys and SQLite database, so the same users, workspaces and
//     provision node), the internal listeners on loopback ports of their
//     own and the gateway on a public port of its own, which the split
//     api gives session containers as their agent URL.
//
// Each iteration launches the "minimal" workspace (FROM scratch, the agent
// as PID 1) once each way, the order alternating: POST /api/v1/sessions,
// then GET /api/v1/sessions/{id}?wait= (a long poll, as the CLI waits)
// until it is ready, which the api sets when the container's agent has
// registered (through the gateway of the path measured). The time is from
// before the POST to the answer that says ready; the session is then
// deleted, untimed. In the split path every call crosses the gateway and
// then the zone: the gateway has the api verify the caller's token
// (another TLS hop) before it forwards the call (a third).
//
// The report gives p50, p90 and the mean of each path and the ratio of the
// p50s. Target: split p50 / all-in-one p50 <= 1.10 (the zone's hops are
// loopback round trips against a launch of a few hundred milliseconds).
// Run it with `go run ./bench/split`. A missed target is reported, not an
// error; everything it starts is stopped, and the sessions' containers
// removed, at exit.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/airlockup"
	"github.com/airlock-rbi/airlock/bench/internal/benchmain"
	"github.com/airlock-rbi/airlock/bench/internal/stats"
	"github.com/airlock-rbi/airlock/internal/apiclient"
	"github.com/airlock-rbi/airlock/internal/dockertest"
	"github.com/airlock-rbi/airlock/internal/pki"
)

// targetRatio is the target of split p50 / all-in-one p50.
const targetRatio = 1.10

func main() {
	n := flag.Int("n", 20, "measured launches per path")
	warmup := flag.Int("warmup", 2, "unmeasured launches per path first")
	verbose := flag.Bool("v", false, "print every launch to stderr")
	keepLog := flag.Bool("keep-log", false, "keep the processes' logs and print where")
	flag.Parse()
	if *n < 1 || *warmup < 0 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "bench/split: -n at least 1, -warmup at least 0, no arguments")
		os.Exit(2)
	}
	benchmain.Run("split", func(ctx context.Context, out io.Writer) error { return run(ctx, *n, *warmup, *verbose, *keepLog, out) })
}

// roleProc is one process of the split deployment.
type roleProc struct {
	role string
	cmd  *exec.Cmd
	log  string
	done chan error
}

func (p *roleProc) stop() error {
	if p.cmd.Process == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("%s exited: %w (log %s)", p.role, err, p.log)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 30 s of SIGTERM", p.role)
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port, nil
}

func run(ctx context.Context, n, warmup int, verbose, keepLog bool, out io.Writer) (err error) {
	socket, err := dockertest.Connect(ctx)
	if err != nil {
		return err
	}
	defer socket.Close()
	dir, cleanup, err := airlockup.WorkDir("split", keepLog)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()
	bin, err := airlockup.Build(ctx, dir)
	if err != nil {
		return err
	}
	// The split gateway's port, which session containers must reach
	// (the node's host rules let them reach only the ports named).
	gatewayPort, err := freePort()
	if err != nil {
		return err
	}
	password := airlockup.RandomPassword()
	up, err := airlockup.Start(ctx, bin, dir, password, "--extra-session-host-ports", "tcp:"+gatewayPort)
	if err != nil {
		return err
	}
	var deployment string
	defer func() {
		// The sessions' containers go after every process has stopped,
		// so no lifecycle round races the cleanup.
		if rerr := airlockup.RemoveContainers(socket, "airlock.bench-split", "none", deployment); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	defer func() { err = errors.Join(err, up.Stop()) }()

	pem, err := os.ReadFile(filepath.Join(up.Data, "ca.pem"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tlsCfg := &tls.Config{RootCAs: pool}
	all, err := apiclient.New(apiclient.Options{Server: up.Server, TLS: tlsCfg})
	if err != nil {
		return err
	}
	var login struct{ Token string }
	if err := all.Do(ctx, http.MethodPost, "/api/v1/auth/login", map[string]any{"user": "admin", "password": password, "token": true, "token_name": "bench-split"}, &login); err != nil {
		return fmt.Errorf("log in: %w", err)
	}
	ca, err := pki.LoadCA(up.Data)
	if err != nil {
		return fmt.Errorf("the deployment's CA: %w", err)
	}
	deployment = ca.DeploymentID()
	if all, err = apiclient.New(apiclient.Options{Server: up.Server, TLS: tlsCfg, Token: login.Token}); err != nil {
		return err
	}

	// The split deployment on the same data directory.
	ports := map[string]string{}
	ports["gateway"] = gatewayPort
	for _, k := range []string{"api", "signal", "portal"} {
		if ports[k], err = freePort(); err != nil {
			return err
		}
	}
	zone := []string{"--data", up.Data, "--metrics-listen", "",
		"--api-listen", "127.0.0.1:" + ports["api"], "--api-url", "https://127.0.0.1:" + ports["api"],
		"--signal-listen", "127.0.0.1:" + ports["signal"], "--signal-url", "https://127.0.0.1:" + ports["signal"],
		"--portal-listen", "127.0.0.1:" + ports["portal"], "--portal-url", "https://127.0.0.1:" + ports["portal"]}
	var procs []*roleProc
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			err = errors.Join(err, procs[i].stop())
		}
	}()
	start := func(role string, extra ...string) error {
		log := filepath.Join(dir, "split-"+role+".log")
		f, err := os.Create(log)
		if err != nil {
			return err
		}
		defer f.Close()
		cmd := exec.Command(bin, append(append([]string{"server", "--roles", role}, zone...), extra...)...)
		cmd.Stdout, cmd.Stderr = f, f
		cmd.Env = append(os.Environ(), "AIRLOCK_ADMIN_PASSWORD="+password)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start the %s role: %w", role, err)
		}
		p := &roleProc{role: role, cmd: cmd, log: log, done: make(chan error, 1)}
		go func() { p.done <- cmd.Wait() }()
		procs = append(procs, p)
		return nil
	}
	waitPort := func(role, port string) error {
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
				c.Close()
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the %s role did not listen on %s within 60 s:\n%s", role, port, tail(filepath.Join(dir, "split-"+role+".log")))
			}
		}
	}
	gatewayURL := "https://127.0.0.1:" + ports["gateway"]
	if err := start("api", "--agent-url", "https://host.docker.internal:"+ports["gateway"]); err != nil {
		return err
	}
	if err := waitPort("api", ports["api"]); err != nil {
		return err
	}
	for _, r := range []string{"signal", "portal"} {
		if err := start(r); err != nil {
			return err
		}
		if err := waitPort(r, ports[r]); err != nil {
			return err
		}
	}
	if err := start("cron"); err != nil {
		return err
	}
	if err := start("gateway", "--listen", ":"+ports["gateway"]); err != nil {
		return err
	}
	if err := waitPort("gateway", ports["gateway"]); err != nil {
		return err
	}
	split, err := apiclient.New(apiclient.Options{Server: gatewayURL, TLS: tlsCfg, Token: login.Token})
	if err != nil {
		return err
	}
	var me struct{ Name string }
	if err := split.Do(ctx, http.MethodGet, "/api/v1/me", nil, &me); err != nil || me.Name != "admin" {
		return fmt.Errorf("the split gateway does not know the admin: %v %+v\n%s", err, me, tail(filepath.Join(dir, "split-gateway.log")))
	}

	paths := []struct {
		name string
		c    *apiclient.Client
		out  []time.Duration
	}{{name: "all-in-one", c: all}, {name: "split", c: split}}
	for i := range warmup + n {
		for k := range paths {
			p := &paths[(i+k)%len(paths)]
			d, err := launch(ctx, p.c)
			if err != nil {
				return fmt.Errorf("iteration %d, %s: %w\nsplit api log:\n%s", i, p.name, err, tail(filepath.Join(dir, "split-api.log")))
			}
			if verbose {
				fmt.Fprintf(os.Stderr, "iter %3d %-10s warmup=%-5t %8.1f ms\n", i, p.name, i < warmup, stats.MS(d))
			}
			if i >= warmup {
				p.out = append(p.out, d)
			}
		}
	}
	a, s := paths[0].out, paths[1].out
	ratio := float64(stats.Percentile(s, 50)) / float64(stats.Percentile(a, 50))
	fmt.Fprintf(out, "Launch to ready of %q: split deployment (5 processes over the zone's mutual TLS) vs all-in-one, %d launches each, interleaved\n", "minimal", n)
	fmt.Fprintf(out, "%s %s/%s, %d CPUs\n\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Fprintf(out, "%-11s %9s %9s %9s\n", "path", "p50 ms", "p90 ms", "mean ms")
	for _, p := range paths {
		fmt.Fprintf(out, "%-11s %9.1f %9.1f %9.1f\n", p.name, stats.MS(stats.Percentile(p.out, 50)), stats.MS(stats.Percentile(p.out, 90)), stats.MS(mean(p.out)))
	}
	fmt.Fprintf(out, "\nsplit p50 / all-in-one p50 = %.3f (target <= %.2f) %s\n", ratio, targetRatio, stats.Verdict(ratio <= targetRatio))
	fmt.Fprintf(out, "BENCH split all_p50_ms=%.1f split_p50_ms=%.1f ratio=%.3f target=%.2f %s\n",
		stats.MS(stats.Percentile(a, 50)), stats.MS(stats.Percentile(s, 50)), ratio, targetRatio, stats.Verdict(ratio <= targetRatio))
	return nil
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

// session is what the launch reads of a session.
type session struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Reason string `json:"reason"`
}

// launch is one launch to ready through c; the session is then deleted.
func launch(ctx context.Context, c *apiclient.Client) (time.Duration, error) {
	t0 := time.Now()
	var s session
	if err := c.Do(ctx, http.MethodPost, "/api/v1/sessions", map[string]string{"workspace": "minimal"}, &s); err != nil {
		return 0, err
	}
	for s.State != "ready" {
		if s.State == "failed" || s.State == "stopped" {
			return 0, fmt.Errorf("session %s is %s: %s", s.ID, s.State, s.Reason)
		}
		if time.Since(t0) > 2*time.Minute {
			return 0, errors.Join(fmt.Errorf("session %s not ready after 2 minutes (%s)", s.ID, s.State), remove(c, s.ID))
		}
		if err := c.Do(ctx, http.MethodGet, "/api/v1/sessions/"+s.ID+"?wait=5s", nil, &s); err != nil {
			return 0, errors.Join(err, remove(c, s.ID))
		}
	}
	d := time.Since(t0)
	return d, remove(c, s.ID)
}

func remove(c *apiclient.Client, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.Do(ctx, http.MethodDelete, "/api/v1/sessions/"+id, nil, nil)
	if err != nil && !strings.Contains(err.Error(), "not found") {
		return fmt.Errorf("delete session %s: %w", id, err)
	}
	return nil
}
