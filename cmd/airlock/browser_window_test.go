package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/browsertest"
	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// windowSite serves the pages of TestBrowserWindow: a start page, and a
// second page that only typing its address can open. Each fills the
// window with a colour of its own, so the viewer's last rows tell the
// page from a black band.
type windowSite struct {
	url   string
	mu    sync.Mutex
	asked map[string]int
	typed string
	blurs int  // the page lost the keyboard (to the address bar)
	focus bool // the page's field has the keyboard
	// langs are the Accept-Language headers of the requests, in order.
	langs []string
}

// languages are the Accept-Language headers the pages were asked with.
func (s *windowSite) languages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.langs)
}

const (
	firstColor  = "#2050b0"
	secondColor = "#e0a030"
)

const windowPage = `<!doctype html>
<html><head><title>%s</title><style>
html,body{margin:0;height:100%%;background:%s;font:28px sans-serif;color:#fff}
main{position:absolute;left:10%%;top:30%%;width:80%%}
h1{font-size:56px;margin:0 0 16px}
input{font-size:24px;width:60%%}
</style></head><body><main><h1>%s</h1><p>%s</p><input id=field autofocus autocomplete=off></main>
<script>
let seq = 0;
field.addEventListener('input', () => fetch('typed?n=' + (++seq) + '&v=' + encodeURIComponent(field.value)));
addEventListener('blur', () => fetch('blurred'));
field.addEventListener('focus', () => fetch('focused'));
if (document.hasFocus() && document.activeElement === field) fetch('focused');
</script></body></html>`

func startWindowSite(t *testing.T) *windowSite {
	t.Helper()
	s := &windowSite{asked: map[string]int{}}
	mux := http.NewServeMux()
	serve := func(path, title, color, heading, text string) {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.asked[path]++
			s.langs = append(s.langs, r.Header.Get("Accept-Language"))
			s.mu.Unlock()
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, windowPage, title, color, heading, text)
		})
	}
	serve("/first", "Airlock start page", firstColor, "Airlock", "A browser in an isolated container, streamed to this tab.")
	serve("/second", "Typed in the address bar", secondColor, "A page opened from the address bar",
		"Tabs, address bar, back and forward: the whole browser, in a window that follows the viewer's.")
	mux.HandleFunc("GET /focused", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.focus = true
		s.mu.Unlock()
	})
	mux.HandleFunc("GET /blurred", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.blurs++
		s.mu.Unlock()
	})
	var seq int
	mux.HandleFunc("GET /typed", func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.URL.Query().Get("n"), &n)
		s.mu.Lock()
		if n > seq {
			seq, s.typed = n, r.URL.Query().Get("v")
		}
		s.mu.Unlock()
	})
	addr := serveRouted(t, mux, 160, 180)
	s.url = "http://" + addr.String()
	return s
}

func (s *windowSite) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked[path]
}

func (s *windowSite) field() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.typed
}

// waitFocus waits until the page's field has the keyboard: keys sent
// before the page is there go nowhere.
func (s *windowSite) waitFocus(t *testing.T, ctx context.Context) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		s.mu.Lock()
		ok := s.focus
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			viewerShot(t, ctx, "no-focus.png")
			t.Fatalf("the remote page's field never had the keyboard (viewer: %s)", viewerState(ctx))
		}
	}
}

func (s *windowSite) blurred() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blurs
}

