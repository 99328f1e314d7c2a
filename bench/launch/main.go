// Command launch measures how long Airlock takes from a user's "launch"
// to a ready session, against starting the same container directly on the
// Docker socket, in one run:
//
//  1. Airlock: a real `airlock up` (the static binary, built by this
//     program, run as a subprocess with a throwaway data directory). For
//     each iteration the client POSTs /api/v1/sessions for the "minimal"
//     workspace (airlock/minimal:latest: FROM scratch, the agent as PID 1)
//     and long-polls GET /api/v1/sessions/{id}?wait= (as the CLI does)
//     until the state is "ready", which the server sets when the agent in
//     the container has registered. The time is from before the POST until
//     the GET that answers ready. The session is then deleted (untimed); the default
//     limit of three active sessions per user is never reached.
//
//  2. Raw: a network made as the node makes a session's
//     (bench/internal/sessionnet), then ContainerCreate and ContainerStart
//     of the same image on it, on the Docker socket with the Docker Go
//     SDK, with the host configuration
//     Airlock's launcher asks for after the provision node's floor
//     (read-only root, tmpfs /tmp, all capabilities dropped,
//     no-new-privileges, 64 MiB, 64 pids, host.docker.internal mapped to
//     the gateway, the same log options and labels). The time is from
//     before the network's create until ContainerStart returns, which dockerd does
//     once the container's process has been started: the raw time does not
//     include the process doing anything. The container is then
//     force-removed and its network removed (untimed). Before measuring,
//     the two host configurations are compared as dockerd reports them
//     (but for the network's name).
//
//  3. Warm: a workspace of the same image and limits ("minimal-warm")
//     with a warm pool of 3. Once its pool holds a warm session (waited
//     for, untimed), the client POSTs /api/v1/sessions; the time is until
//     the answer, which must say ready (a warm session handed out), or the
//     run fails. The pool refills itself between launches, beside the
//     other paths (its starts load the machine the other paths run on).
//
// The paths are interleaved, one launch each way per iteration with the
// order rotating, so drift of the machine over the run affects all alike.
// Targets: Airlock p50 / raw p50 <= 1.15; warm p50 <= 50 ms.
//
// For Airlock the report also breaks the time down by the timestamps the
// server (created_at, started_at, ready_at) and dockerd (the container's
// Created and StartedAt) recorded, all on this host's clock, counts the
// agent's failed registration attempts from its log, and gives the CPU time
// `airlock up` and this client spent per launch (the polling is not free).
// With -poll-alt 50ms a third path, the same launch polled at that
// interval, is interleaved as well, to show what the polling costs; it is
// reported apart and is not in the verdict.
//
// Every `airlock up` removes session containers on its daemon that its own
// store does not know, so another deployment running on the same daemon
// (a test, say) may remove a session's container while it starts. Such a
// launch is detected (the container vanished) and made again, at most
// three times a run, and the report says so.
//
// Run it with `go run ./bench/launch`. It prints a table and one line
// starting with "BENCH" for scripts. A missed target is reported, not an
// error: the exit status is non-zero only when the run itself fails.
// Everything it creates (the subprocess, its session containers, the
// baseline containers, temporary files) is removed at exit, also on
// failure or interrupt.
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

	"github.com/airlock-rbi/airlock/bench/internal/airlockup"
	"github.com/airlock-rbi/airlock/images"
	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// targetRatioP50 is the target of Airlock p50 / raw p50.
const targetRatioP50 = 1.15

// targetWarmP50 is the target of a launch from a warm pool, p50, in ms.
const targetWarmP50 = 50.0

type options struct {
	n, warmup int
	poll      time.Duration
	// pollAlt, if set, adds a third path: Airlock polled at this interval,
	// to show what the polling itself costs.
	pollAlt time.Duration
	// verbose prints every measured iteration to stderr.
	verbose bool
	// keepLog prints the path of the subprocess's log and keeps it.
	keepLog bool
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 20, "measured launches per path")
	flag.IntVar(&o.warmup, "warmup", 1, "unmeasured launches per path before measuring")
	flag.DurationVar(&o.poll, "poll", 0, "interval between GETs of a starting session (0: long-poll with ?wait=, as the CLI does)")
	flag.DurationVar(&o.pollAlt, "poll-alt", 0, "also launch Airlock sessions polled at this interval, as a third interleaved path (diagnostic; not in the verdict)")
	flag.BoolVar(&o.verbose, "v", false, "print every iteration's times to stderr")
	flag.BoolVar(&o.keepLog, "keep-log", false, "keep the log of `airlock up` and print its path")
	flag.Parse()
	if o.n < 1 || o.warmup < 0 || o.poll < 0 || o.pollAlt < 0 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "bench/launch: -n must be at least 1, -warmup at least 0, -poll not negative; no arguments")
		os.Exit(2)
	}

	benchmain.Run("launch", func(ctx context.Context, out io.Writer) error { return run(ctx, o, out) })
}

