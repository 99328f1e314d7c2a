// Command provision measures what a provision node costs over talking to
// the Docker socket directly, against the real local daemon, in one run:
//
//  1. Container inspect: ContainerInspect of one running container through
//     the node (mutual TLS on loopback, kept-alive connections) and on the
//     socket. Target: the node adds at most 1 ms at the median.
//  2. Create+start+remove: one whole container lifecycle of the test image
//     through the node and on the socket, with the socket request carrying
//     the label and host configuration the node would add, so both ask
//     dockerd for the same container. Target: node p50 / socket p50 <= 1.05.
//  3. Session network: a launch (create and start) on a network of its
//     own, made as the node makes a session's, against one on Docker's
//     shared default bridge, both on the socket; with the network's create
//     and remove times. Target: own p50 / shared p50 <= 2.
//
// Each benchmark interleaves the two paths, one call (or cycle) each way per
// iteration with the order alternating, so drift of the machine over the
// run affects both alike. The node runs in this process on 127.0.0.1:0,
// with a throwaway CA in a temporary directory.
//
// Run it with `go run ./bench/provision`. It prints a table and one line per
// benchmark starting with "BENCH" for scripts. A missed target is reported,
// not an error: the exit status is non-zero only when the run itself fails.
// Everything it creates (containers, temporary files) is removed at exit,
// also on failure or interrupt.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/benchmain"

	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// Targets.
const (
	targetAddedP50MS = 1.0
	targetRatioP50   = 1.05
)

type options struct {
	inspectN, inspectWarmup int
	createC, createWarmup   int
	// verbose prints every measured create cycle to stderr.
	verbose bool
}

func main() {
	var o options
	flag.IntVar(&o.inspectN, "n", 2000, "measured ContainerInspect calls per path")
	flag.IntVar(&o.inspectWarmup, "warmup", 100, "unmeasured ContainerInspect calls per path before measuring")
	flag.IntVar(&o.createC, "c", 20, "measured create+start+remove cycles per path")
	flag.IntVar(&o.createWarmup, "create-warmup", 1, "unmeasured create+start+remove cycles per path before measuring")
	flag.BoolVar(&o.verbose, "v", false, "print every create+start+remove cycle's phases to stderr")
	flag.Parse()
	if o.inspectN < 1 || o.createC < 1 || o.inspectWarmup < 0 || o.createWarmup < 0 {
		fmt.Fprintln(os.Stderr, "bench/provision: -n and -c must be at least 1, warm-ups at least 0")
		os.Exit(2)
	}

	benchmain.Run("provision", func(ctx context.Context, out io.Writer) error { return run(ctx, o, out) })
}

func run(ctx context.Context, o options, out io.Writer) (err error) {
	socket, err := dockertest.Connect(ctx)
	if err != nil {
		return err
	}
	defer socket.Close()
	if err := dockertest.BuildTestImage(ctx, socket); err != nil {
		return fmt.Errorf("build %s: %w", dockertest.TestImage, err)
	}
	ver, err := socket.ServerVersion(ctx)
	if err != nil {
		return fmt.Errorf("docker version: %w", err)
	}

	dir, err := os.MkdirTemp("", "airlock-bench-provision-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove temp dir: %w", rerr))
		}
	}()
	runID := rand.Text()
	defer func() {
		if rerr := removeRun(socket, runID); rerr != nil {
			err = errors.Join(err, fmt.Errorf("clean up containers: %w", rerr))
		}
	}()

	env, err := startNode(ctx, dir)
	if err != nil {
		return err
	}
	defer func() {
		if serr := env.stop(); serr != nil {
			err = errors.Join(err, serr)
		}
	}()

	ins, err := benchInspect(ctx, env.client, socket, runID, o.inspectN, o.inspectWarmup)
	if err != nil {
		return fmt.Errorf("inspect benchmark: %w", err)
	}
	var trace io.Writer
	if o.verbose {
		trace = os.Stderr
	}
	cre, err := benchCreate(ctx, env.client, socket, runID, o.createC, o.createWarmup, trace)
	if err != nil {
		return fmt.Errorf("create benchmark: %w", err)
	}

	nw, err := benchNetwork(ctx, socket, runID, o.createC, o.createWarmup, trace)
	if err != nil {
		return fmt.Errorf("network benchmark: %w", err)
	}

	fmt.Fprintf(out, "provision node vs Docker socket: dockerd %s (API %s), %s %s/%s, %d CPUs\n\n",
		ver.Version, ver.APIVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	inspectLine := reportInspect(out, ins, o)
	fmt.Fprintln(out)
	createLine := reportCreate(out, cre, o)
	fmt.Fprintln(out)
	networkLine := reportNetwork(out, nw, o)
	fmt.Fprintln(out)
	fmt.Fprintln(out, inspectLine)
	fmt.Fprintln(out, createLine)
	fmt.Fprintln(out, networkLine)
	return nil
}

