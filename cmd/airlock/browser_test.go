package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdpnetwork "github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/airlock-rbi/airlock/images"
	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/browsertest"
	"github.com/airlock-rbi/airlock/internal/dockertest"
	"github.com/airlock-rbi/airlock/internal/hostaddr"
	"github.com/airlock-rbi/airlock/internal/imagebuild"
)

// site is the page the remote Chromium opens: served by the test on an
// address routed into a network namespace of its own (sessions reach no
// address of this host), like any web server a session reaches. It
// records the clicks and the text typed into it.
type site struct {
	url   string
	mu    sync.Mutex
	click int
	typed string
	seq   int
	focus bool
}

const sitePage = `<!doctype html>
<html><head><title>airlock e2e</title><style>
html,body{margin:0;height:100%;background:#2050b0;font:32px sans-serif;color:#fff}
#word{position:fixed;left:30%;top:40%;width:40%;font-size:40px}
#status{position:fixed;left:30%;top:20%}
</style></head><body>
<div id="status">click anywhere, then type</div>
<input id="word" autocomplete="off">
<script>
const word = document.getElementById('word');
// A press anywhere gives the field the focus and never takes it away:
// the test clicks until the page sees a click (a click that comes right
// after the page's script ran was seen lost: before its first paint, it
// seems), so a click may land while it types.
// The default action of a press on the body would move the focus there,
// and keys typed before the page gave it back would be lost.
document.addEventListener('mousedown', e => {
  e.preventDefault();
  document.body.style.background = '#20b050';
  fetch('/clicked?x=' + e.clientX + '&y=' + e.clientY);
  word.focus();
});
let seq = 0;  // fetches may complete out of order: the server keeps the latest
word.addEventListener('focus', () => fetch('/focused'));
word.addEventListener('input', () => fetch('/typed?n=' + (++seq) + '&v=' + encodeURIComponent(word.value)));
</script></body></html>`

func startSite(t *testing.T) *site {
	t.Helper()
	s := &site{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, sitePage)
	})
	mux.HandleFunc("GET /clicked", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.click++
		s.mu.Unlock()
	})
	mux.HandleFunc("GET /focused", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.focus = true
		s.mu.Unlock()
	})
	mux.HandleFunc("GET /typed", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		s.mu.Lock()
		if n > s.seq {
			s.seq, s.typed = n, r.URL.Query().Get("v")
		}
		s.mu.Unlock()
	})
	addr := serveRouted(t, mux, 140, 160)
	s.url = "http://" + addr.String() + "/"
	return s
}

// serveRouted serves handler on a routed site (dockertest.StartRoutedSite)
// at the first free address of 203.0.113.first up to .last, until the
// test ends, and returns that address. Sessions cannot reach this host's
// own addresses; a routed one they reach like any web server.
func serveRouted(t *testing.T, handler http.Handler, first, last byte) netip.Addr {
	t.Helper()
	rs, err := dockertest.StartRoutedSite(context.Background(), dockertest.SiteAddrs(first, last))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(rs.Listener)
	t.Cleanup(func() {
		srv.Close()
		if err := rs.Close(); err != nil {
			t.Errorf("remove the routed site: %v", err)
		}
	})
	return rs.Addr
}

func (s *site) focused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.focus
}

func (s *site) seen() (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.click, s.typed
}

// turnAddr is where the test's TURN server listens and relays from: this
// host's address on its default route, which the viewer on this host and
// the sessions both reach. Not Docker's bridge gateway: relayed packets
// from it to a session network are masqueraded by Docker's NAT rule for
// the bridge's subnet, so the agent would see another source than the
// relay address the browser was given.
func turnAddr(t *testing.T) string {
	t.Helper()
	a, err := hostaddr.Outbound()
	if err == nil {
		return a.String()
	}
	t.Logf("%v: TURN on the Docker bridge's gateway", err)
	return bridgeGateway(t)
}

// bridgeGateway is the host's address on Docker's default bridge.
func bridgeGateway(t *testing.T) string {
	t.Helper()
	a, err := hostaddr.Bridge(context.Background(), dockertest.Client(t), "bridge")
	if err != nil {
		t.Fatal(err)
	}
	return a.String()
}

