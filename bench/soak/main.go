// Command soak launches, connects to and ends sessions of the minimal
// workspace through a real `airlock up`, -cycles (500) times, and checks
// that nothing is left behind: the deployment's containers and networks
// and the sessions in active states are back to what they were before,
// the server's goroutines and open file descriptors back to their start
// (within a few, for kept-alive connections), and its memory flat.
//
// Each cycle: POST /api/v1/sessions {"workspace": "minimal"}, the long
// poll until ready, POST …/connect (a viewer's token for the relay), and
// DELETE, which answers once the container and its network are removed.
// Ten cycles run first, unmeasured, so that what a server sets up once
// (connection pools, caches, the first sign-in) is in the "before"
// counts. The counts come from dockerd (labelled with the deployment),
// the api, and the server's /metrics (go_goroutines, process_open_fds,
// process_resident_memory_bytes).
//
// Run it with `go run ./bench/soak`. It prints a table and one line
// starting with "BENCH" for scripts; a missed target is reported, not an
// error. Everything it creates is removed at exit.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/bench/internal/airlockup"
	"github.com/airlock-rbi/airlock/bench/internal/benchmain"
	"github.com/airlock-rbi/airlock/bench/internal/stats"
	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/dockertest"
)

const runLabel = "airlock.bench.run"

func main() {
	cycles := flag.Int("cycles", 500, "launch, connect and end cycles")
	flag.Parse()
	if *cycles < 1 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "bench/soak: -cycles must be at least 1; no arguments")
		os.Exit(2)
	}
	benchmain.Run("soak", func(ctx context.Context, out io.Writer) error { return run(ctx, *cycles, out) })
}

// counts is what a soak must leave as it found.
type counts struct {
	containers, networks, active int
	goroutines, fds              int
	rssMiB                       float64
}

