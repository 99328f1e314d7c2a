package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/airlock-rbi/airlock/internal/browsertest"
	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// toneHz is the remote page's tone, and what the viewer listens for.
const toneHz = 1500

// tonePage plays a tone from its first click, through WebAudio as a page
// would, and stops it (the context left running, playing silence) on the
// second.
const tonePage = `<!doctype html>
<html><head><title>airlock audio</title><style>
html,body{margin:0;height:100%;background:#803070;font:32px sans-serif;color:#fff}
#status{position:fixed;left:30%;top:40%}
</style></head><body>
<div id="status">click to play a tone</div>
<script>
let ctx = null, osc = null, n = 0;
document.addEventListener('mousedown', () => {
  n++;
  if (!ctx) ctx = new AudioContext();
  if (osc) {
    osc.stop();
    osc = null;
    document.getElementById('status').textContent = 'stopped';
  } else {
    osc = new OscillatorNode(ctx, {frequency: ` + "TONE" + `});
    const gain = new GainNode(ctx, {gain: 0.5});
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    document.getElementById('status').textContent = 'playing';
  }
  fetch('/clicked?n=' + n + '&t=' + Date.now());
});
</script></body></html>`

// toneSite serves tonePage on a routed address, as startSite does, and
// counts the clicks the page saw.
type toneSite struct {
	url     string
	mu      sync.Mutex
	clicks  int // clicks seen
	last    int // the page's own count at the last one
	reloads int // times that count went back
}

func startToneSite(t *testing.T) *toneSite {
	t.Helper()
	s := &toneSite{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, strings.Replace(tonePage, "TONE", strconv.Itoa(toneHz), 1))
	})
	mux.HandleFunc("GET /clicked", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		s.mu.Lock()
		if n <= s.last {
			s.reloads++ // the page started again: its tone too
		}
		s.clicks, s.last = s.clicks+1, n
		s.mu.Unlock()
	})
	addr := serveRouted(t, mux, 160, 180)
	s.url = "http://" + addr.String() + "/"
	return s
}

func (s *toneSite) seen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clicks
}

func (s *toneSite) reloaded() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reloads
}

// listenJS sets up window.__tone() in the viewer: a WebAudio analyser on
// the received sound track, returning the level in dB at the tone's
// frequency and at one far from it.
const listenJS = `(() => {
  const ctx = new AudioContext();
  const an = ctx.createAnalyser();
  an.fftSize = 1024;
  an.smoothingTimeConstant = 0;
  ctx.createMediaStreamSource(document.getElementById('sound').srcObject).connect(an);
  const buf = new Float32Array(an.frequencyBinCount);
  const bin = (f) => Math.round(f / (ctx.sampleRate / an.fftSize));
  window.__tone = () => {
    an.getFloatFrequencyData(buf);
    return {at: buf[bin(TONE)], off: buf[bin(TONE * 3.3)], state: ctx.state};
  };
  return ctx.state;
})()`

// heardJS is true while the tone is clearly in the received sound.
const heardJS = `(() => { const l = window.__tone(); return l.at > -70 && l.at - l.off > 25; })()`

// audioPacketsJS is the viewer's count of received audio packets (0
// before the first).
const audioPacketsJS = `(async () => {
  let n = 0;
  (await window.airlockViewer.pc.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'audio') n = r.packetsReceived;
  });
  return n;
})()`

