// Package viewer is the user's browser of the benchmarks in bench/: a
// headless Chromium on this host (chromedp), signed in to a deployment's
// portal, that opens a session's viewer page, connects to it over WebRTC
// as a user's browser does, and reports what it decoded. A script
// installed before the portal's own (hook.js, Page.addScriptToEvaluateOnNewDocument)
// timestamps each step of a connect and follows every frame presented,
// as window.__bench; WaitFrames waits on it.
//
// It leaves out the measuring itself (clicks, frame rates, CPU): the
// benchmarks read __bench with Eval and EvalJSON.
package viewer

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// hook is installed in every page the viewer opens.
//
//go:embed hook.js
var hook string

// Remote display sizes: the viewer asks for its page's inner size, and
// the headless window is sized so that the page is this size (fitWindow).
// A viewer starts at HD.
var (
	HD     = Size{1280, 720}
	FullHD = Size{1920, 1080}
)

// Size is a display's, in pixels.
type Size struct{ W, H int }

func (s Size) String() string { return fmt.Sprintf("%d×%d", s.W, s.H) }

// Viewer is the user's browser: a headless Chromium on this host, signed
// in to the portal, with hook.js installed in every page it opens. Its
// methods are for one goroutine at a time.
type Viewer struct {
	ctx    context.Context // the tab's
	cancel func()
	pid    int // the browser's process
	server string
	size   Size // the page's inner size, and so the remote display's
}

// Start starts the browser at path and signs in to the portal at server
// as user. The caller closes it.
func Start(ctx context.Context, path, server, user, password string) (_ *Viewer, err error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // this runs as root; it is the user's browser, not the isolated one
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(HD.W, HD.H),
	)
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	v := &Viewer{ctx: bctx, cancel: func() { cancelB(); cancelA() }, server: server, size: HD}
	defer func() {
		if err != nil {
			v.Close()
		}
	}()
	// The first Run starts the browser, which lives as long as the context
	// of that Run: bctx, not one with a deadline.
	if err := chromedp.Run(bctx); err != nil {
		return nil, fmt.Errorf("viewer: start %s: %w", path, err)
	}
	lctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Run(lctx,
		chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := page.AddScriptToEvaluateOnNewDocument(hook).Do(ctx)
			return err
		}),
		chromedp.Navigate(server+"/"),
		chromedp.WaitVisible("#login-user", chromedp.ByQuery),
		chromedp.SendKeys("#login-user", user, chromedp.ByQuery),
		chromedp.SendKeys("#login-password", password, chromedp.ByQuery),
		chromedp.Click("#login-submit", chromedp.ByQuery),
		chromedp.WaitVisible(".launch", chromedp.ByQuery),
	); err != nil {
		return nil, fmt.Errorf("viewer: sign in to the portal: %w", err)
	}
	if err := fitWindow(lctx, v.size); err != nil {
		return nil, err
	}
	if b := chromedp.FromContext(bctx).Browser; b != nil && b.Process() != nil {
		v.pid = b.Process().Pid
	} else {
		return nil, errors.New("viewer: no browser process")
	}
	return v, nil
}

// Close ends the browser.
func (v *Viewer) Close() { v.cancel() }

// PID is the browser's process on this host.
func (v *Viewer) PID() int { return v.pid }

// Server is the portal's base URL.
func (v *Viewer) Server() string { return v.server }

// Size is the page's inner size, and so the remote display's of the
// sessions it opens.
func (v *Viewer) Size() Size { return v.size }

// Resize makes the page, and so the display of the sessions opened after,
// s.
func (v *Viewer) Resize(ctx context.Context, s Size) error {
	if err := v.Run(ctx, 30*time.Second, chromedp.ActionFunc(func(ctx context.Context) error { return fitWindow(ctx, s) })); err != nil {
		return err
	}
	v.size = s
	return nil
}

// fitWindow sizes the browser window so that the page's inner size is
// s (headless Chromium keeps room for window decorations out of
// --window-size).
func fitWindow(ctx context.Context, s Size) error {
	return chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		for range 3 {
			var in struct{ W, H int }
			if err := chromedp.Evaluate(`({w: innerWidth, h: innerHeight})`, &in).Do(ctx); err != nil {
				return err
			}
			if in.W == s.W && in.H == s.H {
				return nil
			}
			id, bounds, err := browser.GetWindowForTarget().Do(ctx)
			if err != nil {
				return fmt.Errorf("viewer: window bounds: %w", err)
			}
			nb := &browser.Bounds{Width: bounds.Width + int64(s.W-in.W), Height: bounds.Height + int64(s.H-in.H), WindowState: browser.WindowStateNormal}
			if err := browser.SetWindowBounds(id, nb).Do(ctx); err != nil {
				return fmt.Errorf("viewer: resize the window to %dx%d: %w", nb.Width, nb.Height, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		return fmt.Errorf("viewer: cannot make the page %s", s)
	}))
}

