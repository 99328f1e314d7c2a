package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// The launch phase's workspaces: the click page's, one without a pool and
// one with a pool of launchPool.
const (
	launchCold = "bench-launch-cold"
	launchWarm = "bench-launch-warm"
	launchPool = 1
)

// launchSample is one click on Launch in the portal's catalog, to the
// first decoded frame in the viewer it opens.
type launchSample struct {
	warm  bool
	total float64 // ms from the click to the first animation frame that saw a decoded frame
	// signal is ms from the click to the viewer's opening of the signal
	// WebSocket: after its POST …/connect answered, or at once with the
	// token a warm launch's answer carries.
	signal float64
}

// runLaunch clicks Launch n times for each workspace, interleaved, and
// times each to the first decoded frame. Before a warm launch it waits,
// untimed, for the pool to hold a warm session; each session is ended
// (untimed) before the next.
func (b *bench) runLaunch(ctx context.Context, n int) (out []launchSample, err error) {
	for _, w := range []string{launchCold, launchWarm} {
		if err := createWorkspace(ctx, b.api, w, b.site.base+"click"); err != nil {
			return nil, err
		}
	}
	if err := b.api.Do(ctx, http.MethodPut, "/api/v1/pools/"+launchWarm, map[string]any{"size": launchPool}, nil); err != nil {
		return nil, fmt.Errorf("set the pool of %s: %w", launchWarm, err)
	}
	defer func() {
		if perr := b.api.Do(context.WithoutCancel(ctx), http.MethodPut, "/api/v1/pools/"+launchWarm, map[string]any{"size": 0}, nil); perr != nil && err == nil {
			err = fmt.Errorf("empty the pool of %s: %w", launchWarm, perr)
		}
	}()
	for i := range 2 * n {
		warm := i%2 == 1
		ws := launchCold
		if warm {
			ws = launchWarm
			if err := b.waitWarm(ctx, launchWarm); err != nil {
				return nil, err
			}
		}
		// The last launch's session network, or the pool's refill, makes
		// interfaces appear on this host, which aborts the viewer's
		// loads of the catalog (ERR_NETWORK_CHANGED): not a launch's
		// time to measure.
		if err := dockertest.WaitInterfacesQuiet(ctx, 2*time.Second, time.Minute); err != nil {
			return nil, err
		}
		s, id, err := b.launchOnce(ctx, ws)
		if id != "" && b.trace != nil {
			b.traceFirstFrame(ctx, id)
		}
		if id != "" {
			if derr := b.api.DeleteSession(id); derr != nil && err == nil {
				err = derr
			}
		}
		if err != nil {
			return nil, fmt.Errorf("launch %d of %s: %w", i/2, ws, err)
		}
		s.warm = warm
		if b.trace != nil {
			fmt.Fprintf(b.trace, "launch %2d %-18s click→signal %.1f ms, click→first frame %.1f ms\n", i/2, ws, s.signal, s.total)
		}
		out = append(out, s)
	}
	return out, nil
}

// launchOnce opens the catalog in a new document, clicks Launch on ws
// and waits for the viewer's first decoded frame; it returns the sample
// and the session's ID (once the viewer shows one).
func (b *bench) launchOnce(ctx context.Context, ws string) (launchSample, string, error) {
	v := b.viewer
	var s launchSample
	button := `[data-workspace="` + ws + `"] .launch`
	if err := v.Run(ctx, time.Minute, chromedp.Navigate("about:blank"), chromedp.Navigate(v.Server()+"/#/"),
		chromedp.WaitVisible(button, chromedp.ByQuery)); err != nil {
		var shown string
		_ = v.Eval(ctx, `document.body.innerText.slice(0, 400)`, &shown)
		return s, "", fmt.Errorf("the catalog: %w (the page shows %q)", err, shown)
	}
	var ok bool
	if err := v.Eval(ctx, `(() => { __bench.launch = performance.now(); document.querySelector('`+button+`').click(); return true })()`, &ok); err != nil {
		return s, "", fmt.Errorf("click Launch: %w", err)
	}
	werr := v.WaitFrames(ctx)
	var loc string
	_ = v.Run(ctx, 10*time.Second, chromedp.Location(&loc))
	_, id, _ := strings.Cut(loc, "#/session/")
	if werr != nil {
		return s, id, werr
	}
	var h struct {
		Launch, FirstPoll float64
		WSMade            *float64
	}
	if err := v.EvalJSON(ctx, `({launch: __bench.launch, firstPoll: __bench.firstPoll, wsMade: __bench.conn && __bench.conn.wsMade})`, &h); err != nil {
		return s, id, err
	}
	s.total = h.FirstPoll - h.Launch
	if h.WSMade != nil {
		s.signal = *h.WSMade - h.Launch
	}
	if b.trace != nil {
		var c map[string]float64
		if err := v.EvalJSON(ctx, `__bench.conn`, &c); err == nil {
			var origin float64
			_ = v.Eval(ctx, `performance.timeOrigin`, &origin)
			click := time.UnixMicro(int64((origin + h.Launch) * 1000)).UTC()
			fmt.Fprintf(b.trace, "launch of %s, clicked at %s, ms after the click: ", ws, click.Format("15:04:05.000"))
			for _, k := range []string{"post", "answered", "wsMade", "wsOpen", "launchAnswered", "authSent", "agentReady", "pcMade", "answer", "pcConnected", "dcOpen", "track"} {
				if t, ok := c[k]; ok {
					fmt.Fprintf(b.trace, "%s %.1f ", k, t-h.Launch)
				}
			}
			fmt.Fprintf(b.trace, "firstFrame %.1f\n", s.total)
		}
		var pairs []struct {
			State, Local, Remote string
			Nominated            bool
			Sent, Answered, Got  int
		}
		if err := v.EvalJSON(ctx, `__bench.icePairs()`, &pairs); err == nil {
			for _, p := range pairs {
				fmt.Fprintf(b.trace, "  ICE pair %-10s nominated=%-5v checks sent %d answered %d received %d: %s → %s\n",
					p.State, p.Nominated, p.Sent, p.Answered, p.Got, p.Local, p.Remote)
			}
		}
	}
	return s, id, nil
}

