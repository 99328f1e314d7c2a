package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/airlock-rbi/airlock/internal/browsertest"
	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// policyPage is the remote page of TestBrowserPolicy. It reports what the
// session's Chromium says of itself: its language and time zone, whether
// a frame on a blocked URL loaded, and whether CJK text and emoji have
// real glyphs. A missing glyph is the font's .notdef box, the same for
// every character, so two different characters drawing alike means no
// font has them; an emoji drawn in colour means a colour emoji font.
const policyPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>airlock policy</title></head><body>
<p lang="ja">漢字かな 한국어 😀</p>
<script>
function glyph(ch) {
  const c = document.createElement('canvas');
  c.width = c.height = 64;
  const x = c.getContext('2d');
  x.font = '48px sans-serif';
  x.textBaseline = 'top';
  x.fillStyle = '#000';
  x.fillText(ch, 4, 4);
  return x.getImageData(0, 0, 64, 64).data;
}
function same(a, b) {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
function inked(d) {
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true;
  return false;
}
function colored(d) {
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] > 0 && (Math.abs(d[i] - d[i + 1]) > 40 || Math.abs(d[i + 1] - d[i + 2]) > 40)) return true;
  }
  return false;
}
const han = glyph('漢'), ji = glyph('字'), kana = glyph('か'), hangul = glyph('한');
const report = {
  ws: new URLSearchParams(location.search).get('ws'),
  lang: navigator.language,
  tz: Intl.DateTimeFormat().resolvedOptions().timeZone,
  // The renderer's default locale is Chromium's UI language: it is the
  // session's only when Chromium found its .pak (chromium-l10n).
  ui: Intl.DateTimeFormat().resolvedOptions().locale,
  cjk: inked(han) && !same(han, ji) && !same(kana, hangul) && !same(han, kana),
  emoji: colored(glyph('😀')),
};
// The blocked frame first: its load event (an error page's, when the
// policy refuses it) comes before the allowed frame is even made, so by
// the allowed frame's report the blocked one has had its chance.
const blocked = document.createElement('iframe');
blocked.onload = () => {
  try {
    report.blocked = blocked.contentWindow.location.href;
  } catch (e) {
    report.blocked = 'inaccessible';
  }
  const allowed = document.createElement('iframe');
  allowed.src = '/allowed-frame?ws=' + report.ws;
  allowed.onload = () => {
    report.allowed = allowed.contentDocument.body.textContent;
    fetch('/report?' + new URLSearchParams(Object.entries(report).map(([k, v]) => [k, String(v)])));
  };
  document.body.appendChild(allowed);
};
blocked.src = '/blocked-frame?ws=' + report.ws;
document.body.appendChild(blocked);
</script></body></html>`

// policySite serves policyPage and keeps what its pages report and which
// of its frames were asked for.
type policySite struct {
	url, host string
	mu        sync.Mutex
	reports   map[string]url.Values // by workspace
	frames    map[string]int        // path?ws=... -> requests
	changed   chan struct{}
}

func startPolicySite(t *testing.T) *policySite {
	t.Helper()
	s := &policySite{reports: map[string]url.Values{}, frames: map[string]int{}, changed: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, policyPage)
	})
	frame := func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.frames[r.URL.Path+"?ws="+r.URL.Query().Get("ws")]++
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><body>loaded</body>")
	}
	mux.HandleFunc("GET /blocked-frame", frame)
	mux.HandleFunc("GET /allowed-frame", frame)
	mux.HandleFunc("GET /report", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		s.mu.Lock()
		s.reports[q.Get("ws")] = q
		s.mu.Unlock()
		select {
		case s.changed <- struct{}{}:
		default:
		}
	})
	addr := serveRouted(t, mux, 160, 180)
	s.host = addr.String()
	s.url = "http://" + s.host + "/"
	return s
}

// report waits for the report of the page of workspace ws.
func (s *policySite) report(t *testing.T, ctx context.Context, ws string, diag func() string) url.Values {
	t.Helper()
	for {
		s.mu.Lock()
		r, ok := s.reports[ws]
		s.mu.Unlock()
		if ok {
			return r
		}
		select {
		case <-s.changed:
		case <-ctx.Done():
			t.Fatalf("the remote page of %s never reported: %s", ws, diag())
		}
	}
}

func (s *policySite) requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames[path]
}

// TestBrowserPolicy launches Chromium sessions through the portal and
// checks, from inside the remote page, the workspace's browser options:
// a workspace's fixed locale and time zone win over the viewer's, and
// without them the viewer's own (sent with the launch) reach the page,
// Chromium's UI language included;
// a frame on a URL the workspace blocks is refused without the site ever
// being asked; CJK text and emoji have real glyphs.
func TestBrowserPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("browser session: not in -short")
	}
	s := startPolicySite(t)
	browser := browsertest.Chromium(t)
	env := startUp(t)
	ensureChromiumImage(t, airlockBinary(t))
	c, _, err := apiClient()
	if err != nil {
		t.Fatal(err)
	}
	blockedPattern := "http://" + s.host + "/blocked-frame"
	for _, ws := range []map[string]any{
		{"name": "e2e-policy-fixed", "locale": "ja-JP", "timezone": "Asia/Tokyo", "start_url": s.url + "?ws=e2e-policy-fixed"},
		{"name": "e2e-policy-viewer", "start_url": s.url + "?ws=e2e-policy-viewer"},
	} {
		for k, v := range map[string]any{"image": dockertest.ChromiumImage(), "seccomp": "chromium", "shm_size": 512 << 20,
			"memory": 2 << 30, "browser": map[string]any{"url_blocklist": []string{blockedPattern}}} {
			ws[k] = v
		}
		if err := c.Do(context.Background(), http.MethodPost, "/api/v1/workspaces", ws, nil); err != nil {
			t.Fatalf("create workspace %s: %v", ws["name"], err)
		}
	}

	for _, tc := range []struct {
		name, workspace string
		// The viewer's own language and time zone, set in the host's
		// browser before the launch; empty: the browser's defaults.
		viewerLang, viewerTZ string
		lang, tz             string
	}{
		{name: "workspace-fixed", workspace: "e2e-policy-fixed", viewerLang: "fr-FR", viewerTZ: "Europe/Paris", lang: "ja-JP", tz: "Asia/Tokyo"},
		{name: "viewer", workspace: "e2e-policy-viewer", viewerLang: "fr-FR", viewerTZ: "Europe/Paris", lang: "fr-FR", tz: "Europe/Paris"},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
			ctx, cancel := context.WithTimeout(bctx, 4*time.Minute)
			defer cancel()
			var ua string
			if err := chromedp.Run(bctx, chromedp.Evaluate(`navigator.userAgent`, &ua)); err != nil {
				t.Fatalf("start the browser: %v", err)
			}
			launchInPortal(t, ctx, env, tc.workspace,
				emulation.SetUserAgentOverride(ua).WithAcceptLanguage(tc.viewerLang),
				emulation.SetTimezoneOverride(tc.viewerTZ))
			diag := func() string {
				return fmt.Sprintf("viewer: %s\nagent log:\n%s", viewerState(ctx), agentLog(t))
			}
			r := s.report(t, ctx, tc.workspace, diag)
			t.Logf("the remote page of %s reports %v", tc.workspace, r)
			if r.Get("lang") != tc.lang || r.Get("tz") != tc.tz {
				t.Errorf("the remote page has navigator.language %q and time zone %q; want %q and %q", r.Get("lang"), r.Get("tz"), tc.lang, tc.tz)
			}
			if ui, _, _ := strings.Cut(tc.lang, "-"); !strings.HasPrefix(r.Get("ui"), ui) {
				t.Errorf("Chromium's UI language (the page's Intl locale) is %q; want %s, the language of %s", r.Get("ui"), ui, tc.lang)
			}
			if n := s.requests("/blocked-frame?ws=" + tc.workspace); n != 0 {
				t.Errorf("the site was asked %d times for the blocked frame (%s); the policy should refuse it", n, blockedPattern)
			}
			if r.Get("allowed") != "loaded" || s.requests("/allowed-frame?ws="+tc.workspace) != 1 {
				t.Errorf("the allowed frame: %q, asked for %d times; want it loaded once", r.Get("allowed"), s.requests("/allowed-frame?ws="+tc.workspace))
			}
			if b := r.Get("blocked"); b != "inaccessible" && !strings.HasPrefix(b, "chrome-error:") {
				t.Errorf("the blocked frame shows %q; want Chromium's error page", b)
			}
			if r.Get("cjk") != "true" {
				t.Errorf("CJK characters draw alike or not at all: no CJK font")
			}
			if r.Get("emoji") != "true" {
				t.Errorf("an emoji draws without colour: no colour emoji font")
			}
		})
	}
}

// launchInPortal runs before (the viewer's own settings), then signs in
// to the portal as admin and launches workspace (portalLaunch).
func launchInPortal(t *testing.T, ctx context.Context, env *upEnv, workspace string, before ...chromedp.Action) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	err := chromedp.Run(sctx, chromedp.Tasks(before))
	cancel()
	if err != nil {
		t.Fatalf("the viewer's settings: %v", err)
	}
	portalLaunch(t, ctx, env, env.server+"/", workspace, nil)
}
