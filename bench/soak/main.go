// Command soak launches, connects to and ends sessions through a real
// `airlock up`, -cycles (500) times, and checks that nothing is left
// behind: the deployment's containers and networks and the sessions in
// active states are back to what they were before, the server's
// goroutines and open file descriptors back to their start (within a few,
// for kept-alive connections), and its memory flat.
//
// Most cycles are of the minimal workspace: POST /api/v1/sessions
// {"workspace": "minimal"}, the long poll until ready, POST …/connect (a
// viewer's token for the relay), and DELETE, which answers once the
// container and its network are removed. -chromium (50) of them, spread
// evenly over the run (every tenth, by default), are of a Chromium
// workspace with a real viewer: a headless Chromium on this host
// (bench/internal/viewer, as bench/stream's), signed in to the portal,
// opens the session's viewer page, which connects over the signal relay
// and WebRTC, and waits for the first decoded frame; then the session is
// ended with the viewer still connected (DELETE, as above), and the
// viewer leaves the page. The Chromium cycles' launch to ready and launch
// to first frame are reported apart, p50 and max, for information. The
// viewer's browser is the benchmark's process, not the server's: the
// server's counts do not include it. -chromium 0 runs minimal cycles only
// and needs no browser or Chromium image.
//
// Ten cycles run first, unmeasured, two of them Chromium cycles (the
// first and the sixth) when -chromium is not 0, so that what a server and
// the viewer set up once (connection pools, caches, the first sign-in,
// the first relay and peer connection) is in the "before" counts. The
// server's goroutines, descriptors and RSS, before and after, are the
// least of samples taken every second over ten seconds: the server's
// lifecycle rounds start a dozen goroutines for a moment, and a "before"
// that caught them would hide a leak as large. The
// counts come from dockerd (labelled with the deployment), the api, and
// the server's /metrics (go_goroutines, process_open_fds,
// process_resident_memory_bytes). The viewer's browser gathers TURN relay
// candidates, so the server's descriptors count its relay allocations
// too.
//
// The Chromium image is built from the run's own airlock binary under a
// tag of the run's (airlock/chromium:bench-soak-…, on the build cache of
// airlock/chromium; the Debian base as bench/stream makes it) and allowed
// by the node's policy, written before airlock up's first start; the tag
// is removed at exit, and airlock/chromium:latest is neither rebuilt nor
// used, since other checkouts' tests on the same dockerd build it from
// theirs. For the same reason TURN listens on ports free at start (see
// turnFlags), not airlock up's defaults.
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
	"slices"
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

// warmup is how many cycles run unmeasured first; warmupChromium, which
// of them are Chromium cycles (when any cycle is).
const warmup = 10

var warmupChromium = []int{0, 5}

func main() {
	cycles := flag.Int("cycles", 500, "launch, connect and end cycles")
	chromium := flag.Int("chromium", 50, "how many of the cycles are of a Chromium workspace with a real viewer, spread evenly (0: none)")
	flag.Parse()
	if *cycles < 1 || *chromium < 0 || *chromium > *cycles || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "bench/soak: -cycles must be at least 1, -chromium from 0 to -cycles; no arguments")
		os.Exit(2)
	}
	benchmain.Run("soak", func(ctx context.Context, out io.Writer) error { return run(ctx, *cycles, *chromium, out) })
}

// isChromium says whether measured cycle i of cycles is a Chromium cycle,
// when chromium of them are: the cycles where i*chromium/cycles steps up,
// exactly chromium of them, evenly apart (with 50 of 500, every tenth,
// from the tenth).
func isChromium(i, cycles, chromium int) bool {
	return (i+1)*chromium/cycles > i*chromium/cycles
}

// counts is what a soak must leave as it found.
type counts struct {
	containers, networks, active int
	goroutines, fds              int
	rssMiB                       float64
}

