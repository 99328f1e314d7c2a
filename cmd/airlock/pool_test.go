package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/airlock-rbi/airlock/internal/browsertest"
	"github.com/airlock-rbi/airlock/internal/cli"
	"github.com/airlock-rbi/airlock/internal/dockertest"
)

type poolSession struct {
	ID          string     `json:"id"`
	User        string     `json:"user_id"`
	State       string     `json:"state"`
	Reason      string     `json:"reason"`
	HeartbeatAt *time.Time `json:"heartbeat_at"`
	// Connect is the relay token a warm launch's answer carries.
	Connect *struct {
		Token     string `json:"token"`
		SignalURL string `json:"signal_url"`
	} `json:"connect"`
}

// warmIDs are the IDs of the warm sessions the server lists.
func warmIDs(t *testing.T, c *cli.Client) map[string]bool {
	t.Helper()
	var all []poolSession
	if err := c.Do(context.Background(), http.MethodGet, "/api/v1/sessions?all=1&active=1", nil, &all); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, s := range all {
		if s.State == "warm" {
			out[s.ID] = true
		}
	}
	return out
}

// waitPool waits until the pool of workspace holds warm sessions.
func waitPool(t *testing.T, env *upEnv, workspace string, warm int, within time.Duration) {
	t.Helper()
	var list []poolState
	for deadline := time.Now().Add(within); ; time.Sleep(250 * time.Millisecond) {
		if err := json.Unmarshal([]byte(env.cli(t, "pool", "ls", "-o", "json")), &list); err != nil {
			t.Fatal(err)
		}
		for _, p := range list {
			if p.Workspace == workspace && p.Warm == warm && p.Starting == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pool of %s did not reach %d warm sessions within %s: %+v\nserver log:\n%s", workspace, warm, within, list, env.logTail(30))
		}
	}
}

// TestWarmPool: 50 launches at once against a pool of 10 on a real
// dockerd: each gets a warm session or a cold one, none gets one another
// got, none is lost, the warm ones are ready at once and their agents
// (handed a fresh credential) keep heartbeating, and the pool refills;
// emptied, the pool stops its warm sessions.
func TestWarmPool(t *testing.T) {
	env := startUp(t, "--agent-heartbeat=1s", "--lifecycle-every=1s", "--capacity=64", "--max-sessions=64")
	c, _, err := apiClient()
	if err != nil {
		t.Fatal(err)
	}
	if out := env.cli(t, "pool", "set", "minimal", "--size", "10", "--max-age", "1h"); !strings.Contains(out, "size 10") {
		t.Fatalf("pool set: %s", out)
	}
	waitPool(t, env, "minimal", 10, 2*time.Minute)
	warm := warmIDs(t, c)
	if len(warm) != 10 {
		t.Fatalf("%d warm sessions listed, want 10", len(warm))
	}

	const launches = 50
	got := make([]poolSession, launches)
	errs := make([]error, launches)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range launches {
		wg.Go(func() {
			errs[i] = c.Do(context.Background(), http.MethodPost, "/api/v1/sessions",
				map[string]any{"workspace": "minimal", "launch_key": fmt.Sprintf("pool-test-%d", i)}, &got[i])
		})
	}
	wg.Wait()
	handedOut := time.Now()
	seen := map[string]int{}
	warmOut := 0
	for i, s := range got {
		if errs[i] != nil {
			t.Fatalf("launch %d: %v", i, errs[i])
		}
		if j, dup := seen[s.ID]; dup {
			t.Fatalf("launches %d and %d got the same session %s", j, i, s.ID)
		}
		seen[s.ID] = i
		switch {
		case s.State == "ready":
			if !warm[s.ID] {
				t.Fatalf("launch %d was ready at once with %s, not one of the pool's", i, s.ID)
			}
			// Its viewer opens the relay without asking for a token.
			if s.Connect == nil || s.Connect.Token == "" || !strings.HasSuffix(s.Connect.SignalURL, "/api/v1/signal") {
				t.Fatalf("launch %d handed out %s without the relay's token: %+v", i, s.ID, s.Connect)
			}
			warmOut++
		case warm[s.ID]:
			t.Fatalf("launch %d got the pool's %s as %s", i, s.ID, s.State)
		case s.Connect != nil:
			t.Fatalf("launch %d of %s, %s, came with a relay token", i, s.ID, s.State)
		}
	}
	if warmOut == 0 || warmOut > 10 {
		t.Fatalf("%d launches got a warm session, want 1 to 10", warmOut)
	}
	t.Logf("%d launches in %s: %d warm, %d cold", launches, handedOut.Sub(start).Round(time.Millisecond), warmOut, launches-warmOut)

	// None is lost: every one is ready, and its agent's heartbeats (the
	// warm ones' with their new credential) keep coming.
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		ready := 0
		for id := range seen {
			var s poolSession
			if err := c.Do(context.Background(), http.MethodGet, "/api/v1/sessions/"+id, nil, &s); err != nil {
				t.Fatal(err)
			}
			if s.State == "failed" || s.State == "stopped" {
				t.Fatalf("session %s ended: %s: %s\nserver log:\n%s", id, s.State, s.Reason, env.logTail(30))
			}
			if s.State == "ready" && s.HeartbeatAt != nil && s.HeartbeatAt.After(handedOut.Add(time.Second)) {
				ready++
			}
		}
		if ready == launches {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sessions ready and heartbeating after 3m\nserver log:\n%s", ready, launches, env.logTail(30))
		}
	}
	// The pool refills, with sessions it never handed out.
	waitPool(t, env, "minimal", 10, 2*time.Minute)
	for id := range warmIDs(t, c) {
		if _, ok := seen[id]; ok || warm[id] {
			t.Fatalf("the refilled pool holds %s, which was handed out or warm before", id)
		}
	}
	for id := range seen {
		env.cli(t, "session", "rm", id)
	}
	// Emptied, the pool stops its warm sessions.
	env.cli(t, "pool", "set", "minimal", "--size", "0")
	waitPool(t, env, "minimal", 0, time.Minute)
	if left := warmIDs(t, c); len(left) != 0 {
		t.Fatalf("warm sessions left after the pool was emptied: %v", left)
	}
}