func run(ctx context.Context, o options, out io.Writer) (err error) {
	socket, err := dockertest.Connect(ctx)
	if err != nil {
		return err
	}
	defer socket.Close()
	ver, err := socket.ServerVersion(ctx)
	if err != nil {
		return fmt.Errorf("docker version: %w", err)
	}

	dir, cleanup, err := airlockup.WorkDir("launch", o.keepLog)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()
	runID := rand.Text()
	var deployment string
	defer func() {
		if rerr := airlockup.RemoveContainers(socket, runLabel, runID, deployment); rerr != nil {
			err = errors.Join(err, fmt.Errorf("clean up containers: %w", rerr))
		}
	}()

	bin, err := airlockup.Build(ctx, dir)
	if err != nil {
		return err
	}
	up, err := airlockup.StartAdmin(ctx, bin, dir, "bench-launch")
	if err != nil {
		return err
	}
	deployment = up.Deployment
	// Stop it before its containers are removed (deferred above), so its
	// lifecycle jobs are not racing the cleanup.
	defer func() {
		if serr := up.Stop(); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	api := up.API
	img, err := socket.ImageInspect(ctx, images.Minimal)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", images.Minimal, err)
	}

	l := &launcher{api: api, socket: socket, runID: runID, upPID: up.PID()}
	if err := l.setUpWarm(ctx); err != nil {
		return err
	}
	// Before airlock up stops (deferred above, so run after this).
	defer func() {
		if perr := l.emptyPool(context.WithoutCancel(ctx)); perr != nil {
			err = errors.Join(err, fmt.Errorf("empty the warm pool: %w", perr))
		}
	}()
	var trace io.Writer
	if o.verbose {
		trace = os.Stderr
	}
	res, err := bench(ctx, l, o, trace)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("%w\nlog of airlock up (end):\n%s", err, up.Tail())
	}

	fmt.Fprintf(out, "Launch to ready: Airlock session vs raw docker create+start of %s (%.19s)\n", images.Minimal, img.ID)
	fmt.Fprintf(out, "dockerd %s (API %s), %s %s/%s, %d CPUs\n\n",
		ver.Version, ver.APIVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	line := report(out, res, o)
	fmt.Fprintln(out)
	fmt.Fprintln(out, line)
	return nil
}

// result holds every measured launch of each path.
type result struct {
	airlock []airlockTimes
	raw     []rawTimes
	// alt holds the Airlock launches polled every -poll-alt, if asked.
	alt []airlockTimes
	// warm holds the launches handed a warm session of a pool.
	warm []time.Duration
	// lost counts Airlock launches whose container was removed by someone
	// else and that were launched again.
	lost int
}

// maxLost is how many lost launches a run tolerates.
const maxLost = 3

// bench runs warmup+n iterations, each one launch of every path, the order
// rotating by iteration. After the first Airlock launch it checks that
// both paths ask dockerd for the same container.
func bench(ctx context.Context, l *launcher, o options, trace io.Writer) (result, error) {
	res := result{airlock: make([]airlockTimes, 0, o.n), raw: make([]rawTimes, 0, o.n)}
	type path struct {
		name string
		raw  bool
		poll time.Duration // 0: long poll
		out  *[]airlockTimes
	}
	paths := []path{{"airlock", false, o.poll, &res.airlock}, {"raw", true, 0, nil}, {name: "airlock-warm"}}
	if o.pollAlt > 0 {
		paths = append(paths, path{"airlock@" + o.pollAlt.String(), false, o.pollAlt, &res.alt})
	}
	checked := false
	for i := range o.warmup + o.n {
		warm := i < o.warmup
		for k := range paths {
			p := paths[(i+k)%len(paths)]
			if p.name == "airlock-warm" {
				d, err := l.launchWarm(ctx)
				if err != nil {
					return res, fmt.Errorf("iteration %d: %s: %w", i, p.name, err)
				}
				if trace != nil {
					fmt.Fprintf(trace, "iter %3d %-14s warmup=%-5t total=%8.3f ms\n", i, p.name, warm, ms(d))
				}
				if !warm {
					res.warm = append(res.warm, d)
				}
				continue
			}
			if p.raw {
				t, err := l.launchRaw(ctx)
				if err != nil {
					return res, fmt.Errorf("iteration %d: %w", i, err)
				}
				if trace != nil {
					fmt.Fprintf(trace, "iter %3d %-14s warmup=%-5t total=%8.3f create=%7.3f start=%7.3f ms\n",
						i, p.name, warm, ms(t.total), ms(t.create), ms(t.start))
				}
				if !warm {
					res.raw = append(res.raw, t)
				}
				continue
			}
			t, info, err := l.launchAirlock(ctx, p.poll)
			for errors.Is(err, errLost) && res.lost < maxLost {
				res.lost++
				fmt.Fprintf(os.Stderr, "bench/launch: iteration %d: %v; launching again\n", i, err)
				t, info, err = l.launchAirlock(ctx, p.poll)
			}
			if err != nil {
				return res, fmt.Errorf("iteration %d: %s: %w", i, p.name, err)
			}
			if !checked {
				if err := l.checkSameHostConfig(ctx, info); err != nil {
					return res, err
				}
				checked = true
			}
			if trace != nil {
				fmt.Fprintf(trace, "iter %3d %-14s warmup=%-5t total=%8.3f polls=%3d post→created=%7.3f created→dCreated=%7.3f dCreated→dStarted=%7.3f dStarted→started=%7.3f dStarted→ready=%7.3f ready→seen=%7.3f retries=%d cpu server=%6.2f client=%6.2f ms\n",
					i, p.name, warm, ms(t.total), t.polls, ms(t.created.Sub(t.t0)), ms(t.dCreated.Sub(t.created)), ms(t.dStarted.Sub(t.dCreated)),
					ms(t.started.Sub(t.dStarted)), ms(t.ready.Sub(t.dStarted)), ms(t.seen.Sub(t.ready)), t.regAttempts, ms(t.serverCPU), ms(t.clientCPU))
			}
			if !warm {
				*p.out = append(*p.out, t)
			}
		}
	}
	return res, nil
}
