package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/proc"
	"github.com/airlock-rbi/airlock/bench/internal/stats"
)

// Density targets (issue 12): an idle Chromium session, a page loaded and
// no viewer, in all.
const (
	targetIdlePSSMiB        = 300.0
	targetIdleSessionCPUPct = 0.5 // of one core
	// densitySettle is how long idle sessions rest before they are
	// measured: Chromium's start-up work (its component updates, the
	// page's first paints, the agent's first heartbeats) is done by then.
	densitySettle = 30 * time.Second
	// hostReserve is the memory the density estimate leaves to the host
	// itself (the server, dockerd, the kernel's own needs) out of what
	// the machine had available before the first idle session.
	hostReserve = 1 << 30
)

// idleSession is one idle session's measure.
type idleSession struct {
	mem memUse
	// cpu is its container's CPU over the window, % of one core (the
	// cgroup's own total, so processes that came and went count too).
	cpu float64
}

// densityStep is one count of idle sessions: each one's memory and CPU
// over a window, and click to photon of one viewed session beside them.
type densityStep struct {
	idle     int
	sessions []idleSession
	// busy is the machine's non-idle CPU over the idle window, in cores.
	busy float64
	// available is MemAvailable once the step's idle sessions have
	// settled.
	available int64
	clicks    []clickSample
}

// densityResult is phase 11's.
type densityResult struct {
	steps []densityStep
	// total and available0 are the machine's memory and MemAvailable
	// before the first idle session.
	total, available0 int64
	// launches is each idle session's launch to ready.
	launches []time.Duration
}

// runDensity launches idle sessions of the idle page (no viewer) up to
// each count of o.densityIdle in turn; at each, once they have rested
// densitySettle, measures every idle session's memory and CPU over
// o.window, then click to photon of a viewed session of the click page
// (-clicks after -click-warmup, as in phase 2) while they sit. The idle
// sessions are ended at the end.
func (b *bench) runDensity(ctx context.Context) (r densityResult, err error) {
	var idle []*liveSession
	defer func() {
		for _, s := range idle {
			if derr := b.api.DeleteSession(s.id); derr != nil {
				err = errors.Join(err, fmt.Errorf("end idle session %s: %w", s.id, derr))
			}
		}
	}()
	if r.total, r.available0, err = proc.MemInfo(); err != nil {
		return r, err
	}
	for _, n := range b.o.densityIdle {
		for len(idle) < n {
			since := time.Now()
			s, err := startSession(ctx, b.api, b.socket, "bench-idle")
			if err != nil {
				return r, fmt.Errorf("idle session %d: %w", len(idle)+1, err)
			}
			idle = append(idle, s)
			if err := b.site.waitLoaded(ctx, "idle", since); err != nil {
				return r, fmt.Errorf("idle session %d: %w", len(idle), err)
			}
			r.launches = append(r.launches, s.launch)
			if b.trace != nil {
				fmt.Fprintf(b.trace, "density: idle session %d ready in %v\n", len(idle), s.launch.Round(time.Millisecond))
			}
		}
		step, err := b.densityStep(ctx, idle)
		if err != nil {
			return r, fmt.Errorf("%d idle sessions: %w", n, err)
		}
		r.steps = append(r.steps, step)
	}
	return r, nil
}

func (b *bench) densityStep(ctx context.Context, idle []*liveSession) (st densityStep, err error) {
	st.idle = len(idle)
	if len(idle) > 0 {
		if err := sleep(ctx, densitySettle); err != nil {
			return st, err
		}
		if st.sessions, st.busy, err = measureIdle(ctx, idle, b.o.window); err != nil {
			return st, err
		}
		for _, s := range idle {
			if err := s.alive(ctx); err != nil {
				return st, err
			}
		}
	}
	if _, st.available, err = proc.MemInfo(); err != nil {
		return st, err
	}
	err = b.withSession(ctx, b.site, "bench-click", "click", func(sess *liveSession) error {
		b.site.forget()
		if err := sleep(ctx, 2*time.Second); err != nil {
			return err
		}
		var err error
		if st.clicks, _, err = measureClicks(ctx, b.viewer, b.site, b.o.clickWarmup, b.o.clicks, 0, b.trace); err != nil {
			return fmt.Errorf("click to photon: %w", err)
		}
		return nil
	})
	return st, err
}

