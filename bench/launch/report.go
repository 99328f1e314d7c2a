package main

import (
	"fmt"
	"io"
	"runtime"
	"time"
)

// report prints the tables and returns the BENCH line.
func report(out io.Writer, r result, o options) string {
	var aTotal, rTotal, rCreate, rStart []time.Duration
	for _, t := range r.airlock {
		aTotal = append(aTotal, t.total)
	}
	for _, t := range r.raw {
		rTotal = append(rTotal, t.total)
		rCreate = append(rCreate, t.create)
		rStart = append(rStart, t.start)
	}
	a50, a95 := ms(percentile(aTotal, 50)), ms(percentile(aTotal, 95))
	r50, r95 := ms(percentile(rTotal, 50)), ms(percentile(rTotal, 95))
	ratio := a50 / r50
	result := verdict(ratio <= targetRatioP50)

	fmt.Fprintf(out, "Launch to ready (n=%d per path after %d warm-up, interleaved; Airlock waited by %s)\n", o.n, o.warmup, waitMode(o.poll))
	fmt.Fprintf(out, "  %-8s %10s %10s\n", "", "p50 ms", "p95 ms")
	fmt.Fprintf(out, "  %-8s %10.3f %10.3f   POST /sessions until a GET answers ready (the agent registered)\n", "airlock", a50, a95)
	fmt.Fprintf(out, "  %-8s %10.3f %10.3f   create + start on the socket; dockerd answers start once the process is started\n", "raw", r50, r95)
	fmt.Fprintf(out, "  %-8s %10.3f %10.3f   (raw phases p50: create %.3f, start %.3f)\n", "added", a50-r50, a95-r95,
		ms(percentile(rCreate, 50)), ms(percentile(rStart, 50)))
	fmt.Fprintf(out, "  %-8s %10.3f %10s   (median of per-iteration airlock minus raw)\n", "paired",
		ms(paired(r, func(t airlockTimes) time.Duration { return t.total })), "-")
	fmt.Fprintf(out, "  ratio airlock p50 / raw p50 = %.3f; target <= %g: %s\n\n", ratio, targetRatioP50, result)

	w50, w95 := ms(percentile(r.warm, 50)), ms(percentile(r.warm, 95))
	warmResult := verdict(w50 <= targetWarmP50)
	fmt.Fprintf(out, "Launch to ready from a warm pool (workspace %s, a pool of %d, n=%d, interleaved with the above)\n", warmWorkspace, warmPoolSize, len(r.warm))
	fmt.Fprintf(out, "  %-8s %10.3f %10.3f   POST /sessions, answered ready: a warm session handed out\n", "warm", w50, w95)
	fmt.Fprintf(out, "  %-8s %10.3f %10.3f   (the airlock row above)\n", "cold", a50, a95)
	fmt.Fprintf(out, "  ratio warm p50 / cold p50 = %.3f; warm p50 target <= %g ms: %s\n\n", w50/a50, targetWarmP50, warmResult)

	reportBreakdown(out, r)
	if len(r.alt) > 0 {
		fmt.Fprintln(out)
		reportPolling(out, r, o)
	}
	overall := result
	if warmResult != "PASS" {
		overall = warmResult
	}
	return fmt.Sprintf("BENCH launch.ready n=%d airlock_p50_ms=%.3f airlock_p95_ms=%.3f raw_p50_ms=%.3f raw_p95_ms=%.3f ratio_p50=%.3f target_ratio_p50=%g warm_p50_ms=%.3f warm_p95_ms=%.3f target_warm_p50_ms=%g targets=ratio:%s,warm:%s result=%s",
		o.n, a50, a95, r50, r95, ratio, targetRatioP50, w50, w95, targetWarmP50, result, warmResult, overall)
}

// paired is the median over iterations of f of the Airlock launch minus
// the raw launch's total in the same iteration: less sensitive to drift of
// the machine than a difference of medians.
func paired(r result, f func(t airlockTimes) time.Duration) time.Duration {
	return pairedOf(r.airlock, r.raw, f)
}

