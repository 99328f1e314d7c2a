package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// keptSite is a page that gives a lasting cookie on the first visit and
// counts the visits that bring it back.
type keptSite struct {
	mu            sync.Mutex
	fresh, cookie int
	url           string
}

func (s *keptSite) visits() (fresh, cookie int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fresh, s.cookie
}

func startKeptSite(t *testing.T) *keptSite {
	t.Helper()
	s := &keptSite{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /kept", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if _, err := r.Cookie("airlock_kept"); err == nil {
			s.cookie++
		} else {
			s.fresh++
			http.SetCookie(w, &http.Cookie{Name: "airlock_kept", Value: "1", MaxAge: 86400, Path: "/"})
		}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// A restored tab would show a cached copy without asking.
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, "<!doctype html><title>Kept</title><h1>A page to come back to</h1>")
	})
	s.url = "http://" + serveRouted(t, mux, 190, 200).String()
	return s
}

// TestBrowserSuspendKeepsProfile: a Chromium session of a workspace that
// suspends at expiry comes back from a resume with its profile (the
// cookie a page gave) and its last session (the tab reopened, not the
// start URL), and its kept volume goes with its container.
func TestBrowserSuspendKeepsProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("browser session: not in -short")
	}
	site := startKeptSite(t)
	env := expiryUp(t)
	ensureChromiumImage(t, airlockBinary(t))
	addWorkspace(t, map[string]any{"name": "e2e-kept", "image": dockertest.ChromiumImage(), "seccomp": "chromium",
		"shm_size": 512 << 20, "memory": 2 << 30, "start_url": site.url + "/kept",
		"idle_timeout": "15s", "lifetime": "10m", "on_expiry": "suspend", "resume_grace": "5m"})
	id := env.cli(t, "session", "create", "e2e-kept", "--wait")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if fresh, _ := site.visits(); fresh > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session's browser did not open its start page")
		}
	}
	env.suspended(t, id, time.Minute)
	// The browser stopped when asked, with nothing of it left (its
	// orphans reaped), before the agent let the container end.
	if log := sessionLog(t, id); !strings.Contains(log, "agent stopped") || strings.Contains(log, "did not stop cleanly") {
		t.Fatalf("the suspended session's agent did not stop cleanly:\n%s", log)
	}
	c := sessionContainer(t, id)
	socket := dockertest.Client(t)
	info, err := socket.ContainerInspect(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var volume string
	for _, m := range info.Mounts {
		if m.Type == "volume" {
			volume = m.Name
		}
	}
	if volume == "" {
		t.Fatalf("the kept session's container has no volume: %+v", info.Mounts)
	}
	env.cli(t, "session", "resume", id, "--wait")
	// The restored tab asks for its page again, with the cookie the
	// profile kept.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if _, cookie := site.visits(); cookie > 0 {
			break
		}
		if time.Now().After(deadline) {
			fresh, cookie := site.visits()
			t.Fatalf("after the resume the page was visited %d times fresh and %d with the kept cookie; want one with it\nserver log:\n%s", fresh, cookie, env.logTail(30))
		}
	}
	if fresh, _ := site.visits(); fresh != 1 {
		t.Fatalf("the page was visited %d times without the cookie; want only the first visit", fresh)
	}
	env.cli(t, "session", "rm", id)
	if _, err := socket.ContainerInspect(context.Background(), c.ID); !errdefs.IsNotFound(err) {
		t.Fatalf("container of the removed session: %v", err)
	}
	if _, err := socket.VolumeInspect(context.Background(), volume); !errdefs.IsNotFound(err) {
		t.Fatalf("the removed session's volume %s is still there: %v", volume, err)
	}
}