// waitWarm waits until the pool of ws holds a warm session.
func (b *bench) waitWarm(ctx context.Context, ws string) error {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var list []struct {
			Workspace string
			Warm      int
		}
		if err := b.api.Do(ctx, http.MethodGet, "/api/v1/pools", nil, &list); err != nil {
			return err
		}
		for _, p := range list {
			if p.Workspace == ws && p.Warm > 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the pool of %s held no warm session within 3m", ws)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// reportLaunch prints the launch phase and returns its BENCH line.
func reportLaunch(out io.Writer, samples []launchSample) string {
	var cold, warm []launchSample
	for _, s := range samples {
		if s.warm {
			warm = append(warm, s)
		} else {
			cold = append(cold, s)
		}
	}
	total := func(s launchSample) float64 { return s.total }
	signal := func(s launchSample) float64 { return s.signal }
	c50, c95 := pct(cold, 50, total), pct(cold, 95, total)
	w50, w95 := pct(warm, 50, total), pct(warm, 95, total)
	result := verdict(w50 <= targetWarmLaunchMS)
	fmt.Fprintf(out, "\nClick on Launch in the portal to the first decoded frame (workspace of the click page; n=%d each, interleaved)\n", len(warm))
	fmt.Fprintf(out, "  %-6s %10s %10s %18s\n", "", "p50 ms", "p95 ms", "click→signal p50")
	fmt.Fprintf(out, "  %-6s %10.1f %10.1f %18.1f   a session launched cold (container, agent, Xvfb, Chromium)\n", "cold", c50, c95, pct(cold, 50, signal))
	fmt.Fprintf(out, "  %-6s %10.1f %10.1f %18.1f   a warm session of a pool of %d handed out\n", "warm", w50, w95, pct(warm, 50, signal), launchPool)
	fmt.Fprintf(out, "  warm p50 target <= %d ms: %s\n", targetWarmLaunchMS, result)
	return fmt.Sprintf("BENCH stream.launch n=%d cold_p50_ms=%.1f cold_p95_ms=%.1f warm_p50_ms=%.1f warm_p95_ms=%.1f target_warm_p50_ms=%d result=%s",
		len(warm), c50, c95, w50, w95, targetWarmLaunchMS, result)
}

// targetWarmLaunchMS is the target of a warm launch to its first frame.
const targetWarmLaunchMS = 200

// traceFirstFrame prints the agent's own account of the first frame it
// sent the viewer of session id (after the connection came up: grab,
// encode), from its container's log.
func (b *bench) traceFirstFrame(ctx context.Context, id string) {
	list, err := b.socket.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", airlock.LabelSession+"="+id))})
	if err != nil || len(list) != 1 {
		fmt.Fprintf(b.trace, "  agent log of %s: %v (%d containers)\n", id, err, len(list))
		return
	}
	rc, err := b.socket.ContainerLogs(ctx, list[0].ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		fmt.Fprintf(b.trace, "  agent log of %s: %v\n", id, err)
		return
	}
	defer rc.Close()
	raw, _ := io.ReadAll(rc)
	for line := range strings.SplitSeq(string(raw), "\n") {
		if i := strings.Index(line, "first frame sent"); i >= 0 {
			fmt.Fprintf(b.trace, "  agent: %s\n", line[i:])
		}
		if i := strings.Index(line, "answered the viewer"); i >= 0 {
			fmt.Fprintf(b.trace, "  agent: %s\n", line[i:])
		}
	}
}