// TestBrowserWindow: the chromium workspace is a whole browser in a
// window that follows the viewer. Typing an address into the remote
// address bar (Ctrl+L through the viewer's keyboard) opens that page;
// resizing the viewer resizes the remote display and the browser's
// window with it, with the page down to the last row of the video (no
// black band). A kiosk workspace has no address bar.
func TestBrowserWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("browser session: not in -short")
	}
	// Before the host's browser starts: a new interface makes it abort
	// requests in flight (ERR_NETWORK_CHANGED).
	s := startWindowSite(t)
	browser := browsertest.Chromium(t)
	env := startUp(t)
	ensureChromiumImage(t, airlockBinary(t))
	c, _, err := apiClient()
	if err != nil {
		t.Fatal(err)
	}
	create := func(name string, extra map[string]any) (map[string]any, error) {
		ws := map[string]any{"name": name, "description": "Chromium for the window test", "image": dockertest.ChromiumImage(),
			"seccomp": "chromium", "shm_size": 512 << 20, "memory": 2 << 30, "start_url": s.url + "/first"}
		for k, v := range extra {
			ws[k] = v
		}
		var got map[string]any
		if err := c.Do(context.Background(), http.MethodPost, "/api/v1/workspaces", ws, &got); err != nil {
			return nil, fmt.Errorf("create workspace %s: %w", name, err)
		}
		return got, nil
	}
	if _, err := create("e2e-window", nil); err != nil {
		t.Fatal(err)
	}

	t.Run("browser", func(t *testing.T) {
		ctx := openWindowViewer(t, s, env, browser, "e2e-window")
		waitJS(t, ctx, "the start page's colour down to the last row", edgesAre(firstColor))
		s.waitFocus(t, ctx)
		// Ctrl+L moves the keyboard to the address bar, a little after
		// the keys: the page says when it lost it, and only then is the
		// address typed, or its first letters would go to the page.
		blurs := s.blurred()
		pressCtrlL(t, ctx)
		for deadline := time.Now().Add(30 * time.Second); s.blurred() == blurs; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				viewerShot(t, ctx, "no-address-bar.png")
				t.Fatalf("Ctrl+L did not take the keyboard from the page (viewer: %s)", viewerState(ctx))
			}
		}
		typeText(t, ctx, s.url+"/second"+kb.Enter)
		for deadline := time.Now().Add(30 * time.Second); s.count("/second") == 0; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				viewerShot(t, ctx, "not-opened.png")
				t.Fatalf("the address typed into the remote address bar was not opened; the page's field has %q (viewer: %s)", s.field(), viewerState(ctx))
			}
		}
		for _, size := range [][2]int{{1000, 640}, {1400, 860}, {1280, 800}} {
			if err := chromedp.Run(ctx, chromedp.EmulateViewport(int64(size[0]), int64(size[1]))); err != nil {
				t.Fatal(err)
			}
			// The viewer asks for a display of its size; the remote
			// display follows, and the video with it.
			waitJS(t, ctx, fmt.Sprintf("the remote display at %dx%d", size[0], size[1]), fmt.Sprintf(
				`(() => { const d = window.airlockViewer.display, v = document.querySelector('#screen'); return !!d && d.w === %d && d.h === %d && v.videoWidth === %d && v.videoHeight === %d })()`,
				size[0], size[1], size[0], size[1]))
			waitJS(t, ctx, fmt.Sprintf("the page's colour down to the last row at %dx%d", size[0], size[1]), edgesAre(secondColor))
		}
		// The README's picture: the whole remote browser, the viewer's
		// toolbar tucked away.
		if err := chromedp.Run(ctx, chromedp.Click("#tb-hide", chromedp.ByQuery), chromedp.WaitVisible("#toolbar-handle", chromedp.ByQuery)); err != nil {
			t.Fatalf("hide the viewer's toolbar: %v", err)
		}
		viewerShot(t, ctx, "browser.png")
	})

	// On a screen of two device pixels per CSS pixel, the session draws
	// at scale 2 (the workspace's default max_scale) and the remote
	// display has the viewer's size in device pixels, shown at its CSS
	// size: one remote pixel per pixel of the screen.
	t.Run("hidpi", func(t *testing.T) {
		ctx := openWindowViewer(t, s, env, browser, "e2e-window", chromedp.Flag("force-device-scale-factor", "2"))
		waitJS(t, ctx, "a display of twice the viewer's size", `(() => {
  const d = window.airlockViewer.display, v = document.querySelector('#screen'), r = v.getBoundingClientRect();
  return devicePixelRatio === 2 && window.airlockViewer.scale === 2 && !!d && d.w === 2 * innerWidth && d.h === 2 * innerHeight &&
    v.videoWidth === d.w && v.videoHeight === d.h && r.width === innerWidth && r.height === innerHeight;
})()`)
		waitJS(t, ctx, "the start page's colour down to the last row", edgesAre(firstColor))
		// The remote cursor, in remote pixels, is drawn at the picture's
		// scale too, not twice as large.
		waitJS(t, ctx, "the remote cursor at 2x", `document.querySelector('#screen').style.cursor.startsWith('image-set(url("data:image/png;base64,') && document.querySelector('#screen').style.cursor.includes(' 2x)')`)
		viewerShot(t, ctx, "hidpi.png")
	})

	t.Run("kiosk", func(t *testing.T) {
		ws, err := create("e2e-window-kiosk", map[string]any{"mode": "kiosk"})
		if err != nil && strings.Contains(err.Error(), `unknown field "mode"`) {
			t.Skip("the workspace API has no mode yet: a kiosk workspace cannot be made")
		}
		if err != nil {
			t.Fatal(err)
		}
		if ws["mode"] != "kiosk" {
			t.Fatalf("the workspace made with mode kiosk is %v", ws)
		}
		before := s.count("/second")
		ctx := openWindowViewer(t, s, env, browser, "e2e-window-kiosk")
		waitJS(t, ctx, "the start page's colour down to the last row", edgesAre(firstColor))
		s.waitFocus(t, ctx)
		// The start page's field has the focus: with no address bar for
		// Ctrl+L, what is typed after it goes there, and the page never
		// loses the keyboard.
		blurs := s.blurred()
		pressCtrlL(t, ctx)
		addr := s.url + "/second"
		typeText(t, ctx, addr)
		for deadline := time.Now().Add(30 * time.Second); s.field() != addr; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				viewerShot(t, ctx, "kiosk-typed.png")
				t.Fatalf("the kiosk's page did not get the typed text: its field has %q (viewer: %s)", s.field(), viewerState(ctx))
			}
		}
		typeText(t, ctx, kb.Enter)
		if n, b := s.count("/second"), s.blurred(); n != before || b != blurs {
			t.Fatalf("Ctrl+L in the kiosk: the page lost the keyboard %d times and /second was opened %d times", b-blurs, n-before)
		}
		waitJS(t, ctx, "the start page's colour down to the last row", edgesAre(firstColor))
	})
}