// TestBrowserWarmPool: a Chromium session handed out of a pool, whose
// desktop and browser started before anyone launched it, reaches the
// viewer with its page drawn, through the portal as a user launches it.
func TestBrowserWarmPool(t *testing.T) {
	if testing.Short() {
		t.Skip("browser session: not in -short")
	}
	// Before the host's browser starts: a new interface makes it abort
	// requests in flight (ERR_NETWORK_CHANGED).
	site := startWindowSite(t)
	browser := browsertest.Chromium(t)
	env := startUp(t, "--lifecycle-every=1s")
	ensureChromiumImage(t, airlockBinary(t))
	addWorkspace(t, map[string]any{"name": "e2e-warm", "image": dockertest.ChromiumImage(), "seccomp": "chromium",
		"shm_size": 512 << 20, "memory": 2 << 30, "start_url": site.url + "/first"})
	env.cli(t, "pool", "set", "e2e-warm", "--size", "1")
	waitPool(t, env, "e2e-warm", 1, 2*time.Minute)
	c, _, err := apiClient()
	if err != nil {
		t.Fatal(err)
	}
	warm := warmIDs(t, c)
	// The warm browser has opened its start page before anyone asked.
	for deadline := time.Now().Add(time.Minute); site.count("/first") == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the warm session's browser did not open its start page")
		}
	}
	if langs := site.languages(); len(langs) == 0 || strings.HasPrefix(langs[len(langs)-1], "ja") {
		t.Fatalf("the warm browser asked in %q before the hand-out", langs)
	}
	// The warm session's network came up just now; its interfaces settle
	// (addresses, carrier) over the next seconds, and the host's browser
	// aborts a page load on any such change (ERR_NETWORK_CHANGED).
	waitInterfacesQuiet(t, 2*time.Second, time.Minute)
	// The viewer's browser speaks Japanese: at the hand-out the warm
	// browser is started again in the viewer's language.
	ctx := openWindowViewer(t, site, env, browser, "e2e-warm", chromedp.Flag("lang", "ja-JP"), chromedp.Flag("accept-lang", "ja-JP"))
	id := viewerSession(t, ctx)
	if !warm[id] {
		t.Fatalf("the portal's launch got %s, not the pool's warm session %v", id, warm)
	}
	waitJS(t, ctx, "the warm session's page in the viewer", edgesAre(firstColor))
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if langs := site.languages(); strings.HasPrefix(langs[len(langs)-1], "ja") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the hand-out to a Japanese viewer the browser asks in %q", site.languages())
		}
	}
	env.cli(t, "pool", "set", "e2e-warm", "--size", "0")
}

// waitInterfacesQuiet is dockertest.WaitInterfacesQuiet for a test.
func waitInterfacesQuiet(t *testing.T, quiet, within time.Duration) {
	t.Helper()
	if err := dockertest.WaitInterfacesQuiet(context.Background(), quiet, within); err != nil {
		t.Fatal(err)
	}
}
