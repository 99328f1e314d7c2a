package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Remote display sizes the benchmark runs at: the viewer asks for its
// page's inner size, and the headless window is sized so that the page is
// this size (fitWindow). Most phases run at the first; the full HD phase
// at the second.
var (
	sizeHD     = size{1280, 720}
	sizeFullHD = size{1920, 1080}
)

// size is a display's, in pixels.
type size struct{ w, h int }

func (s size) String() string { return fmt.Sprintf("%d×%d", s.w, s.h) }

// viewer is the user's browser: a headless Chromium on this host, signed
// in to the portal, with hook.js installed in every page it opens.
type viewer struct {
	ctx    context.Context // the tab's
	cancel func()
	pid    int // the browser's process
	server string
	size   size // the page's inner size, and so the remote display's
}

// startViewer starts the browser and signs in as user.
func startViewer(ctx context.Context, path, server, user, password string) (_ *viewer, err error) {
	hook, err := assets.ReadFile("assets/hook.js")
	if err != nil {
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // this runs as root; it is the user's browser, not the isolated one
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(sizeHD.w, sizeHD.h),
	)
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	v := &viewer{ctx: bctx, cancel: func() { cancelB(); cancelA() }, server: server, size: sizeHD}
	defer func() {
		if err != nil {
			v.close()
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
			_, err := page.AddScriptToEvaluateOnNewDocument(string(hook)).Do(ctx)
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

func (v *viewer) close() { v.cancel() }

// resize makes the page, and so the display of the sessions opened after,
// s.
func (v *viewer) resize(ctx context.Context, s size) error {
	if err := v.run(ctx, 30*time.Second, chromedp.ActionFunc(func(ctx context.Context) error { return fitWindow(ctx, s) })); err != nil {
		return err
	}
	v.size = s
	return nil
}

// fitWindow sizes the browser window so that the page's inner size is
// s (headless Chromium keeps room for window decorations out of
// --window-size).
func fitWindow(ctx context.Context, s size) error {
	return chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		for range 3 {
			var in struct{ W, H int }
			if err := chromedp.Evaluate(`({w: innerWidth, h: innerHeight})`, &in).Do(ctx); err != nil {
				return err
			}
			if in.W == s.w && in.H == s.h {
				return nil
			}
			id, bounds, err := browser.GetWindowForTarget().Do(ctx)
			if err != nil {
				return fmt.Errorf("viewer: window bounds: %w", err)
			}
			nb := &browser.Bounds{Width: bounds.Width + int64(s.w-in.W), Height: bounds.Height + int64(s.h-in.H), WindowState: browser.WindowStateNormal}
			if err := browser.SetWindowBounds(id, nb).Do(ctx); err != nil {
				return fmt.Errorf("viewer: resize the window to %dx%d: %w", nb.Width, nb.Height, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		return fmt.Errorf("viewer: cannot make the page %s", s)
	}))
}

// run runs actions on the tab, bounded by ctx and timeout.
func (v *viewer) run(ctx context.Context, timeout time.Duration, actions ...chromedp.Action) error {
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

// eval evaluates a JavaScript expression, awaiting it when it is a
// promise, into out (JSON-decoded).
func (v *viewer) eval(ctx context.Context, expr string, out any) error {
	return v.run(ctx, 30*time.Second, chromedp.Evaluate(expr, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))
}

// evalJSON evaluates an expression, awaiting it when it is a promise, and
// decodes its value into out through JSON in the page (so that null and
// missing fields decode as Go zero values).
func (v *viewer) evalJSON(ctx context.Context, expr string, out any) error {
	var s string
	if err := v.eval(ctx, "Promise.resolve("+expr+").then((r) => JSON.stringify(r))", &s); err != nil {
		return err
	}
	return json.Unmarshal([]byte(s), out)
}

// poll waits until expr is true, checking every interval.
func (v *viewer) poll(ctx context.Context, what, expr string, interval, timeout time.Duration) error {
	err := v.run(ctx, timeout+5*time.Second, chromedp.Poll(expr, nil, chromedp.WithPollingInterval(interval), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		return fmt.Errorf("waiting for %s: %w (viewer: %s)", what, err, v.state(ctx))
	}
	return nil
}

// open shows the viewer of a session, in a new document.
// The viewer runs on the host of the sessions, whose networks appear as
// they launch: the browser aborts a page load in flight when its network
// changes (ERR_NETWORK_CHANGED), and the load is then made again, a few
// times at most.
func (v *viewer) open(ctx context.Context, sessionID string) error {
	var err error
	for range 3 {
		err = v.run(ctx, time.Minute, chromedp.Navigate("about:blank"), chromedp.Navigate(v.server+"/#/session/"+sessionID))
		if err == nil || !strings.Contains(err.Error(), "ERR_NETWORK_CHANGED") {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("open the viewer of session %s: %w", sessionID, err)
	}
	return nil
}

// reload loads the viewer page again: a new connection to the session.
func (v *viewer) reload(ctx context.Context) error {
	if err := v.run(ctx, time.Minute, chromedp.Reload()); err != nil {
		return fmt.Errorf("reload the viewer: %w", err)
	}
	return nil
}

// waitFrames waits until the viewer is connected and has shown a frame.
func (v *viewer) waitFrames(ctx context.Context) error {
	return v.poll(ctx, "the viewer's first frame",
		`window.airlockViewer && airlockViewer.state === 'connected' && window.__bench && __bench.firstPoll !== null`,
		10*time.Millisecond, 2*time.Minute)
}

// ensureSize makes sure the remote display, the decoded video and the
// video element are all the viewer's size, asking the agent for that size
// itself when the viewer asked for another.
func (v *viewer) ensureSize(ctx context.Context) error {
	want := fmt.Sprintf(`(() => { const e = document.querySelector('#screen'), r = e.getBoundingClientRect();
		return e.videoWidth === %d && e.videoHeight === %d && Math.round(r.width) === %[1]d && Math.round(r.height) === %[2]d &&
			!!airlockViewer.display && airlockViewer.display.w === %[1]d && airlockViewer.display.h === %[2]d })()`, v.size.w, v.size.h)
	if err := v.poll(ctx, "a "+v.size.String()+" video", want, 50*time.Millisecond, 5*time.Second); err == nil {
		return nil
	}
	var sent bool
	if err := v.eval(ctx, fmt.Sprintf(`(() => { const ch = airlockViewer.channel; if (!ch || ch.readyState !== 'open') return false;
		ch.send(JSON.stringify({t: 'resize', w: %d, h: %d})); return true })()`, v.size.w, v.size.h), &sent); err != nil {
		return err
	}
	if !sent {
		return fmt.Errorf("the viewer's data channel is not open (viewer: %s)", v.state(ctx))
	}
	var got string
	err := v.poll(ctx, "a "+v.size.String()+" video after asking for it", want, 50*time.Millisecond, 10*time.Second)
	if err != nil {
		_ = v.eval(ctx, `(() => { const e = document.querySelector('#screen'), r = e.getBoundingClientRect();
			return 'video ' + e.videoWidth + 'x' + e.videoHeight + ', element ' + r.width + 'x' + r.height + ', window ' + innerWidth + 'x' + innerHeight })()`, &got)
		return fmt.Errorf("%w (%s)", err, got)
	}
	return nil
}

// state is the viewer's own account of itself, for failure messages.
func (v *viewer) state(ctx context.Context) string {
	var s string
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = v.run(sctx, 5*time.Second, chromedp.Evaluate(`JSON.stringify({state: window.airlockViewer && airlockViewer.state,
		error: window.airlockViewer && airlockViewer.error, stats: window.airlockViewer && airlockViewer.stats,
		text: document.body && document.body.innerText.slice(0, 300)})`, &s))
	return s
}
