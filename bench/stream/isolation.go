package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/airlockup"
	"github.com/airlock-rbi/airlock/bench/internal/stats"
)

// The isolation levels the comparison measures, in this order.
const (
	levelStandard  = "standard"
	levelHardened  = "hardened"
	levelSandboxed = "sandboxed"
)

// isoArm is what one isolation level's sessions measured.
type isoArm struct {
	level    string
	launches []time.Duration
	clicks   []clickSample
	windows  []streamWindow
}

// fps is the viewer's frame rate under animation, the mean of the
// windows'; remoteFPS the remote page's own.
func (a *isoArm) fps() (viewer, remote float64) {
	for _, w := range a.windows {
		viewer += w.video.fps
		remote += w.rafFPS
	}
	if n := float64(len(a.windows)); n > 0 {
		viewer, remote = viewer/n, remote/n
	}
	return viewer, remote
}

// isoResult is the isolation comparison's: one arm a level, or why it
// did not run.
type isoResult struct {
	// skipped says why the comparison did not run ("" when it did).
	skipped string
	// noSandbox says why sandboxed was not measured ("" when it was).
	noSandbox string
	base      string // the routed site's base URL
	rounds    int
	arms      []*isoArm
}

// runIsolation compares the levels on the same pages, served on an
// address routed into a namespace of the run's own: -isolation-rounds
// rounds, each a click session and an animation session of every level,
// the levels' order rotated each round so that none always goes first.
func (b *bench) runIsolation(ctx context.Context) (r isoResult, err error) {
	r.rounds = b.o.isoRounds
	levels, err := b.offered(ctx)
	if err != nil {
		return r, err
	}
	if !slices.Contains(levels, levelHardened) {
		r.skipped = fmt.Sprintf("no node of this deployment offers hardened (offered: %s); a node offers it once its egress proxy listens", strings.Join(levels, ", "))
		return r, nil
	}
	want := []string{levelStandard, levelHardened}
	info, err := b.socket.Info(ctx)
	if err != nil {
		return r, fmt.Errorf("docker info: %w", err)
	}
	switch _, runsc := info.Runtimes["runsc"]; {
	case !runsc:
		r.noSandbox = "the Docker daemon has no runsc runtime (docker info: Runtimes)"
	case !slices.Contains(levels, levelSandboxed):
		r.noSandbox = fmt.Sprintf("dockerd has runsc, but no node of this deployment offers sandboxed (offered: %s; its log says why)", strings.Join(levels, ", "))
	default:
		want = append(want, levelSandboxed)
	}

	rs, s := b.routed, b.site
	r.base = s.base
	for _, level := range want {
		for _, page := range []string{"click", "anim"} {
			ws := workspaceSpec(isoWorkspace(level, page), s.base+page)
			ws["isolation"] = level
			if level != levelStandard {
				// The policy refuses 203.0.113.0/24 (TEST-NET-3, special
				// purpose) unless the workspace allows it.
				ws["egress"] = map[string]any{"rules": []map[string]any{{"action": "allow", "cidr": rs.Addr.String() + "/32"}}}
			}
			if err := createWorkspaceSpec(ctx, b.api, ws); err != nil {
				var ae *airlockup.APIError
				if level != levelStandard && errors.As(err, &ae) && strings.Contains(err.Error(), `"egress"`) {
					r.skipped = fmt.Sprintf("this airlock's API takes no egress policy on a workspace (%v), so a hardened session cannot be allowed to reach %s", err, rs.Addr)
					return r, nil
				}
				return r, err
			}
		}
		r.arms = append(r.arms, &isoArm{level: level})
	}
	for round := range b.o.isoRounds {
		for i := range r.arms {
			a := r.arms[(i+round)%len(r.arms)]
			if err := rs.Check(ctx); err != nil {
				return r, err
			}
			if err := b.isoClicks(ctx, s, a); err != nil {
				return r, fmt.Errorf("isolation %s, round %d: %w", a.level, round+1, err)
			}
			if err := b.isoAnim(ctx, s, a); err != nil {
				return r, fmt.Errorf("isolation %s, round %d: %w", a.level, round+1, err)
			}
		}
	}
	return r, nil
}

