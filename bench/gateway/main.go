// Command gateway measures Airlock's gateway against nginx, in one run on
// loopback, with the same load tool (wrk) and connection count:
//
//   - a trivial backend (a child process: GET /ping answers "ok"), served
//     over plain HTTP to the proxies and over TLS to wrk directly;
//   - the gateway (a child process: internal/gateway with the api's real
//     authenticator on a SQLite store, the route "GET /ping" with the user
//     policy, forwarding with gateway.Remote), TLS from internal/pki, its
//     access log on;
//   - nginx (Debian's, started here with a configuration of its own: the
//     same certificate, TLS 1.3, an upstream with keep-alive, its access
//     log on), proxying to the same backend.
//
// Every request carries the same API token; only the gateway checks it.
// Each round runs wrk against the backend directly, nginx and the gateway
// in turn: -c connections for throughput, then one connection for latency.
// The medians of -rounds rounds are reported: the gateway's throughput as
// a ratio of nginx's (target ≥ 1.0) and the p50 latency each proxy adds
// over the direct backend at one connection (target ≤ 0.2 ms for the
// gateway).
//
// wrk and nginx are installed with apt-get when missing (as root on
// Debian); otherwise it stops saying what to install. Run it with
// `go run ./bench/gateway`; it prints a table and one line starting with
// "BENCH" for scripts.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/benchmain"
)

// Targets of issue 13.
const (
	targetRatio   = 1.0
	targetAddedMS = 0.2
)

// roleEnv names the child's role: "backend" or "gateway".
const roleEnv = "AIRLOCK_BENCH_GATEWAY_ROLE"

func main() {
	if role := os.Getenv(roleEnv); role != "" {
		if err := child(role); err != nil {
			fmt.Fprintf(os.Stderr, "bench/gateway %s: %v\n", role, err)
			os.Exit(1)
		}
		return
	}
	conns := flag.Int("c", 64, "connections for the throughput runs")
	threads := flag.Int("t", 2, "wrk threads for the throughput runs")
	dur := flag.Duration("d", 5*time.Second, "length of each throughput run")
	latDur := flag.Duration("latency-d", 3*time.Second, "length of each one-connection latency run")
	rounds := flag.Int("rounds", 3, "rounds of direct, nginx, gateway")
	flag.Parse()
	if *conns < 1 || *threads < 1 || *threads > *conns || *rounds < 1 || *dur < time.Second || *latDur < time.Second || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: gateway [-c N] [-t N<=c] [-d D>=1s] [-latency-d D>=1s] [-rounds N]")
		os.Exit(2)
	}
	benchmain.Run("gateway", func(ctx context.Context, out io.Writer) error {
		return run(ctx, out, load{conns: *conns, threads: *threads, dur: *dur, latDur: *latDur, rounds: *rounds})
	})
}
