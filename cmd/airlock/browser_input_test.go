package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	cdpnetwork "github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/airlock-rbi/airlock/internal/browsertest"
	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// inputSite is the remote page of TestBrowserInput: a text field that
// any press focuses, on a page tall enough to scroll. It reports presses,
// the field's focus and value, and the page's scroll to the test.
type inputSite struct {
	url     string
	mu      sync.Mutex
	presses int
	focus   bool
	typed   string
	scrollY int
	zoom    float64        // the page's devicePixelRatio: Chromium's zoom
	seq     map[string]int // the latest report of each kind kept
}

const inputSitePage = `<!doctype html>
<html><head><title>airlock input</title><style>
html,body{margin:0;background:#2050b0;font:24px sans-serif;color:#fff}
#word{position:fixed;left:20%;top:30%;width:60%;font-size:32px}
#tall{height:20000px}
</style></head><body><input id="word" autocomplete="off"><div id="tall"></div>
<script>
const word = document.getElementById('word');
let seq = 0; // fetches may complete out of order: the server keeps the latest
// A press focuses the field and never blurs it (see sitePage): a tap
// repeated until the page sees one may land while the test types.
document.addEventListener('mousedown', (e) => {
  e.preventDefault();
  fetch('/pressed');
  word.focus();
});
word.addEventListener('focus', () => fetch('/focused'));
word.addEventListener('input', () => fetch('/typed?n=' + (++seq) + '&v=' + encodeURIComponent(word.value)));
addEventListener('scroll', () => fetch('/scrolled?n=' + (++seq) + '&v=' + Math.round(scrollY)));
const zoomed = () => fetch('/zoomed?n=' + (++seq) + '&v=' + devicePixelRatio);
zoomed();
addEventListener('resize', zoomed);
</script></body></html>`

func startInputSite(t *testing.T) *inputSite {
	t.Helper()
	s := &inputSite{seq: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, inputSitePage)
	})
	mux.HandleFunc("GET /pressed", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.presses++
		s.mu.Unlock()
	})
	mux.HandleFunc("GET /focused", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.focus = true
		s.mu.Unlock()
	})
	latest := func(kind string, r *http.Request, set func(v string)) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		s.mu.Lock()
		defer s.mu.Unlock()
		if n > s.seq[kind] {
			s.seq[kind] = n
			set(r.URL.Query().Get("v"))
		}
	}
	mux.HandleFunc("GET /typed", func(w http.ResponseWriter, r *http.Request) {
		latest("typed", r, func(v string) { s.typed = v })
	})
	mux.HandleFunc("GET /zoomed", func(w http.ResponseWriter, r *http.Request) {
		latest("zoomed", r, func(v string) { s.zoom, _ = strconv.ParseFloat(v, 64) })
	})
	mux.HandleFunc("GET /scrolled", func(w http.ResponseWriter, r *http.Request) {
		latest("scrolled", r, func(v string) { s.scrollY, _ = strconv.Atoi(v) })
	})
	addr := serveRouted(t, mux, 160, 180)
	s.url = "http://" + addr.String() + "/"
	return s
}

func (s *inputSite) zoomed() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.zoom
}

func (s *inputSite) state() (presses int, focus bool, typed string, scrollY int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.presses, s.focus, s.typed, s.scrollY
}

