package main

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/airlock-rbi/airlock/internal/dockertest"
)

type runningSession struct {
	ID          string     `json:"id"`
	State       string     `json:"state"`
	Reason      string     `json:"reason"`
	HeartbeatAt *time.Time `json:"heartbeat_at"`
}

// TestServerKilledWhileSessionsRun SIGKILLs `airlock up` while sessions
// run and a warm pool waits, restarts it on the same data directory and
// port, and checks that every session is listed and still ready, its
// agent heartbeating and a viewer's connect answered; that the warm
// sessions are still warm and one is handed out (its agent bound after
// the restart); and that no container is left without a live session.
func TestServerKilledWhileSessionsRun(t *testing.T) {
	socket := dockertest.Client(t)
	bin := airlockBinary(t)
	data := t.TempDir()
	var ids []string
	t.Cleanup(func() {
		for _, list := range sessionContainers(t, socket, ids) {
			for _, c := range list {
				_ = socket.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
			}
		}
		removeDeploymentContainers(t, data)
	})
	first := crashStartUp(t, bin, data, ":0")
	api := newCrashAPI(t, first.url, data)
	api.login()
	u, err := url.Parse(first.url)
	if err != nil {
		t.Fatal(err)
	}
	get := func(id string) runningSession {
		t.Helper()
		var s runningSession
		if status, body := api.do(http.MethodGet, "/api/v1/sessions/"+id, nil, &s); status != http.StatusOK {
			t.Fatalf("get session %s: %d %s", id, status, body)
		}
		return s
	}
	waitFor := func(what string, within time.Duration, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(within); !ok(); time.Sleep(200 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%s: not within %s", what, within)
			}
		}
	}
	for range 2 {
		var s runningSession
		if status, body := api.do(http.MethodPost, "/api/v1/sessions", map[string]string{"workspace": "minimal"}, &s); status != http.StatusCreated {
			t.Fatalf("create session: %d %s", status, body)
		}
		ids = append(ids, s.ID)
	}
	for _, id := range ids {
		waitFor("session "+id+" ready and heartbeating", time.Minute, func() bool { s := get(id); return s.State == "ready" && s.HeartbeatAt != nil })
	}
	if status, body := api.do(http.MethodPut, "/api/v1/pools/minimal", map[string]any{"size": 2}, nil); status != http.StatusOK {
		t.Fatalf("set pool: %d %s", status, body)
	}
	warm := func() map[string]bool {
		var all []runningSession
		if status, body := api.do(http.MethodGet, "/api/v1/sessions?all=1&active=1", nil, &all); status != http.StatusOK {
			t.Fatalf("list sessions: %d %s", status, body)
		}
		out := map[string]bool{}
		for _, s := range all {
			if s.State == "warm" {
				out[s.ID] = true
			}
		}
		return out
	}
	waitFor("a pool of 2 warm sessions", 2*time.Minute, func() bool { return len(warm()) == 2 })
	warmBefore := warm()
	for id := range warmBefore {
		ids = append(ids, id)
	}

	first.crash(t)
	killed := time.Now()
	second := crashStartUp(t, bin, data, ":"+u.Port())
	api = newCrashAPI(t, second.url, data)
	api.login()

	// The running sessions: listed, ready, heartbeating to the new
	// process, and a viewer may connect.
	for _, id := range ids[:2] {
		waitFor("session "+id+" heartbeating after the restart", time.Minute, func() bool {
			s := get(id)
			if s.State != "ready" {
				t.Fatalf("session %s after the restart: %s: %s\nserver log:\n%s", id, s.State, s.Reason, second.errOut.String())
			}
			return s.HeartbeatAt != nil && s.HeartbeatAt.After(killed)
		})
		if status, body := api.do(http.MethodPost, "/api/v1/sessions/"+id+"/connect", nil, nil); status != http.StatusOK {
			t.Fatalf("connect to session %s after the restart: %d %s", id, status, body)
		}
	}
	// The pool: the same warm sessions, and a launch gets one of them.
	waitFor("the pool's warm sessions after the restart", time.Minute, func() bool {
		w := warm()
		for id := range warmBefore {
			if !w[id] {
				return false
			}
		}
		return len(w) == 2
	})
	var s runningSession
	if status, body := api.do(http.MethodPost, "/api/v1/sessions", map[string]string{"workspace": "minimal"}, &s); status != http.StatusCreated {
		t.Fatalf("launch after the restart: %d %s", status, body)
	}
	if !warmBefore[s.ID] || s.State != "ready" {
		t.Fatalf("the launch after the restart got %s (%s), not a warm session of %v", s.ID, s.State, warmBefore)
	}
	// Its agent, which waited across the restart, is bound: it
	// heartbeats as the user's session from now on.
	handed := time.Now()
	waitFor("the handed-out session's agent heartbeating", time.Minute, func() bool {
		x := get(s.ID)
		if x.State != "ready" {
			t.Fatalf("the handed-out session is %s: %s\nserver log:\n%s", x.State, x.Reason, second.errOut.String())
		}
		return x.HeartbeatAt != nil && x.HeartbeatAt.After(handed)
	})
	// Nothing left behind: every container belongs to a live session.
	var all []runningSession
	api.do(http.MethodGet, "/api/v1/sessions?all=1", nil, &all)
	live := map[string]bool{}
	for _, x := range all {
		if x.State != "stopped" && x.State != "failed" {
			live[x.ID] = true
		}
	}
	for id, list := range sessionContainers(t, socket, ids) {
		if len(list) > 0 && !live[id] {
			t.Errorf("session %s is over but its container %s is left", id, list[0].ID)
		}
	}
}