// measureIdle measures every idle session's CPU over one window of length
// d, all at once, then each one's memory.
func measureIdle(ctx context.Context, idle []*liveSession, d time.Duration) ([]idleSession, float64, error) {
	busy0, err := proc.Busy()
	if err != nil {
		return nil, 0, err
	}
	start := make([]cpuSnap, len(idle))
	for i, s := range idle {
		if start[i], err = snapCgroup(s.pid); err != nil {
			return nil, 0, fmt.Errorf("idle session %s: %w", s.id, err)
		}
	}
	if err := sleep(ctx, d); err != nil {
		return nil, 0, err
	}
	out := make([]idleSession, len(idle))
	var wall time.Duration
	for i, s := range idle {
		end, err := snapCgroup(s.pid)
		if err != nil {
			return nil, 0, fmt.Errorf("idle session %s: %w", s.id, err)
		}
		u := use(start[i], end)
		wall = max(wall, u.wall)
		out[i].cpu = u.pct[groupAll]
	}
	busy1, err := proc.Busy()
	if err != nil {
		return nil, 0, err
	}
	for i, s := range idle {
		if out[i].mem, err = measureMemory(s.pid); err != nil {
			return nil, 0, fmt.Errorf("idle session %s: %w", s.id, err)
		}
	}
	return out, float64(busy1-busy0) / float64(wall), nil
}

// total is every group's together.
func (m memUse) total(pss bool) int64 {
	src := m.rss
	if pss {
		src = m.pss
	}
	var t int64
	for _, v := range src {
		t += v
	}
	return t
}

// sessionsHeld estimates how many idle sessions the machine holds: by
// memory, what it had available before the first idle session, less
// hostReserve, over what each took from MemAvailable; by CPU, its cores
// over each one's idle CPU. It takes the largest step's figures.
func (r densityResult) sessionsHeld(cores int) (byMem, byCPU int, perSession int64, perCPU float64, ok bool) {
	var last *densityStep
	for i := range r.steps {
		if r.steps[i].idle > 0 {
			last = &r.steps[i]
		}
	}
	if last == nil {
		return 0, 0, 0, 0, false
	}
	perSession = (r.available0 - last.available) / int64(last.idle)
	cpus := make([]float64, 0, len(last.sessions))
	for _, s := range last.sessions {
		cpus = append(cpus, s.cpu)
	}
	slices.Sort(cpus)
	perCPU = cpus[len(cpus)/2]
	if perSession > 0 {
		byMem = int((r.available0 - hostReserve) / perSession)
	}
	if perCPU > 0 {
		byCPU = int(float64(cores) * 100 / perCPU)
	}
	return byMem, byCPU, perSession, perCPU, true
}