// TestBrowserInput is the keyboard and touch of a phone or a CJK desktop,
// in a real browser through the portal: a touch tap presses in the remote
// page; a word typed at once after the field has the focus arrives whole,
// typed once; Japanese and Korean composed with an input method and
// Chinese inserted without composition arrive as committed text; two
// fingers moved up scroll the remote page down, and spread apart zoom it
// in.
func TestBrowserInput(t *testing.T) {
	if testing.Short() {
		t.Skip("browser session: not in -short")
	}
	// Before the host's browser starts: a new interface makes it abort
	// requests in flight (ERR_NETWORK_CHANGED).
	s := startInputSite(t)
	browser := browsertest.Chromium(t)
	env := startUp(t)
	ensureChromiumImage(t, airlockBinary(t))
	c, _, err := apiClient()
	if err != nil {
		t.Fatal(err)
	}
	ws := map[string]any{"name": "e2e-input", "description": "Chromium for the input test", "image": dockertest.ChromiumImage(),
		"seccomp": "chromium", "shm_size": 512 << 20, "memory": 2 << 30, "start_url": s.url}
	if err := c.Do(context.Background(), http.MethodPost, "/api/v1/workspaces", ws, nil); err != nil {
		t.Fatalf("create workspace: %v", err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox, // the test runs as root; this browser is the user's, not the isolated one
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelB()
	ctx, cancel := context.WithTimeout(bctx, 6*time.Minute)
	defer cancel()
	failed := &netFailures{}
	chromedp.ListenTarget(bctx, failed.listen)
	// A phone: touch events, and pointers of type touch.
	if err := chromedp.Run(bctx, cdpnetwork.Enable(), emulation.SetTouchEmulationEnabled(true).WithMaxTouchPoints(5)); err != nil {
		t.Fatalf("start the browser: %v", err)
	}
	portalLaunch(t, ctx, env, env.server+"/", "e2e-input", failed)
	waitJS(t, ctx, "decoded video", `(() => { const v = document.querySelector('#screen'); return v && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 0 })()`)
	var box struct{ X, Y, W, H float64 }
	if err := chromedp.Run(ctx, chromedp.Evaluate(`(() => { const r = document.querySelector('#screen').getBoundingClientRect(); return {X: r.left, Y: r.top, W: r.width, H: r.height} })()`, &box)); err != nil {
		t.Fatal(err)
	}
	// The middle of the screen is the remote page's, below Chromium's
	// tab strip and address bar.
	x, y := box.X+box.W*0.5, box.Y+box.H*0.6
	failNow := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+" (viewer: %s)\nagent log:\n%s", append(args, viewerState(ctx), agentLog(t))...)
	}
	touch := func(typ input.TouchType, pts ...*input.TouchPoint) {
		t.Helper()
		if pts == nil {
			pts = []*input.TouchPoint{}
		}
		if err := chromedp.Run(ctx, input.DispatchTouchEvent(typ, pts)); err != nil {
			t.Fatalf("touch %s: %v", typ, err)
		}
	}

	// A tap. Tapped again each second until the remote page, which may
	// still be loading, sees a press.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Second) {
		touch(input.TouchStart, &input.TouchPoint{X: x, Y: y, ID: 1})
		touch(input.TouchEnd)
		if n, _, _, _ := s.state(); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			failNow("the remote page saw no press after a tap")
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, focus, _, _ := s.state(); focus {
			break
		}
		if time.Now().After(deadline) {
			failNow("the remote text field never got focus")
		}
	}
	waitJS(t, ctx, "the viewer to hold the keyboard", viewerHasKeyboard)

	// waitTyped waits for the remote field to hold want; anything else
	// after 20 s fails the test.
	waitTyped := func(what, want string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if _, _, typed, _ := s.state(); typed == want {
				return
			} else if time.Now().After(deadline) {
				failNow("%s: the remote field has %q, want %q", what, typed, want)
			}
		}
	}
	// Typed once, at once: a key lost at the start of typing fails here.
	if err := chromedp.Run(ctx, chromedp.KeyEvent("airlock")); err != nil {
		t.Fatal(err)
	}
	waitTyped("a word typed right after the focus", "airlock")

	// An input method's compositions, committed: Japanese, then Korean,
	// each composed in steps; and Chinese inserted with no composition,
	// as an emoji keyboard or a phone's keyboard does.
	// The viewer's keyboard surface counts the compositions it sees end.
	if err := chromedp.Run(ctx, chromedp.Evaluate(`window.compositions = 0; document.querySelector('#kbd-input').addEventListener('compositionend', () => window.compositions++); true`, nil)); err != nil {
		t.Fatal(err)
	}
	want := "airlock"
	for _, tc := range []struct {
		steps  []string // the composition as it grows
		commit string
	}{
		{[]string{"に", "にほ", "にほん", "日本"}, "日本語"},
		{[]string{"ㅎ", "하", "한", "한구", "한국"}, "한국어"},
		{nil, "你好，世界"},
	} {
		for _, c := range tc.steps {
			n := int64(len([]rune(c)))
			if err := chromedp.Run(ctx, input.ImeSetComposition(c, n, n)); err != nil {
				t.Fatalf("compose %q: %v", c, err)
			}
		}
		if err := chromedp.Run(ctx, input.InsertText(tc.commit)); err != nil {
			t.Fatalf("commit %q: %v", tc.commit, err)
		}
		want += tc.commit
		waitTyped("committed "+tc.commit, want)
	}
	var compositions int
	if err := chromedp.Run(ctx, chromedp.Evaluate(`window.compositions`, &compositions)); err != nil {
		t.Fatal(err)
	}
	if compositions != 2 {
		t.Errorf("the viewer saw %d compositions end, want 2 (Japanese and Korean)", compositions)
	}

	// Two fingers moved up together: the remote page scrolls down.
	const fingers = 60.0
	for i := range 11 {
		dy := -30 * float64(i)
		typ := input.TouchMove
		if i == 0 {
			typ = input.TouchStart
		}
		touch(typ, &input.TouchPoint{X: x - fingers, Y: y + dy, ID: 1}, &input.TouchPoint{X: x + fingers, Y: y + dy, ID: 2})
	}
	touch(input.TouchEnd)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, _, _, sy := s.state(); sy > 0 {
			t.Logf("scrolled to %d", sy)
			break
		}
		if time.Now().After(deadline) {
			failNow("two fingers moved up did not scroll the remote page")
		}
	}

	// Two fingers spread apart: Chromium zooms the remote page in.
	zoom0 := s.zoomed()
	if zoom0 <= 0 {
		failNow("the remote page did not report its zoom")
	}
	for i := range 11 {
		d := fingers + 20*float64(i)
		typ := input.TouchMove
		if i == 0 {
			typ = input.TouchStart
		}
		touch(typ, &input.TouchPoint{X: x - d, Y: y, ID: 1}, &input.TouchPoint{X: x + d, Y: y, ID: 2})
	}
	touch(input.TouchEnd)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if z := s.zoomed(); z > zoom0 {
			t.Logf("zoomed from %v to %v", zoom0, z)
			break
		}
		if time.Now().After(deadline) {
			failNow("two fingers spread did not zoom the remote page in")
		}
	}
	if _, _, typed, _ := s.state(); typed != want {
		failNow("after scrolling and zooming, the remote field has %q, want %q", typed, want)
	}
}