// reportInspect prints the inspect table and returns its BENCH line.
func reportInspect(out io.Writer, r inspectResult, o options) string {
	np50, np99 := percentile(r.node, 50), percentile(r.node, 99)
	sp50, sp99 := percentile(r.socket, 50), percentile(r.socket, 99)
	added50, added99 := ms(np50)-ms(sp50), ms(np99)-ms(sp99)
	result := verdict(added50 <= targetAddedP50MS)
	fmt.Fprintf(out, "Container inspect (n=%d per path after %d warm-up, interleaved)\n", o.inspectN, o.inspectWarmup)
	fmt.Fprintf(out, "  %-8s %10s %10s\n", "", "p50 ms", "p99 ms")
	fmt.Fprintf(out, "  %-8s %10.3f %10.3f\n", "node", ms(np50), ms(np99))
	fmt.Fprintf(out, "  %-8s %10.3f %10.3f\n", "socket", ms(sp50), ms(sp99))
	fmt.Fprintf(out, "  %-8s %10.3f %10.3f   (node minus socket)\n", "added", added50, added99)
	fmt.Fprintf(out, "  target: added p50 <= %g ms: %s\n", targetAddedP50MS, result)
	return fmt.Sprintf("BENCH provision.inspect n=%d node_p50_ms=%.3f node_p99_ms=%.3f socket_p50_ms=%.3f socket_p99_ms=%.3f added_p50_ms=%.3f added_p99_ms=%.3f target_added_p50_ms=%g result=%s",
		o.inspectN, ms(np50), ms(np99), ms(sp50), ms(sp99), added50, added99, targetAddedP50MS, result)
}

// reportCreate prints the create+start+remove table and returns its BENCH
// line. Phase columns are each phase's own median, so they need not add up
// to the total's.
func reportCreate(out io.Writer, r createResult, o options) string {
	type row struct {
		total50, total95, create50, start50, remove50 float64
	}
	summarize := func(cs []cycleTimes) row {
		var total, create, start, remove []time.Duration
		for _, c := range cs {
			total = append(total, c.total)
			create = append(create, c.create)
			start = append(start, c.start)
			remove = append(remove, c.remove)
		}
		return row{
			total50: ms(percentile(total, 50)), total95: ms(percentile(total, 95)),
			create50: ms(percentile(create, 50)), start50: ms(percentile(start, 50)), remove50: ms(percentile(remove, 50)),
		}
	}
	n, s := summarize(r.node), summarize(r.socket)
	ratio := n.total50 / s.total50
	result := verdict(ratio <= targetRatioP50)
	fmt.Fprintf(out, "Create+start+remove (c=%d per path after %d warm-up, interleaved)\n", o.createC, o.createWarmup)
	fmt.Fprintf(out, "  %-8s %10s %10s   %10s %10s %10s\n", "", "p50 ms", "p95 ms", "create p50", "start p50", "remove p50")
	for _, x := range []struct {
		name string
		r    row
	}{{"node", n}, {"socket", s}} {
		fmt.Fprintf(out, "  %-8s %10.3f %10.3f   %10.3f %10.3f %10.3f\n", x.name, x.r.total50, x.r.total95, x.r.create50, x.r.start50, x.r.remove50)
	}
	fmt.Fprintf(out, "  %-8s %10.3f %10.3f   %10.3f %10.3f %10.3f   (node minus socket)\n", "added",
		n.total50-s.total50, n.total95-s.total95, n.create50-s.create50, n.start50-s.start50, n.remove50-s.remove50)
	// Paired: the median over iterations of node minus socket within the
	// same iteration, less sensitive to drift than a difference of medians.
	var dTotal, dCreate, dStart, dRemove []time.Duration
	for i := range min(len(r.node), len(r.socket)) {
		nc, sc := r.node[i], r.socket[i]
		dTotal = append(dTotal, nc.total-sc.total)
		dCreate = append(dCreate, nc.create-sc.create)
		dStart = append(dStart, nc.start-sc.start)
		dRemove = append(dRemove, nc.remove-sc.remove)
	}
	fmt.Fprintf(out, "  %-8s %10.3f %10s   %10.3f %10.3f %10.3f   (median of per-iteration node minus socket)\n", "paired",
		ms(percentile(dTotal, 50)), "-", ms(percentile(dCreate, 50)), ms(percentile(dStart, 50)), ms(percentile(dRemove, 50)))
	fmt.Fprintf(out, "  ratio node p50 / socket p50 = %.3f; target <= %g: %s\n", ratio, targetRatioP50, result)
	return fmt.Sprintf("BENCH provision.create c=%d node_p50_ms=%.3f node_p95_ms=%.3f socket_p50_ms=%.3f socket_p95_ms=%.3f ratio_p50=%.3f target_ratio_p50=%g result=%s",
		o.createC, n.total50, n.total95, s.total50, s.total95, ratio, targetRatioP50, result)
}