// reportDensity prints phase 11's table and returns its BENCH line.
func reportDensity(out io.Writer, r densityResult, cores int) string {
	fmt.Fprintf(out, "\nDensity: idle sessions of the idle page (an article, no viewer), after %v of rest; CPU over one window\n", densitySettle)
	fmt.Fprintf(out, "  %-5s %12s %12s %14s %12s %12s %12s %14s\n", "idle", "PSS p50 MiB", "PSS max MiB", "agent+disp PSS", "Chromium PSS", "CPU p50 %", "CPU max %", "click p50/p95")
	var pss50, cpu50 float64
	for _, st := range r.steps {
		k50, k95 := pct(st.clicks, 50, func(c clickSample) float64 { return c.photon }), pct(st.clicks, 95, func(c clickSample) float64 { return c.photon })
		if st.idle == 0 {
			fmt.Fprintf(out, "  %-5d %12s %12s %14s %12s %12s %12s %7.1f/%.1f ms\n", 0, "-", "-", "-", "-", "-", "-", k50, k95)
			continue
		}
		sess := st.sessions
		p := func(f func(idleSession) float64, q float64) float64 {
			xs := make([]float64, 0, len(sess))
			for _, s := range sess {
				xs = append(xs, f(s))
			}
			slices.Sort(xs)
			if q >= 1 {
				return xs[len(xs)-1]
			}
			return xs[int(q*float64(len(xs)-1)+0.5)]
		}
		total := func(s idleSession) float64 { return mib(s.mem.total(true)) }
		pss50, cpu50 = p(total, 0.5), p(func(s idleSession) float64 { return s.cpu }, 0.5)
		fmt.Fprintf(out, "  %-5d %12.1f %12.1f %14.1f %12.1f %12.2f %12.2f %7.1f/%.1f ms   machine %.2f cores busy\n", st.idle,
			pss50, p(total, 1), p(func(s idleSession) float64 { return mib(s.mem.agentDisplay(true)) }, 0.5),
			p(func(s idleSession) float64 { return mib(s.mem.pss[groupChromium]) }, 0.5),
			cpu50, p(func(s idleSession) float64 { return s.cpu }, 1), k50, k95, st.busy)
	}
	if last := r.steps[len(r.steps)-1]; last.idle > 0 {
		fmt.Fprintf(out, "  by group at %d idle, PSS p50 MiB (processes):", last.idle)
		for _, g := range []string{groupAgent, groupEncoder, groupAudio, groupSound, groupDisplay, groupChromium, groupOther} {
			xs := make([]float64, 0, len(last.sessions))
			procs := 0
			for _, s := range last.sessions {
				xs = append(xs, mib(s.mem.pss[g]))
				procs = max(procs, s.mem.procs[g])
			}
			slices.Sort(xs)
			fmt.Fprintf(out, " %s %.1f (%d)", g, xs[len(xs)/2], procs)
		}
		fmt.Fprintln(out)
	}
	if len(r.launches) > 0 {
		fmt.Fprintf(out, "  idle sessions' launch to ready: p50 %.0f ms, max %.0f ms (n=%d, one at a time)\n",
			stats.MS(stats.Percentile(r.launches, 50)), stats.MS(slices.Max(r.launches)), len(r.launches))
	}
	byMem, byCPU, per, _, ok := r.sessionsHeld(cores)
	memOK, cpuOK := pss50 > 0 && pss50 <= targetIdlePSSMiB, ok && cpu50 <= targetIdleSessionCPUPct
	fmt.Fprintf(out, "  idle session PSS p50 target <= %.0f MiB: %s; CPU p50 target <= %.1f %% of a core: %s\n", targetIdlePSSMiB, verdict(memOK), targetIdleSessionCPUPct, verdict(cpuOK))
	if ok {
		fmt.Fprintf(out, "  MemAvailable fell %.1f MiB a session (of %.1f GiB total, %.1f GiB available before); this host holds about %d idle sessions by memory (keeping %d MiB for itself) and %d by CPU (%d cores): %d\n",
			mib(per), float64(r.total)/(1<<30), float64(r.available0)/(1<<30), byMem, hostReserve>>20, byCPU, cores, min(byMem, byCPU))
	}
	line := fmt.Sprintf("BENCH stream.density idle_pss_p50_mib=%.1f idle_cpu_p50_pct=%.2f avail_mib_per_session=%.1f held_by_mem=%d held_by_cpu=%d", pss50, cpu50, mib(per), byMem, byCPU)
	for _, st := range r.steps {
		line += fmt.Sprintf(" click_p50_ms_idle%d=%.1f", st.idle, pct(st.clicks, 50, func(c clickSample) float64 { return c.photon }))
	}
	return line + fmt.Sprintf(" target_pss_mib=%.0f target_cpu_pct=%.1f result=%s", targetIdlePSSMiB, targetIdleSessionCPUPct, verdict(memOK && cpuOK))
}