// Run runs actions on the tab, bounded by ctx and timeout.
func (v *Viewer) Run(ctx context.Context, timeout time.Duration, actions ...chromedp.Action) error {
	tctx, cancel := context.WithTimeout(v.ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	err := chromedp.Run(tctx, actions...)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Eval evaluates a JavaScript expression, awaiting it when it is a
// promise, into out (JSON-decoded).
func (v *Viewer) Eval(ctx context.Context, expr string, out any) error {
	return v.Run(ctx, 30*time.Second, chromedp.Evaluate(expr, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))
}

// EvalJSON evaluates an expression, awaiting it when it is a promise, and
// decodes its value into out through JSON in the page (so that null and
// missing fields decode as Go zero values).
func (v *Viewer) EvalJSON(ctx context.Context, expr string, out any) error {
	var s string
	if err := v.Eval(ctx, "Promise.resolve("+expr+").then((r) => JSON.stringify(r))", &s); err != nil {
		return err
	}
	return json.Unmarshal([]byte(s), out)
}

// Poll waits until expr is true, checking every interval.
func (v *Viewer) Poll(ctx context.Context, what, expr string, interval, timeout time.Duration) error {
	err := v.Run(ctx, timeout+5*time.Second, chromedp.Poll(expr, nil, chromedp.WithPollingInterval(interval), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		return fmt.Errorf("waiting for %s: %w (viewer: %s)", what, err, v.State(ctx))
	}
	return nil
}

// Open shows the viewer of a session, in a new document.
// The viewer runs on the host of the sessions, whose networks appear as
// they launch: the browser aborts a page load in flight when its network
// changes (ERR_NETWORK_CHANGED), and the load is then made again, a few
// times at most.
func (v *Viewer) Open(ctx context.Context, sessionID string) error {
	var err error
	for range 3 {
		err = v.Run(ctx, time.Minute, chromedp.Navigate("about:blank"), chromedp.Navigate(v.server+"/#/session/"+sessionID))
		if err == nil || !strings.Contains(err.Error(), "ERR_NETWORK_CHANGED") {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("open the viewer of session %s: %w", sessionID, err)
	}
	return nil
}

// Leave shows a blank page: the viewer's connection to a session ends,
// and it does not try to reconnect to a session being ended.
func (v *Viewer) Leave(ctx context.Context) error {
	if err := v.Run(ctx, 30*time.Second, chromedp.Navigate("about:blank")); err != nil {
		return fmt.Errorf("leave the viewer: %w", err)
	}
	return nil
}

// Reload loads the viewer page again: a new connection to the session.
func (v *Viewer) Reload(ctx context.Context) error {
	if err := v.Run(ctx, time.Minute, chromedp.Reload()); err != nil {
		return fmt.Errorf("reload the viewer: %w", err)
	}
	return nil
}

// WaitFrames waits until the viewer is connected and has shown a frame
// (an animation frame saw the video's totalVideoFrames above 0).
func (v *Viewer) WaitFrames(ctx context.Context) error {
	return v.Poll(ctx, "the viewer's first frame",
		`window.airlockViewer && airlockViewer.state === 'connected' && window.__bench && __bench.firstPoll !== null`,
		10*time.Millisecond, 2*time.Minute)
}

// EnsureSize makes sure the remote display, the decoded video and the
// video element are all the viewer's size, asking the agent for that size
// itself when the viewer asked for another.
func (v *Viewer) EnsureSize(ctx context.Context) error {
	want := fmt.Sprintf(`(() => { const e = document.querySelector('#screen'), r = e.getBoundingClientRect();
		return e.videoWidth === %d && e.videoHeight === %d && Math.round(r.width) === %[1]d && Math.round(r.height) === %[2]d &&
			!!airlockViewer.display && airlockViewer.display.w === %[1]d && airlockViewer.display.h === %[2]d })()`, v.size.W, v.size.H)
	if err := v.Poll(ctx, "a "+v.size.String()+" video", want, 50*time.Millisecond, 5*time.Second); err == nil {
		return nil
	}
	var sent bool
	if err := v.Eval(ctx, fmt.Sprintf(`(() => { const ch = airlockViewer.channel; if (!ch || ch.readyState !== 'open') return false;
		ch.send(JSON.stringify({t: 'resize', w: %d, h: %d})); return true })()`, v.size.W, v.size.H), &sent); err != nil {
		return err
	}
	if !sent {
		return fmt.Errorf("the viewer's data channel is not open (viewer: %s)", v.State(ctx))
	}
	var got string
	err := v.Poll(ctx, "a "+v.size.String()+" video after asking for it", want, 50*time.Millisecond, 10*time.Second)
	if err != nil {
		_ = v.Eval(ctx, `(() => { const e = document.querySelector('#screen'), r = e.getBoundingClientRect();
			return 'video ' + e.videoWidth + 'x' + e.videoHeight + ', element ' + r.width + 'x' + r.height + ', window ' + innerWidth + 'x' + innerHeight })()`, &got)
		return fmt.Errorf("%w (%s)", err, got)
	}
	return nil
}

// State is the viewer's own account of itself, for failure messages.
func (v *Viewer) State(ctx context.Context) string {
	var s string
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = v.Run(sctx, 5*time.Second, chromedp.Evaluate(`JSON.stringify({state: window.airlockViewer && airlockViewer.state,
		error: window.airlockViewer && airlockViewer.error, stats: window.airlockViewer && airlockViewer.stats,
		text: document.body && document.body.innerText.slice(0, 300)})`, &s))
	return s
}

// Browser finds (or installs, with the module's scripts/ensure-chromium.sh;
// root is the module's directory) the Chromium that plays the user's
// browser, and returns its path.
func Browser(ctx context.Context, root string) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "ensure-chromium.sh"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("a browser is needed: %w\n%s", err, out)
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on PATH after ensure-chromium.sh")
}