func pairedOf(as []airlockTimes, raw []rawTimes, f func(t airlockTimes) time.Duration) time.Duration {
	var ds []time.Duration
	for i := range min(len(as), len(raw)) {
		ds = append(ds, f(as[i])-raw[i].total)
	}
	return percentile(ds, 50)
}

// phaseOf is the given percentile of f over ts.
func phaseOf(ts []airlockTimes, p float64, f func(t airlockTimes) time.Duration) float64 {
	var ds []time.Duration
	for _, t := range ts {
		ds = append(ds, f(t))
	}
	return ms(percentile(ds, p))
}

// Phases of an Airlock launch.
var (
	postToDStarted = func(t airlockTimes) time.Duration { return t.dStarted.Sub(t.t0) }
	postToReady    = func(t airlockTimes) time.Duration { return t.ready.Sub(t.t0) }
	dStartedReady  = func(t airlockTimes) time.Duration { return t.ready.Sub(t.dStarted) }
	totalOf        = func(t airlockTimes) time.Duration { return t.total }
)

// reportBreakdown prints where an Airlock launch spends its time, phase by
// phase from the server's and dockerd's timestamps. Each phase's p50 and
// p95 are its own, so they need not add up to the total's.
func reportBreakdown(out io.Writer, r result) {
	type row struct {
		name, what string
		f          func(t airlockTimes) time.Duration
	}
	rows := []row{
		{"POST sent → created_at", "request in, token check, limits, node pick (server)",
			func(t airlockTimes) time.Duration { return t.created.Sub(t.t0) }},
		{"created_at → dockerd Created", "session insert, audit, launcher → node (mTLS, policy) → dockerd create",
			func(t airlockTimes) time.Duration { return t.dCreated.Sub(t.created) }},
		{"dockerd Created → StartedAt", "create answer back, start request through the node, dockerd start",
			func(t airlockTimes) time.Duration { return t.dStarted.Sub(t.dCreated) }},
		{"dockerd StartedAt → started_at", "start answer back through node and launcher, then recorded",
			func(t airlockTimes) time.Duration { return t.started.Sub(t.dStarted) }},
		{"dockerd StartedAt → ready_at", "agent: exec, Go init, register (TCP, TLS), handler entered",
			dStartedReady},
		{"ready_at → agent logged registered", "ClaimRegistration, audit, answer back to the agent",
			func(t airlockTimes) time.Duration {
				if t.registered.IsZero() {
					return 0
				}
				return t.registered.Sub(t.ready)
			}},
		{"ready_at → GET saw ready", "polling granularity and one GET",
			func(t airlockTimes) time.Duration { return t.seen.Sub(t.ready) }},
		{"POST sent → ready_at", "the launch without the client's polling", postToReady},
		{"POST sent → dockerd StartedAt", "compare with raw create+start", postToDStarted},
	}
	fmt.Fprintln(out, "Airlock launch by server (created_at, started_at, ready_at) and dockerd (Created, StartedAt) timestamps, same clock")
	fmt.Fprintf(out, "  %-34s %9s %9s %9s\n", "phase", "p50 ms", "p95 ms", "max ms")
	for _, x := range rows {
		fmt.Fprintf(out, "  %-34s %9.3f %9.3f %9.3f   %s\n", x.name,
			phaseOf(r.airlock, 50, x.f), phaseOf(r.airlock, 95, x.f), phaseOf(r.airlock, 100, x.f), x.what)
	}
	fmt.Fprintf(out, "  paired (median of per-iteration minus raw create+start): POST → dockerd StartedAt %+.3f ms, POST → ready_at %+.3f ms\n",
		ms(paired(r, postToDStarted)), ms(paired(r, postToReady)))
	retried, attempts, signalled := 0, 0, 0
	first := ""
	for _, t := range r.airlock {
		if t.regSignalled {
			signalled++
		}
		if t.regAttempts > 0 {
			retried++
			attempts += t.regAttempts
			if first == "" {
				first = t.regErr
			}
		}
	}
	fmt.Fprintf(out, "  agent registration: %d of %d sessions retried (%d failed attempts; the agent waits 100-150 ms after a first failure)\n",
		retried, len(r.airlock), attempts)
	if first != "" {
		fmt.Fprintf(out, "    first failure: %s\n", first)
	}
	if signalled > 0 {
		fmt.Fprintf(out, "  %d agent(s) got SIGTERM while their registration answer was in flight (the container was stopped by someone else)\n", signalled)
	}
	if r.lost > 0 {
		fmt.Fprintf(out, "  %d launch(es) lost: the container was removed by another Airlock deployment on this daemon; launched again\n", r.lost)
	}
	gets, getMS, server, client, wall := cost(r.airlock)
	fmt.Fprintf(out, "  polling: %.1f GETs per launch on average, %.3f ms each\n", gets, getMS)
	fmt.Fprintf(out, "  CPU from POST to ready, per launch on average: airlock up %.1f ms, this client %.1f ms, over %.1f ms of wall time (%d CPUs)\n",
		server, client, wall, runtime.NumCPU())
}