// openWindowViewer logs in to the portal in the host's browser, launches
// workspace and waits for decoded video with the viewer holding the
// keyboard. The session ends with the test.
func openWindowViewer(t *testing.T, s *windowSite, env *upEnv, browser, workspace string, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	s.mu.Lock()
	s.focus, s.typed = false, "" // a new session: a new page
	s.mu.Unlock()
	opts := append(append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox, // the test runs as root; this browser is the user's, not the isolated one
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(1280, 800),
	), extra...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	bctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelB)
	ctx, cancel := context.WithTimeout(bctx, 5*time.Minute)
	t.Cleanup(cancel)
	// The first Run starts the browser and ties its life to its context:
	// the test's, not a step's.
	if err := chromedp.Run(bctx); err != nil {
		t.Fatalf("start the browser: %v", err)
	}
	for _, step := range []struct {
		what string
		act  chromedp.Action
	}{
		{"open the portal", chromedp.Navigate(env.server + "/")},
		{"the login form", chromedp.WaitVisible("#login-user", chromedp.ByQuery)},
		{"type the user", chromedp.SendKeys("#login-user", "admin", chromedp.ByQuery)},
		{"type the password", chromedp.SendKeys("#login-password", "correct horse battery", chromedp.ByQuery)},
		{"log in", chromedp.Click("#login-submit", chromedp.ByQuery)},
		{"the workspace in the catalog", chromedp.WaitVisible(`[data-workspace="`+workspace+`"] .launch`, chromedp.ByQuery)},
		{"launch", chromedp.Click(`[data-workspace="`+workspace+`"] .launch`, chromedp.ByQuery)},
		{"the viewer", chromedp.WaitVisible("#screen", chromedp.ByQuery)},
	} {
		sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		err := chromedp.Run(sctx, step.act)
		cancel()
		if err != nil {
			t.Fatalf("portal, %s: %v (viewer: %s)\nserver log:\n%s\nagent log:\n%s", step.what, err, viewerState(ctx), env.logTail(30), agentLog(t))
		}
	}
	var loc string
	if err := chromedp.Run(ctx, chromedp.Location(&loc)); err != nil {
		t.Fatal(err)
	}
	_, id, ok := strings.Cut(loc, "#/session/")
	if !ok {
		t.Fatalf("the viewer's URL %q names no session", loc)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s\nagent log:\n%s", env.logTail(40), agentLog(t))
		}
		c, _, err := apiClient()
		if err == nil {
			err = c.Do(context.Background(), http.MethodDelete, "/api/v1/sessions/"+id, nil, nil)
		}
		if err != nil {
			t.Errorf("end session %s: %v\nserver log:\n%s", id, err, env.logTail(30))
			return
		}
		// The next session's launch must not race the removal of this
		// one's network: a browser aborts requests in flight when an
		// interface goes (ERR_NETWORK_CHANGED).
		cli := dockertest.Client(t)
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			list, err := cli.NetworkList(context.Background(), network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", airlock.LabelSession+"="+id))})
			if err != nil {
				t.Errorf("session %s's network: %v", id, err)
				return
			}
			if len(list) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("session %s's network is still there 60s after the session ended", id)
				return
			}
		}
	})
	waitJS(t, ctx, "decoded video", `(() => { const v = document.querySelector('#screen'); return v && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 0 })()`)
	waitJS(t, ctx, "the remote display at the viewer's size", `(() => {
  const d = window.airlockViewer.display, r = Math.max(1, Math.min(devicePixelRatio, window.airlockViewer.scale));
  const even = (n) => n - (n % 2);
  return !!d && d.w === even(Math.round(innerWidth * r)) && d.h === even(Math.round(innerHeight * r));
})()`)
	waitJS(t, ctx, "the viewer to hold the keyboard", viewerHasKeyboard)
	return ctx
}