// TestBrowserAudio: a tone the remote page plays reaches the viewer as
// sound, detected at its frequency by a WebAudio analyser on the
// received track; the sound is muted until the user's first gesture and
// the speaker button mutes and unmutes it; a still page, and a page
// whose sound has stopped, send no audio packets at all.
func TestBrowserAudio(t *testing.T) {
	if testing.Short() {
		t.Skip("browser audio: not in -short")
	}
	s := startToneSite(t)
	browser := browsertest.Chromium(t)
	// Before the server starts: its node allows the images it finds then.
	ensureChromiumImage(t, airlockBinary(t))
	turnHost := turnAddr(t)
	env := startUp(t, "--turn-listen", net.JoinHostPort(turnHost, strconv.Itoa(freePort(t, turnHost))), "--turn-public-ip", turnHost)
	c, _, err := apiClient()
	if err != nil {
		t.Fatal(err)
	}
	ws := map[string]any{"name": "e2e-audio", "description": "Chromium with sound, for the browser test", "image": dockertest.ChromiumImage(),
		"seccomp": "chromium", "shm_size": 512 << 20, "memory": 2 << 30, "start_url": s.url}
	if err := c.Do(context.Background(), http.MethodPost, "/api/v1/workspaces", ws, nil); err != nil {
		t.Fatalf("create workspace: %v", err)
	}
	ctx := openViewer(t, env, browser, "e2e-audio")
	if err := chromedp.Run(ctx, chromedp.Poll(`(() => { const v = document.querySelector('#screen'); return v && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 0 })()`,
		nil, chromedp.WithPollingTimeout(90*time.Second))); err != nil {
		t.Fatalf("waiting for decoded video: %v (viewer: %s)\nserver log:\n%s\nagent log:\n%s", err, viewerState(ctx), env.logTail(30), agentLog(t))
	}

	// The launch click was a gesture in the portal, so sound is on at
	// once; a viewer opened afresh (a reload, a link) has had none.
	waitJS(t, ctx, "sound on after the launch click", `window.airlockViewer.audio === 'on' && !document.getElementById('sound').muted`)
	if err := chromedp.Run(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "decoded video after the reload", `(() => { const v = document.querySelector('#screen'); return v && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 0 })()`)
	// The sound track is there, muted: no gesture yet.
	waitJS(t, ctx, "the sound track, muted until a gesture", `window.airlockViewer.audio === 'waiting'`)
	var muted, hidden bool
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.getElementById('sound').muted`, &muted),
		chromedp.Evaluate(`document.getElementById('speaker').hidden`, &hidden)); err != nil {
		t.Fatal(err)
	}
	if !muted || hidden {
		t.Fatalf("before any gesture: sound muted %v (want true), speaker hidden %v (want false)", muted, hidden)
	}
	var state string
	if err := chromedp.Run(ctx, chromedp.Evaluate(strings.ReplaceAll(listenJS, "TONE", strconv.Itoa(toneHz)), &state)); err != nil {
		t.Fatal(err)
	}
	t.Logf("viewer's analyser: %s", state)

	// A still page sends nothing.
	stillAudio(t, ctx, "a still page")

	// The first click is the viewer's gesture (sound on) and the remote
	// page's (tone on).
	var box struct{ X, Y, W, H float64 }
	if err := chromedp.Run(ctx, chromedp.Evaluate(`(() => { const r = document.querySelector('#screen').getBoundingClientRect(); return {X: r.left, Y: r.top, W: r.width, H: r.height} })()`, &box)); err != nil {
		t.Fatal(err)
	}
	click := func(n int) {
		t.Helper()
		if r := s.reloaded(); r > 0 {
			t.Fatalf("the remote page was loaded again %d times (agent log:\n%s)", r, agentLog(t))
		}
		// The first may land before the page has loaded: click until the
		// page has seen it.
		for deadline := time.Now().Add(30 * time.Second); s.seen() < n; time.Sleep(time.Second) {
			if time.Now().After(deadline) {
				t.Fatalf("the remote page saw %d clicks, want %d; loaded again %d times (viewer: %s; screenshot: %s)\nagent log:\n%s", s.seen(), n, s.reloaded(), viewerState(ctx), screenshot(t, ctx), agentLog(t))
			}
			if err := chromedp.Run(ctx, chromedp.MouseClickXY(box.X+box.W/2, box.Y+box.H/2)); err != nil {
				t.Fatal(err)
			}
		}
	}
	click(1)
	waitJS(t, ctx, "sound on after the first gesture", `window.airlockViewer.audio === 'on' && !document.getElementById('sound').muted`)
	waitJS(t, ctx, "the tone in the viewer's sound", heardJS)
	var pkts int
	if err := chromedp.Run(ctx, chromedp.Evaluate(audioPacketsJS, &pkts, awaitPromise)); err != nil {
		t.Fatal(err)
	}
	t.Logf("audio packets received with the tone: %d", pkts)

	// The speaker button mutes and unmutes.
	for _, want := range []string{"off", "on"} {
		if err := chromedp.Run(ctx, chromedp.Click("#speaker", chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, "sound "+want+" after a click on the speaker",
			fmt.Sprintf(`window.airlockViewer.audio === %q && document.getElementById('sound').muted === %v && document.getElementById('speaker').getAttribute('aria-pressed') === %q`,
				want, want == "off", strconv.FormatBool(want == "on")))
	}

	// The tone stops; the page's audio context plays on, in silence,
	// which the agent does not send either.
	click(2)
	waitJS(t, ctx, "the tone gone from the viewer's sound", `!`+heardJS)
	stillAudio(t, ctx, "a page whose sound stopped")
}

// screenshot saves the viewer's tab in the test's artifacts and returns
// its path, for failures.
func screenshot(t *testing.T, ctx context.Context) string {
	var shot []byte
	if err := chromedp.Run(ctx, chromedp.CaptureScreenshot(&shot)); err != nil {
		return err.Error()
	}
	p := filepath.Join(t.ArtifactDir(), "viewer.png")
	if err := os.WriteFile(p, shot, 0o644); err != nil {
		return err.Error()
	}
	return p
}

// awaitPromise makes Evaluate wait for an async expression.
func awaitPromise(p *cdpruntime.EvaluateParams) *cdpruntime.EvaluateParams {
	return p.WithAwaitPromise(true)
}

// stillAudio checks that no audio packet arrives for a few seconds once
// the packets in flight are in: silence costs nothing on the wire.
func stillAudio(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	var prev, n int
	// Packets already sent (the end of a sound) arrive within a second.
	for deadline := time.Now().Add(20 * time.Second); ; prev = n {
		time.Sleep(time.Second)
		if err := chromedp.Run(ctx, chromedp.Evaluate(audioPacketsJS, &n, awaitPromise)); err != nil {
			t.Fatal(err)
		}
		if n == prev {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: audio packets still arriving after 20s (%d)", what, n)
		}
	}
	time.Sleep(3 * time.Second)
	var after int
	if err := chromedp.Run(ctx, chromedp.Evaluate(audioPacketsJS, &after, awaitPromise)); err != nil {
		t.Fatal(err)
	}
	if after != n {
		t.Fatalf("%s: %d audio packets arrived in 3s of silence (%d before)", what, after-n, n)
	}
	t.Logf("%s: no audio packet in 3s (%d received so far)", what, n)
}

// openViewer logs in to the portal in a new browser, launches workspace
// and returns the browser's context, on the viewer, once it shows the
// session. The session ends with the test.
func openViewer(t *testing.T, env *upEnv, browser, workspace string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox, // the test runs as root; this browser is the user's, not the isolated one
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	bctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelB)
	ctx, cancel := context.WithTimeout(bctx, 5*time.Minute)
	t.Cleanup(cancel)
	if err := chromedp.Run(bctx); err != nil {
		t.Fatalf("start the browser: %v", err)
	}
	portalLaunch(t, ctx, env, env.server+"/", workspace, nil)
	return ctx
}