func run(ctx context.Context, cycles, chromium int, out io.Writer) (err error) {
	began := time.Now()
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
	bin, err := airlockup.Build(ctx, dir)
	if err != nil {
		return err
	}
	var tag string
	if chromium > 0 {
		tag = chromiumImage()
		remove, err := buildChromium(ctx, socket, bin, tag)
		if err != nil {
			return err
		}
		// After the containers (deferred below), which use it.
		defer func() { err = errors.Join(err, remove()) }()
		if err := writePolicy(dir, tag); err != nil {
			return err
		}
	}
	var deployment string
	defer func() {
		if rerr := airlockup.RemoveContainers(socket, runLabel, rand.Text(), deployment); rerr != nil {
			err = errors.Join(err, fmt.Errorf("clean up containers: %w", rerr))
		}
	}()
	metrics, err := freeAddr()
	if err != nil {
		return err
	}
	turn, err := turnFlags()
	if err != nil {
		return err
	}
	up, err := airlockup.StartAdmin(ctx, bin, dir, "bench-soak", append([]string{"--server-metrics-listen", metrics}, turn...)...)
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
	c := &cycler{api: up.API}
	if chromium > 0 {
		if err := createChromiumWorkspace(ctx, up.API, tag); err != nil {
			return err
		}
		if c.viewer, err = startViewer(ctx, up); err != nil {
			return err
		}
		defer c.viewer.Close()
	}

	for i := range warmup {
		chrome := chromium > 0 && slices.Contains(warmupChromium, i)
		if err := c.cycle(ctx, chrome); err != nil {
			return fmt.Errorf("warm-up cycle %d: %w\nlog of airlock up (end):\n%s", i, err, up.Tail())
		}
	}
	c.reset()
	// "Before", like "after", is the least over a window (see settled),
	// so that what the server runs for a moment does not hide what the
	// measured cycles leave for good.
	before, err := settled(ctx, count)
	if err != nil {
		return err
	}
	start := time.Now()
	for i := range cycles {
		if err := c.cycle(ctx, isChromium(i, cycles, chromium)); err != nil {
			return fmt.Errorf("cycle %d: %w\nlog of airlock up (end):\n%s", i, err, up.Tail())
		}
	}
	took := time.Since(start)
	// What the last cycles leave settling (idle connections closing) is
	// given a few windows.
	var after counts
	for range 3 {
		if after, err = settled(ctx, count); err != nil {
			return err
		}
		if within(before, after) {
			break
		}
	}
	ok := within(before, after)
	minimal := cycles - chromium
	fmt.Fprintf(out, "Soak: %d cycles of launch, connect and end in %s (%s in all, with setup): %d of the minimal workspace, %d of Chromium with a viewer\n",
		cycles, took.Round(time.Second), time.Since(began).Round(time.Second), minimal, chromium)
	if minimal > 0 {
		fmt.Fprintf(out, "  minimal cycle: p50 %.0f ms, p95 %.0f ms\n", stats.MS(stats.Percentile(c.minimal, 50)), stats.MS(stats.Percentile(c.minimal, 95)))
	}
	if chromium > 0 {
		fmt.Fprintf(out, "  Chromium cycle: p50 %.0f ms, max %.0f ms; launch to ready p50 %.0f ms, max %.0f ms; launch to first frame p50 %.0f ms, max %.0f ms\n",
			stats.MS(stats.Percentile(c.chromium, 50)), stats.MS(slices.Max(c.chromium)),
			stats.MS(stats.Percentile(c.ready, 50)), stats.MS(slices.Max(c.ready)),
			stats.MS(stats.Percentile(c.frame, 50)), stats.MS(slices.Max(c.frame)))
	}
	fmt.Fprintln(out)
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
	var firstP50, firstMax float64
	if chromium > 0 {
		firstP50, firstMax = stats.MS(stats.Percentile(c.frame, 50)), stats.MS(slices.Max(c.frame))
	}
	fmt.Fprintf(out, "BENCH soak cycles=%d chromium=%d cycle_p50_ms=%.1f first_frame_p50_ms=%.1f first_frame_max_ms=%.1f containers=%d/%d networks=%d/%d active=%d/%d goroutines=%d/%d fds=%d/%d rss_mib=%.1f/%.1f wall_s=%.0f result=%s\n",
		cycles, chromium, stats.MS(stats.Percentile(c.minimal, 50)), firstP50, firstMax, before.containers, after.containers, before.networks, after.networks,
		before.active, after.active, before.goroutines, after.goroutines, before.fds, after.fds, before.rssMiB, after.rssMiB, took.Seconds(), stats.Verdict(ok))
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

// settled samples the counts every second over settleWindow and returns
// the server's fewest goroutines and descriptors and least RSS of the
// samples, with the last sample's containers, networks and sessions. The
// server's lifecycle rounds start a dozen goroutines for a moment every
// half minute or so: one sample may catch them, the window's least does
// not.
func settled(ctx context.Context, count func() (counts, error)) (counts, error) {
	c, err := count()
	if err != nil {
		return c, err
	}
	for range int(settleWindow / time.Second) {
		select {
		case <-ctx.Done():
			return c, ctx.Err()
		case <-time.After(time.Second):
		}
		n, err := count()
		if err != nil {
			return c, err
		}
		n.goroutines, n.fds, n.rssMiB = min(n.goroutines, c.goroutines), min(n.fds, c.fds), min(n.rssMiB, c.rssMiB)
		c = n
	}
	return c, nil
}

// settleWindow is how long settled samples.
const settleWindow = 10 * time.Second

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

// turnFlags are airlock up's TURN flags on ports free now: another
// deployment on this host (a test's, another benchmark's) may hold the
// defaults (3478, 5349, relays 49160-49200). TURN stays on, as in a
// default deployment: the viewer's browser gathers relay candidates too.
func turnFlags() ([]string, error) {
	free := func(port int) bool {
		u, err := net.ListenPacket("udp4", fmt.Sprintf(":%d", port))
		if err != nil {
			return false
		}
		defer u.Close()
		t, err := net.Listen("tcp4", fmt.Sprintf(":%d", port))
		if err != nil {
			return false
		}
		return t.Close() == nil
	}
	// Ports of a range this host does not hand out as ephemeral ones
	// (32768-60999 on Linux): below it.
	const base, top, relays = 20000, 32000, 41
	var picked []int
	for p := base; p < top && len(picked) < 2; p += 97 {
		if free(p) {
			picked = append(picked, p)
		}
	}
	for lo := base + 50; lo+relays < top && len(picked) == 2; lo += relays + 7 {
		ok := true
		for p := lo; p < lo+relays && ok; p++ {
			ok = p != picked[0] && p != picked[1] && free(p)
		}
		if ok {
			return []string{"--turn-listen", fmt.Sprintf(":%d", picked[0]), "--turn-tls-listen", fmt.Sprintf(":%d", picked[1]),
				"--turn-relay-ports", fmt.Sprintf("%d-%d", lo, lo+relays-1)}, nil
		}
	}
	return nil, errors.New("no free ports for TURN between 20000 and 32000")
}