// pressCtrlL presses Ctrl+L in the viewer: the remote browser's
// shortcut for its address bar.
func pressCtrlL(t *testing.T, ctx context.Context) {
	t.Helper()
	const ctrl = input.ModifierCtrl
	err := chromedp.Run(ctx,
		input.DispatchKeyEvent(input.KeyRawDown).WithKey("Control").WithCode("ControlLeft").WithWindowsVirtualKeyCode(17).WithModifiers(ctrl),
		input.DispatchKeyEvent(input.KeyRawDown).WithKey("l").WithCode("KeyL").WithWindowsVirtualKeyCode(76).WithModifiers(ctrl),
		input.DispatchKeyEvent(input.KeyUp).WithKey("l").WithCode("KeyL").WithWindowsVirtualKeyCode(76).WithModifiers(ctrl),
		input.DispatchKeyEvent(input.KeyUp).WithKey("Control").WithCode("ControlLeft").WithWindowsVirtualKeyCode(17),
	)
	if err != nil {
		t.Fatal(err)
	}
}

// typeText types text into the viewer.
func typeText(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	if err := chromedp.Run(ctx, chromedp.KeyEvent(text)); err != nil {
		t.Fatal(err)
	}
}

// edgesAre is a script that draws the viewer's current video frame to a
// canvas and says whether its last rows and last column are all the
// colour hex (within what the codec changes), not black.
func edgesAre(hex string) string {
	return fmt.Sprintf(`(() => {
  const v = document.querySelector('#screen');
  const w = v.videoWidth, h = v.videoHeight;
  if (!w || !h) return false;
  const c = document.createElement('canvas');
  c.width = w; c.height = h;
  const g = c.getContext('2d', { willReadFrequently: true });
  g.drawImage(v, 0, 0, w, h);
  const want = [1, 3, 5].map((i) => parseInt(%q.substr(i, 2), 16));
  const near = (d, i) => Math.abs(d[i] - want[0]) <= 24 && Math.abs(d[i + 1] - want[1]) <= 24 && Math.abs(d[i + 2] - want[2]) <= 24;
  const all = (d) => { for (let i = 0; i < d.length; i += 4) if (!near(d, i)) return false; return true; };
  return all(g.getImageData(0, h - 4, w, 4).data) && all(g.getImageData(w - 4, h / 2, 4, h / 2).data);
})()`, hex)
}

// viewerShot saves the host browser's view of the viewer.
func viewerShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	var shot []byte
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		shot, err = page.CaptureScreenshot().Do(ctx)
		return err
	})); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