func run(ctx context.Context, cycles int, out io.Writer) (err error) {
	socket, err := dockertest.Connect(ctx)
	if err != nil {
		return err
	}
	defer socket.Close()
	dir, cleanup, err := airlockup.WorkDir("soak", false)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()
	var deployment string
	defer func() {
		if rerr := airlockup.RemoveContainers(socket, runLabel, rand.Text(), deployment); rerr != nil {
			err = errors.Join(err, fmt.Errorf("clean up containers: %w", rerr))
		}
	}()
	bin, err := airlockup.Build(ctx, dir)
	if err != nil {
		return err
	}
	metrics, err := freeAddr()
	if err != nil {
		return err
	}
	up, err := airlockup.StartAdmin(ctx, bin, dir, "bench-soak", "--server-metrics-listen", metrics)
	if err != nil {
		return err
	}
	deployment = up.Deployment
	defer func() {
		if serr := up.Stop(); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	count := func() (counts, error) { return snapshot(ctx, socket, up.API, deployment, "http://"+metrics+"/metrics") }

	var times []time.Duration
	cycle := func() error {
		t0 := time.Now()
		var s airlockup.Session
		if err := up.API.Do(ctx, http.MethodPost, "/api/v1/sessions", map[string]string{"workspace": "minimal"}, &s); err != nil {
			return err
		}
		for s.State == string(airlock.SessionPending) || s.State == string(airlock.SessionStarting) {
			if err := up.API.Do(ctx, http.MethodGet, "/api/v1/sessions/"+s.ID+"?wait=10s", nil, &s); err != nil {
				return err
			}
		}
		if s.State != string(airlock.SessionReady) {
			return fmt.Errorf("session %s is %s: %s", s.ID, s.State, s.Reason)
		}
		if err := up.API.Do(ctx, http.MethodPost, "/api/v1/sessions/"+s.ID+"/connect", nil, nil); err != nil {
			return fmt.Errorf("connect to %s: %w", s.ID, err)
		}
		if err := up.API.DeleteSession(s.ID); err != nil {
			return err
		}
		times = append(times, time.Since(t0))
		return nil
	}
	for i := range 10 {
		if err := cycle(); err != nil {
			return fmt.Errorf("warm-up cycle %d: %w\nlog of airlock up (end):\n%s", i, err, up.Tail())
		}
	}
	times = nil
	before, err := count()
	if err != nil {
		return err
	}
	start := time.Now()
	for i := range cycles {
		if err := cycle(); err != nil {
			return fmt.Errorf("cycle %d: %w\nlog of airlock up (end):\n%s", i, err, up.Tail())
		}
	}
	took := time.Since(start)
	// What the last cycles leave settling (idle connections closing) is
	// given a few seconds.
	var after counts
	for deadline := time.Now().Add(15 * time.Second); ; {
		if after, err = count(); err != nil {
			return err
		}
		if within(before, after) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	ok := within(before, after)
	fmt.Fprintf(out, "Soak: %d cycles of launch, connect and end of the minimal workspace in %s (%.0f ms a cycle p50, %.0f p95)\n\n",
		cycles, took.Round(time.Second), stats.MS(stats.Percentile(times, 50)), stats.MS(stats.Percentile(times, 95)))
	fmt.Fprintf(out, "  %-34s %10s %10s\n", "", "before", "after")
	rows := []struct {
		name          string
		before, after float64
		rule          string
	}{
		{"deployment's containers (dockerd)", float64(before.containers), float64(after.containers), "equal"},
		{"deployment's networks (dockerd)", float64(before.networks), float64(after.networks), "equal"},
		{"sessions in active states (api)", float64(before.active), float64(after.active), "equal"},
		{"server goroutines", float64(before.goroutines), float64(after.goroutines), fmt.Sprintf("at most %d more", slack)},
		{"server open file descriptors", float64(before.fds), float64(after.fds), fmt.Sprintf("at most %d more", slack)},
		{"server RSS, MiB", before.rssMiB, after.rssMiB, fmt.Sprintf("at most %.0f%% more", (rssGrowth-1)*100)},
	}
	for _, r := range rows {
		fmt.Fprintf(out, "  %-34s %10.1f %10.1f   %s\n", r.name, r.before, r.after, r.rule)
	}
	fmt.Fprintf(out, "  nothing left behind and memory flat: %s\n\n", stats.Verdict(ok))
	fmt.Fprintf(out, "BENCH soak cycles=%d cycle_p50_ms=%.1f containers=%d/%d networks=%d/%d active=%d/%d goroutines=%d/%d fds=%d/%d rss_mib=%.1f/%.1f result=%s\n",
		cycles, stats.MS(stats.Percentile(times, 50)), before.containers, after.containers, before.networks, after.networks,
		before.active, after.active, before.goroutines, after.goroutines, before.fds, after.fds, before.rssMiB, after.rssMiB, stats.Verdict(ok))
	return nil
}

// slack is how many goroutines and descriptors more than before count as
// back: kept-alive connections of the api's clients come and go.
const slack = 5

// rssGrowth bounds the server's memory after the soak, as a ratio to
// before.
const rssGrowth = 1.25

func within(b, a counts) bool {
	return a.containers == b.containers && a.networks == b.networks && a.active == b.active &&
		a.goroutines <= b.goroutines+slack && a.fds <= b.fds+slack && a.rssMiB <= b.rssMiB*rssGrowth
}

func snapshot(ctx context.Context, socket *client.Client, api *airlockup.Client, deployment, metricsURL string) (counts, error) {
	var c counts
	f := filters.NewArgs(filters.Arg("label", airlock.LabelDeployment+"="+deployment))
	cs, err := socket.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return c, err
	}
	ns, err := socket.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return c, err
	}
	c.containers, c.networks = len(cs), len(ns)
	var list []airlockup.Session
	if err := api.Do(ctx, http.MethodGet, "/api/v1/sessions?all=1&active=1", nil, &list); err != nil {
		return c, err
	}
	c.active = len(list)
	m, err := scrape(ctx, metricsURL)
	if err != nil {
		return c, err
	}
	c.goroutines, c.fds, c.rssMiB = int(m["go_goroutines"]), int(m["process_open_fds"]), m["process_resident_memory_bytes"]/(1<<20)
	return c, nil
}

// scrape reads the unlabelled samples of a Prometheus text exposition.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

// freeAddr is a loopback address with a port free now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
