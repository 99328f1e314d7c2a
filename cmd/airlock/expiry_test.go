package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/browsertest"
	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// expiryUp is airlock up with heartbeats and lifecycle rounds every
// second, so that limits of seconds are judged to about a second.
func expiryUp(t *testing.T) *upEnv {
	t.Helper()
	return startUp(t, "--agent-heartbeat=1s", "--lifecycle-every=1s")
}

// addWorkspace creates a workspace through the API.
func addWorkspace(t *testing.T, ws map[string]any) {
	t.Helper()
	c, _, err := apiClient()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Do(context.Background(), http.MethodPost, "/api/v1/workspaces", ws, nil); err != nil {
		t.Fatalf("create workspace %v: %v", ws["name"], err)
	}
}

// shownSession is what `session show -o json` says of a session's end.
type shownSession struct {
	State     string `json:"state"`
	Reason    string `json:"reason"`
	EndReason string `json:"end_reason"`
}

func (e *upEnv) show(t *testing.T, id string) shownSession {
	t.Helper()
	var s shownSession
	if err := json.Unmarshal([]byte(e.cli(t, "session", "show", id, "-o", "json")), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// ended waits for session id to end, and checks its end and that its
// container is gone.
func (e *upEnv) ended(t *testing.T, id, end, reason string, within time.Duration) {
	t.Helper()
	var s shownSession
	for deadline := time.Now().Add(within); ; time.Sleep(250 * time.Millisecond) {
		if s = e.show(t, id); s.State == "stopped" || s.State == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s is still %s after %s\nserver log:\n%s", id, s.State, within, e.logTail(30))
		}
	}
	if s.State != "stopped" || s.EndReason != end || !strings.Contains(s.Reason, reason) {
		t.Fatalf("session %s: %+v; want stopped for %s, the reason containing %q", id, s, end, reason)
	}
	list, err := dockertest.Client(t).ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", airlock.LabelSession+"="+id))})
	if err != nil || len(list) != 0 {
		t.Fatalf("session %s ended for %s but left its container: %v %+v", id, end, err, list)
	}
}

// TestSessionExpiry: sessions end at their workspace's idle timeout and
// lifetime, on a real dockerd, with the reason kept and the container
// gone.
func TestSessionExpiry(t *testing.T) {
	env := expiryUp(t)
	t.Run("idle-without-viewer", func(t *testing.T) {
		addWorkspace(t, map[string]any{"name": "idle-min", "image": "airlock/minimal:latest", "memory": 64 << 20,
			"idle_timeout": "4s", "lifetime": "10m"})
		id := env.cli(t, "session", "create", "idle-min", "--wait")
		start := time.Now()
		env.ended(t, id, "idle", "after 4s with no viewer and no input", time.Minute)
		if d := time.Since(start); d < 3*time.Second {
			t.Fatalf("the session ended %s after it was ready, before its idle timeout of 4s", d)
		}
	})
	t.Run("lifetime", func(t *testing.T) {
		addWorkspace(t, map[string]any{"name": "short-life", "image": "airlock/minimal:latest", "memory": 64 << 20,
			"idle_timeout": "10m", "lifetime": "6s", "max_lifetime": "6s"})
		id := env.cli(t, "session", "create", "short-life", "--wait")
		if out, code := env.try("session", "extend", id); code == 0 || !strings.Contains(out, "cannot be extended") {
			t.Fatalf("extend past a lifetime that allows none: exit %d: %s", code, out)
		}
		env.ended(t, id, "lifetime", "reached the end of its lifetime", time.Minute)
	})
	t.Run("suspend-and-resume", func(t *testing.T) {
		addWorkspace(t, map[string]any{"name": "suspend-min", "image": "airlock/minimal:latest", "memory": 64 << 20,
			"idle_timeout": "3s", "lifetime": "10m", "on_expiry": "suspend", "resume_grace": "20s"})
		id := env.cli(t, "session", "create", "suspend-min", "--wait")
		first := sessionContainer(t, id)
		if out, code := env.try("session", "resume", id); code == 0 || !strings.Contains(out, "only a suspended session can be resumed") {
			t.Fatalf("resume of a ready session: exit %d: %s", code, out)
		}
		s := env.suspended(t, id, time.Minute)
		if s.EndReason != "idle" || !strings.Contains(s.Reason, "it is suspended and can be resumed until") {
			t.Fatalf("suspended session %s: %+v; want idle, with until when it can be resumed", id, s)
		}
		// Kept: the same container, stopped, and its network.
		if c := sessionContainer(t, id); c.ID != first.ID || c.State != "exited" {
			t.Fatalf("suspended session's container: %s %s; want %s exited", c.ID, c.State, first.ID)
		}
		sessionNetwork(t, id)
		if out := env.cli(t, "session", "resume", id, "--wait"); !strings.Contains(out, "ready") {
			t.Fatalf("session resume --wait: %s", out)
		}
		// Its agent registered again, in the same container.
		if c := sessionContainer(t, id); c.ID != first.ID || c.State != "running" {
			t.Fatalf("resumed session's container: %s %s; want %s running", c.ID, c.State, first.ID)
		}
		if s := env.show(t, id); s.State != "ready" || s.EndReason != "" {
			t.Fatalf("resumed session %s: %+v; want ready with no end", id, s)
		}
		// Left alone again it is suspended again, and removed once its
		// grace is over, with its network.
		env.suspended(t, id, time.Minute)
		env.ended(t, id, "idle", "suspended and not resumed in time", time.Minute)
		if n, err := dockertest.Client(t).NetworkList(context.Background(), network.ListOptions{
			Filters: filters.NewArgs(filters.Arg("label", airlock.LabelSession+"="+id))}); err != nil || len(n) != 0 {
			t.Fatalf("session %s was removed but left its network: %v %+v", id, err, n)
		}
		if out, code := env.try("session", "resume", id); code == 0 || !strings.Contains(out, "not suspended") {
			t.Fatalf("resume of a removed session: exit %d: %s", code, out)
		}
	})
}

// suspended waits for session id to be suspended.
func (e *upEnv) suspended(t *testing.T, id string, within time.Duration) shownSession {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(250 * time.Millisecond) {
		s := e.show(t, id)
		if s.State == "suspended" {
			return s
		}
		if s.State == "stopped" || s.State == "failed" || time.Now().After(deadline) {
			t.Fatalf("session %s is %s (%s), not suspended, after up to %s\nserver log:\n%s", id, s.State, s.Reason, within, e.logTail(30))
		}
	}
}

// sessionContainer is the one container of session id on the dockerd.
func sessionContainer(t *testing.T, id string) container.Summary {
	t.Helper()
	list, err := dockertest.Client(t).ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", airlock.LabelSession+"="+id))})
	if err != nil || len(list) != 1 {
		t.Fatalf("containers of session %s: %v %+v; want one", id, err, list)
	}
	return list[0]
}

// sessionNetwork checks that session id has its network.
func sessionNetwork(t *testing.T, id string) {
	t.Helper()
	list, err := dockertest.Client(t).NetworkList(context.Background(), network.ListOptions{
		Filters: filters.NewArgs(filters.Arg("label", airlock.LabelSession+"="+id))})
	if err != nil || len(list) != 1 {
		t.Fatalf("networks of session %s: %v %+v; want one", id, err, list)
	}
}

// TestBrowserExpiryWarning: a real viewer warns before an idle end, Keep
// working holds the session, and left alone again the viewer says why it
// ended.
func TestBrowserExpiryWarning(t *testing.T) {
	if testing.Short() {
		t.Skip("browser session: not in -short")
	}
	// Before the host's browser starts: a new interface makes it abort
	// requests in flight (ERR_NETWORK_CHANGED).
	site := startWindowSite(t)
	browser := browsertest.Chromium(t)
	env := expiryUp(t)
	ensureChromiumImage(t, airlockBinary(t))
	addWorkspace(t, map[string]any{"name": "e2e-expiry", "image": dockertest.ChromiumImage(), "seccomp": "chromium",
		"shm_size": 512 << 20, "memory": 2 << 30, "start_url": site.url + "/first",
		"idle_timeout": "20s", "viewer_idle_timeout": "40s", "lifetime": "10m", "max_lifetime": "20m"})
	ctx := openWindowViewer(t, site, env, browser, "e2e-expiry")
	id := viewerSession(t, ctx)
	// No input from the viewer: the warning comes inside the last 10s
	// of the 40s a connected viewer is allowed.
	waitJS(t, ctx, "the idle warning", `(() => { const e = window.airlockViewer.expiry;
  return !!e && e.shown && e.endsFor === 'idle' && e.seconds <= 10 && !document.querySelector('#expiry').hidden })()`)
	var text string
	if err := chromedp.Run(ctx, chromedp.Text("#expiry-text", &text, chromedp.ByQuery)); err != nil || !strings.Contains(text, "no input") {
		t.Fatalf("the warning says %q (%v)", text, err)
	}
	if err := chromedp.Run(ctx, chromedp.Click("#expiry-keep", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the warning gone after Keep working", `(() => { const e = window.airlockViewer.expiry;
  return !!e && !e.shown && e.seconds > 20 && document.querySelector('#expiry').hidden })()`)
	if s := env.show(t, id); s.State != "ready" {
		t.Fatalf("after Keep working the session is %+v", s)
	}
	// Left alone again: the warning, then the end, which the viewer
	// explains.
	waitJS(t, ctx, "the idle warning again", `(() => { const e = window.airlockViewer.expiry; return !!e && e.shown })()`)
	waitJS(t, ctx, "the viewer to say the session ended for want of input", `(() => {
  const v = window.airlockViewer; return v.state === 'ended' && v.error.includes('without input') })()`)
	env.ended(t, id, "idle", "after 40s without input", 10*time.Second)
}

// viewerSession is the ID of the session the viewer in ctx shows.
func viewerSession(t *testing.T, ctx context.Context) string {
	t.Helper()
	var loc string
	if err := chromedp.Run(ctx, chromedp.Location(&loc)); err != nil {
		t.Fatal(err)
	}
	_, id, ok := strings.Cut(loc, "#/session/")
	if !ok {
		t.Fatalf("the viewer's URL %q names no session", loc)
	}
	return id
}