func isoWorkspace(level, page string) string { return "bench-iso-" + level + "-" + page }

// isoClicks runs one click session of a's level.
// Its figures are kept only once the session ended well: a phase run
// again (errLost) must not count twice.
func (b *bench) isoClicks(ctx context.Context, s *site, a *isoArm) error {
	var launch time.Duration
	var cs []clickSample
	err := b.withSession(ctx, s, isoWorkspace(a.level, "click"), "click", func(sess *liveSession) (err error) {
		// The new page counts its mousedowns from 1 again.
		s.forget()
		if err := sleep(ctx, 2*time.Second); err != nil {
			return err
		}
		if cs, _, err = measureClicks(ctx, b.viewer, s, b.o.clickWarmup, b.o.isoClicks, 0, b.trace); err != nil {
			return fmt.Errorf("click to photon: %w", err)
		}
		launch = sess.launch
		return nil
	})
	if err == nil {
		a.launches = append(a.launches, launch)
		a.clicks = append(a.clicks, cs...)
	}
	return err
}

// isoAnim runs one animation session of a's level.
func (b *bench) isoAnim(ctx context.Context, s *site, a *isoArm) error {
	var launch time.Duration
	var w streamWindow
	err := b.withSession(ctx, s, isoWorkspace(a.level, "anim"), "anim", func(sess *liveSession) (err error) {
		if err := sleep(ctx, 3*time.Second); err != nil {
			return err
		}
		if w, err = measureWindow(ctx, b.viewer, s, sess, b.o.isoWindow); err != nil {
			return fmt.Errorf("animation: %w", err)
		}
		launch = sess.launch
		return nil
	})
	if err == nil {
		a.launches = append(a.launches, launch)
		a.windows = append(a.windows, w)
	}
	return err
}