// freePort finds a port free for both UDP and TCP on host, for TURN.
func freePort(t *testing.T, host string) int {
	t.Helper()
	for range 20 {
		u, err := net.ListenPacket("udp4", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp4", net.JoinHostPort(host, strconv.Itoa(port)))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return 0
}

// ensureChromiumImage builds the Chromium workspace image (and its Debian
// base) when missing or when the agent binary changed.
func ensureChromiumImage(t *testing.T, bin string) {
	t.Helper()
	if out, err := exec.Command("bash", "../../scripts/build-base-image.sh").CombinedOutput(); err != nil {
		t.Fatalf("base image: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if _, err := imagebuild.Ensure(ctx, dockertest.Client(t), dockertest.ChromiumImage(), images.FS, "chromium", bin); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserSession is the user's path, in a real browser: log in to
// the portal, launch a Chromium workspace whose start page the test
// serves, see it (decoded frames, rising), click in it and type a word,
// and check that the page inside the container got both. Once over the
// direct path and once with ICE forced through TURN.
func TestBrowserSession(t *testing.T) {
	if testing.Short() {
		t.Skip("browser session: not in -short")
	}
	// Before the host's browser starts: a new interface makes it abort
	// requests in flight (ERR_NETWORK_CHANGED).
	s := startSite(t)
	browser := browsertest.Chromium(t)
	turnHost := turnAddr(t)
	turnPort := freePort(t, turnHost)
	env := startUp(t, "--turn-listen", net.JoinHostPort(turnHost, strconv.Itoa(turnPort)), "--turn-public-ip", turnHost)
	ensureChromiumImage(t, airlockBinary(t))

	c, _, err := apiClient()
	if err != nil {
		t.Fatal(err)
	}
	for name, env := range map[string]map[string]string{"e2e-chromium": nil, "e2e-chromium-h264": {"AIRLOCK_CODEC": "h264"}} {
		ws := map[string]any{"name": name, "description": "Chromium for the browser test", "image": dockertest.ChromiumImage(),
			"seccomp": "chromium", "clipboard": "both", "shm_size": 512 << 20, "memory": 2 << 30, "start_url": s.url, "env": env}
		if err := c.Do(context.Background(), http.MethodPost, "/api/v1/workspaces", ws, nil); err != nil {
			t.Fatalf("create workspace %s: %v", name, err)
		}
	}

	for _, tc := range []struct {
		name, workspace string
		query           string
		local           string // the viewer's local candidate type
		relayProto      string // its protocol to the TURN server, when relayed
		codec           string
	}{
		{"direct", "e2e-chromium", "", "", "", "VP8"},
		{"relay-only", "e2e-chromium", "?relay=1", "relay", "", "VP8"},
		// For networks that block UDP: TURN over TCP, on the same port.
		{"relay-tcp", "e2e-chromium", "?relay=tcp", "relay", "tcp", "VP8"},
		{"h264", "e2e-chromium-h264", "", "", "", "H264"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			viewSession(t, env, browser, s, tc.workspace, tc.query, tc.local, tc.relayProto, tc.codec)
		})
	}
}

func viewSession(t *testing.T, env *upEnv, browser string, s *site, workspace, query, wantLocal, wantRelayProto, wantCodec string) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox, // the test runs as root; this browser is the user's, not the isolated one
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	viewSessionIn(t, actx, env, s, workspace, query, wantLocal, wantRelayProto, wantCodec)
}

// viewSessionIn is viewSession in the browser that actx allocates (one
// started elsewhere, such as in a namespace behind a NAT).
func viewSessionIn(t *testing.T, actx context.Context, env *upEnv, s *site, workspace, query, wantLocal, wantRelayProto, wantCodec string) {
	clicks0, _ := s.seen()
	s.mu.Lock()
	s.focus, s.typed, s.seq = false, "", 0 // a new session: a new page
	s.mu.Unlock()
	bctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelB()
	ctx, cancel := context.WithTimeout(bctx, 4*time.Minute)
	defer cancel()

	// The first Run starts the browser and ties its life to its context;
	// the steps below run under shorter ones. The browser's failed
	// requests are kept for failure messages: a page only says "could not
	// reach the server", the browser says why.
	failed := &netFailures{}
	chromedp.ListenTarget(bctx, failed.listen)
	if err := chromedp.Run(bctx, cdpnetwork.Enable()); err != nil {
		t.Fatalf("start the browser: %v", err)
	}
	portalLaunch(t, ctx, env, env.server+"/"+query, workspace, failed)
	if query != "" {
		// The launch navigated to the viewer; open it again with the
		// query that forces relay-only ICE.
		var loc string
		if err := chromedp.Run(ctx, chromedp.Location(&loc)); err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(loc)
		u.RawQuery = strings.TrimPrefix(query, "?")
		if err := chromedp.Run(ctx, chromedp.Navigate(u.String()), chromedp.WaitVisible("#screen", chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
	}

	// Decoded frames, and their count rising.
	waitJS(t, ctx, "decoded video", `(() => { const v = document.querySelector('#screen'); return v && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 0 })()`)
	var f1, f2 int
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector('#screen').getVideoPlaybackQuality().totalVideoFrames`, &f1)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "frame count rising", fmt.Sprintf(`document.querySelector('#screen').getVideoPlaybackQuality().totalVideoFrames > %d`, f1))
	waitJS(t, ctx, "stats with the codec", `!!(window.airlockViewer && window.airlockViewer.stats && window.airlockViewer.stats.codec)`)
	var codec string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`window.airlockViewer.stats.codec`, &codec)); err != nil {
		t.Fatal(err)
	}
	if codec != wantCodec {
		t.Fatalf("the stream's codec is %q, want %q", codec, wantCodec)
	}
	if wantLocal != "" {
		waitJS(t, ctx, "stats with candidate types", `!!(window.airlockViewer && window.airlockViewer.stats && window.airlockViewer.stats.localCandidateType)`)
		var typ string
		if err := chromedp.Run(ctx, chromedp.Evaluate(`window.airlockViewer.stats.localCandidateType`, &typ)); err != nil {
			t.Fatal(err)
		}
		if typ != wantLocal {
			t.Fatalf("viewer's local candidate is %q, want %q", typ, wantLocal)
		}
	}
	if wantRelayProto != "" {
		var proto string
		if err := chromedp.Run(ctx, chromedp.Evaluate(`window.airlockViewer.stats.relayProtocol || ''`, &proto)); err != nil {
			t.Fatal(err)
		}
		if proto != wantRelayProto {
			t.Fatalf("viewer reaches TURN over %q, want %q", proto, wantRelayProto)
		}
	}

	// Click inside the remote page, on its text field, then type a word
	// into it. The viewer resizes the remote display to the video's size,
	// so page coordinates match.
	var box struct{ X, Y, W, H float64 }
	if err := chromedp.Run(ctx, chromedp.Evaluate(`(() => { const r = document.querySelector('#screen').getBoundingClientRect(); return {X: r.left, Y: r.top, W: r.width, H: r.height} })()`, &box)); err != nil {
		t.Fatal(err)
	}
	clickX, clickY := box.X+box.W*0.5, box.Y+box.H*0.4+20
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := chromedp.Run(ctx, chromedp.MouseClickXY(clickX, clickY)); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.seen(); n > clicks0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the remote page saw no click (viewer: %s)", viewerState(ctx))
		}
		// The remote page may still be loading, or not painted yet.
		time.Sleep(time.Second)
	}
	// Type once the remote field has focus and the viewer holds the
	// keyboard, so that no key goes to the wrong place.
	for deadline := time.Now().Add(20 * time.Second); !s.focused(); {
		if time.Now().After(deadline) {
			t.Fatalf("the remote text field never got focus (viewer: %s)", viewerState(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitJS(t, ctx, "the viewer to hold the keyboard", viewerHasKeyboard)
	word := "airlock"
	if err := chromedp.Run(ctx, chromedp.KeyEvent(word)); err != nil {
		t.Fatal(err)
	}
	// Typed once: a key lost at the start of typing fails the test.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, typed := s.seen()
		if typed == word {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the remote page has %q typed, want %q (viewer: %s)\nagent log:\n%s", typed, word, viewerState(ctx), agentLog(t))
		}
	}
	// The viewer draws the remote pointer: Chromium's cursors have no
	// names, so they come as images.
	waitJS(t, ctx, "the remote cursor's image", `document.querySelector('#screen').style.cursor.startsWith('url("data:image/png;base64,')`)
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector('#screen').getVideoPlaybackQuality().totalVideoFrames`, &f2)); err != nil {
		t.Fatal(err)
	}
	t.Logf("frames decoded: %d", f2)

	// The typed word is on the remote screen once the next frame arrives.
	time.Sleep(1500 * time.Millisecond)
	var shot []byte
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		shot, err = page.CaptureScreenshot().Do(ctx)
		return err
	})); err != nil {
		t.Fatal(err)
	}
	dir := t.ArtifactDir()
	if err := os.WriteFile(filepath.Join(dir, "viewer.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", filepath.Join(dir, "viewer.png"))
}

// portalLaunch is the user's way in, in ctx's browser: open the portal at
// start (the server's URL, with any query), sign in as the admin, launch
// workspace from the catalog and wait for the viewer. It returns the
// session's ID. The session ends with the test, as a user would end it:
// each test is a new session, and a user may hold only a few at once.
// failed, when not nil, holds the browser's failed requests for failure
// messages: a page only says "could not reach the server", the browser
// says why.
func portalLaunch(t *testing.T, ctx context.Context, env *upEnv, start, workspace string, failed *netFailures) string {
	t.Helper()
	// One step at a time, so that a failure names the step it hung in.
	for _, step := range []struct {
		what string
		act  chromedp.Action
	}{
		{"open the portal", chromedp.Navigate(start)},
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
			requests := "(not kept)"
			if failed != nil {
				requests = failed.String()
			}
			t.Fatalf("portal, %s: %v (viewer: %s)\nbrowser's failed requests: %s\nserver log:\n%s\nagent log:\n%s",
				step.what, err, viewerState(ctx), requests, env.logTail(30), agentLog(t))
		}
	}
	return viewedSession(t, ctx, env)
}