// cost is the average per launch of ts: GETs sent, milliseconds per GET,
// CPU milliseconds of the server and of this client, and wall time.
func cost(ts []airlockTimes) (gets, perGet, server, client, wall float64) {
	var polls int
	var getTime, s, c, w time.Duration
	for _, t := range ts {
		polls += t.polls
		getTime += t.getTime
		s += t.serverCPU
		c += t.clientCPU
		w += t.total
	}
	n := float64(max(len(ts), 1))
	return float64(polls) / n, ms(getTime) / float64(max(polls, 1)), ms(s) / n, ms(c) / n, ms(w) / n
}

// reportPolling compares the Airlock launches polled every -poll with
// those polled every -poll-alt, interleaved in the same run: what the
// client's polling costs the launch.
func reportPolling(out io.Writer, r result, o options) {
	fmt.Fprintf(out, "Polling cost (diagnostic, not in the verdict): the same launch waited by %s and polled every %v, interleaved\n", waitMode(o.poll), o.pollAlt)
	fmt.Fprintf(out, "  %-10s %9s %11s %11s %11s %14s %7s %11s %11s\n", "poll", "total p50", "→StartedAt", "→ready_at", "StartedAt→", "paired →Start", "GETs", "server CPU", "client CPU")
	fmt.Fprintf(out, "  %-10s %9s %11s %11s %11s %14s %7s %11s %11s\n", "", "ms", "p50 ms", "p50 ms", "ready p50", "minus raw ms", "/launch", "ms/launch", "ms/launch")
	for _, x := range []struct {
		poll time.Duration
		ts   []airlockTimes
	}{{o.poll, r.airlock}, {o.pollAlt, r.alt}} {
		gets, _, server, client, _ := cost(x.ts)
		fmt.Fprintf(out, "  %-10v %9.3f %11.3f %11.3f %11.3f %+14.3f %7.1f %11.1f %11.1f\n", x.poll,
			phaseOf(x.ts, 50, totalOf), phaseOf(x.ts, 50, postToDStarted), phaseOf(x.ts, 50, postToReady), phaseOf(x.ts, 50, dStartedReady),
			ms(pairedOf(x.ts, r.raw, postToDStarted)), gets, server, client)
	}
	var ds []time.Duration
	for i := range min(len(r.airlock), len(r.alt)) {
		ds = append(ds, postToDStarted(r.airlock[i])-postToDStarted(r.alt[i]))
	}
	fmt.Fprintf(out, "  POST → dockerd StartedAt, %s minus polled every %v, median per iteration: %+.3f ms\n", waitMode(o.poll), o.pollAlt, ms(percentile(ds, 50)))
}

func waitMode(poll time.Duration) string {
	if poll == 0 {
		return "long poll (?wait=)"
	}
	return "GETs every " + poll.String()
}