// offered is every isolation level some node of the deployment offers.
func (b *bench) offered(ctx context.Context) ([]string, error) {
	var nodes []struct {
		Name      string   `json:"name"`
		State     string   `json:"state"`
		Isolation []string `json:"isolation"`
	}
	if err := b.api.Do(ctx, http.MethodGet, "/api/v1/nodes", nil, &nodes); err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var out []string
	for _, n := range nodes {
		for _, l := range n.Isolation {
			if !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
	}
	return out, nil
}

// Targets of the comparison: the egress proxy is not on the stream's path
// (the viewer reaches the agent as it does any level's), so a hardened
// session should stream as a standard one does.
const (
	targetHardenedClickRatio = 1.10
	targetHardenedFPSRatio   = 0.9
)

// isoFigures are an arm's figures, in milliseconds and frames a second.
type isoFigures struct {
	launch50, click50, click95, fps, remoteFPS float64
	launches, clicks, windows                  int
}

func (a *isoArm) figures() isoFigures {
	f := isoFigures{launch50: stats.MS(stats.Percentile(a.launches, 50)),
		click50:  pct(a.clicks, 50, func(c clickSample) float64 { return c.photon }),
		click95:  pct(a.clicks, 95, func(c clickSample) float64 { return c.photon }),
		launches: len(a.launches), clicks: len(a.clicks), windows: len(a.windows)}
	f.fps, f.remoteFPS = a.fps()
	return f
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// reportIsolation prints the comparison's table and returns its BENCH
// line.
func reportIsolation(out io.Writer, o options, r isoResult) string {
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Isolation levels: the same pages, the same viewer; only the session's isolation level differs")
	if r.skipped != "" {
		fmt.Fprintf(out, "  not measured: %s\n\n", r.skipped)
		return fmt.Sprintf("BENCH stream-isolation result=SKIP reason=%q", r.skipped)
	}
	fmt.Fprintf(out, "  pages on %s: an address of a network namespace of this run's, routed from this host over a veth pair; standard sessions reach it\n", r.base)
	fmt.Fprintln(out, "  over the host's route, hardened and sandboxed ones only through the node's egress proxy, their workspace's policy allowing that /32")
	fmt.Fprintf(out, "  %d round(s), each a click session (%d clicks after %d warm-up) and an animation session (%v window) of every level, the order rotated each round\n",
		r.rounds, o.isoClicks, o.clickWarmup, o.isoWindow)
	fmt.Fprintf(out, "  %-10s %9s %12s %7s %10s %10s %8s %11s\n", "level", "launches", "launch p50", "clicks", "click p50", "click p95", "fps", "remote fps")
	figs := map[string]isoFigures{}
	for _, a := range r.arms {
		f := a.figures()
		figs[a.level] = f
		fmt.Fprintf(out, "  %-10s %9d %9.0f ms %7d %7.1f ms %7.1f ms %8.1f %11.1f\n", a.level, f.launches, f.launch50, f.clicks, f.click50, f.click95, f.fps, f.remoteFPS)
	}
	std, hard := figs[levelStandard], figs[levelHardened]
	clickRatio, fpsRatio := ratio(hard.click50, std.click50), ratio(hard.fps, std.fps)
	clickOK, fpsOK := clickRatio > 0 && clickRatio <= targetHardenedClickRatio, fpsRatio >= targetHardenedFPSRatio
	fmt.Fprintf(out, "  hardened / standard: click p50 %.2f (target <= %.2f: %s), click p95 %.2f, fps %.2f (target >= %.2f: %s), launch to ready p50 %.2f\n",
		clickRatio, targetHardenedClickRatio, verdict(clickOK), ratio(hard.click95, std.click95), fpsRatio, targetHardenedFPSRatio, verdict(fpsOK),
		ratio(hard.launch50, std.launch50))
	line := fmt.Sprintf("BENCH stream-isolation rounds=%d", r.rounds)
	for _, a := range r.arms {
		f := figs[a.level]
		line += fmt.Sprintf(" %[1]s_launch_p50_ms=%.0[2]f %[1]s_click_p50_ms=%.1[3]f %[1]s_click_p95_ms=%.1[4]f %[1]s_fps=%.1[5]f", a.level, f.launch50, f.click50, f.click95, f.fps)
	}
	line += fmt.Sprintf(" hardened_click_p50_ratio=%.2f hardened_fps_ratio=%.2f hardened_launch_ratio=%.2f", clickRatio, fpsRatio, ratio(hard.launch50, std.launch50))
	if sb, ok := figs[levelSandboxed]; ok {
		// hardened is the runc twin of sandboxed: the same network and
		// egress path, the runtime the only difference.
		fmt.Fprintf(out, "  sandboxed (runsc) / hardened (runc, the same network and egress path): launch to ready p50 %.2f, click p50 %.2f, fps %.2f\n",
			ratio(sb.launch50, hard.launch50), ratio(sb.click50, hard.click50), ratio(sb.fps, hard.fps))
		fmt.Fprintf(out, "  sandboxed / standard: launch to ready p50 %.2f, click p50 %.2f, fps %.2f\n",
			ratio(sb.launch50, std.launch50), ratio(sb.click50, std.click50), ratio(sb.fps, std.fps))
		line += fmt.Sprintf(" sandboxed_launch_ratio=%.2f sandboxed_click_p50_ratio=%.2f sandboxed_fps_ratio=%.2f",
			ratio(sb.launch50, hard.launch50), ratio(sb.click50, hard.click50), ratio(sb.fps, hard.fps))
	} else {
		fmt.Fprintf(out, "  sandboxed: not measured: %s\n", r.noSandbox)
		line += " sandboxed=skipped"
	}
	fmt.Fprintln(out)
	return line + fmt.Sprintf(" targets=hardened_click:%s,hardened_fps:%s result=%s", verdict(clickOK), verdict(fpsOK), verdict(clickOK && fpsOK))
}