// viewedSession is the ID of the session the viewer in ctx shows, which
// it ends with the test.
func viewedSession(t *testing.T, ctx context.Context, env *upEnv) string {
	t.Helper()
	var loc string
	if err := chromedp.Run(ctx, chromedp.Location(&loc)); err != nil {
		t.Fatal(err)
	}
	_, id, ok := strings.Cut(loc, "#/session/")
	if !ok {
		t.Fatalf("the viewer's URL %q names no session", loc)
	}
	t.Cleanup(func() {
		c, _, err := apiClient()
		if err == nil {
			err = c.Do(context.Background(), http.MethodDelete, "/api/v1/sessions/"+id, nil, nil)
		}
		if err != nil {
			t.Errorf("end session %s: %v\nserver log:\n%s", id, err, env.logTail(30))
		}
	})
	return id
}

// netFailures keeps the browser's failed requests and why they failed.
type netFailures struct {
	mu   sync.Mutex
	urls map[cdpnetwork.RequestID]string
	list []string
}

func (f *netFailures) listen(ev any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch e := ev.(type) {
	case *cdpnetwork.EventRequestWillBeSent:
		if f.urls == nil {
			f.urls = map[cdpnetwork.RequestID]string{}
		}
		f.urls[e.RequestID] = e.Request.Method + " " + e.Request.URL
	case *cdpnetwork.EventLoadingFailed:
		f.list = append(f.list, fmt.Sprintf("%s: %s%s", f.urls[e.RequestID], e.ErrorText, map[bool]string{true: " (canceled)"}[e.Canceled]))
	}
}

func (f *netFailures) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.list) == 0 {
		return "none"
	}
	return strings.Join(f.list, "; ")
}

// viewerHasKeyboard is true when the viewer's keys go to the session: its
// keyboard surface (a hidden text area, where input methods compose) has
// the focus.
const viewerHasKeyboard = `document.activeElement === document.querySelector('#kbd-input')`

func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if err := chromedp.Run(ctx, chromedp.Poll(expr, nil, chromedp.WithPollingTimeout(90*time.Second))); err != nil {
		t.Fatalf("waiting for %s: %v (viewer: %s)", what, err, viewerState(ctx))
	}
}

// viewerState is the viewer's own account of itself, for failure messages.
func viewerState(ctx context.Context) string {
	var s string
	// Without the caller's cancellation: the state matters most when the
	// caller's deadline is what failed.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = chromedp.Run(sctx, chromedp.Evaluate(`JSON.stringify({state: window.airlockViewer && window.airlockViewer.state, error: window.airlockViewer && window.airlockViewer.error, stats: window.airlockViewer && window.airlockViewer.stats, unsent: window.airlockViewer && window.airlockViewer.unsent, text: document.body.innerText.slice(0, 300), focus: document.activeElement && (document.activeElement.id || document.activeElement.tagName)})`, &s))
	return s
}

// agentLog is the tail of the session agents' own log lines, for
// failures; Chromium's chatter on the same stream is left out.
func agentLog(t *testing.T) string {
	cli := dockertest.Client(t)
	ctx := context.Background()
	list, err := cli.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", airlock.LabelSession))})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, c := range list {
		rc, err := cli.ContainerLogs(ctx, c.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", c.ID[:12], err)
			continue
		}
		var out bytes.Buffer
		_, _ = stdcopy.StdCopy(&out, &out, rc)
		rc.Close()
		var lines []string
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, "time=") {
				lines = append(lines, l)
			}
		}
		lines = lines[max(0, len(lines)-40):]
		fmt.Fprintf(&b, "--- %s\n%s\n", c.ID[:12], strings.Join(lines, "\n"))
	}
	return b.String()
}
