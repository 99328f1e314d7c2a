package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// TestWorkspaceLimits: the limits are written and read as durations, and
// bad ones are refused saying what was wrong.
func TestWorkspaceLimits(t *testing.T) {
	e := newEnv(t)
	got := e.addWorkspace(map[string]any{"name": "short", "image": "x", "idle_timeout": "90s", "viewer_idle_timeout": "1h",
		"lifetime": "8h", "max_lifetime": "12h"})
	if want := viewLimits(airlock.Limits{Idle: 90 * time.Second, ViewerIdle: time.Hour, Lifetime: 8 * time.Hour, MaxLifetime: 12 * time.Hour}); got.limitsSpec != want {
		t.Errorf("limits %+v, want %+v", got.limitsSpec, want)
	}
	rec := e.do(req{Method: "PATCH", Path: "/api/v1/workspaces/short", Bearer: e.adminTok, Body: map[string]any{"lifetime": "10h"}})
	wantStatus(t, rec, http.StatusOK)
	var v workspaceSpec
	mustJSON(t, rec, &v)
	if time.Duration(v.Lifetime) != 10*time.Hour || time.Duration(v.Idle) != 90*time.Second {
		t.Errorf("after update: %+v", v.limitsSpec)
	}
	for _, tc := range []struct {
		name string
		body map[string]any
		msg  string
	}{
		{"not-a-duration", map[string]any{"idle_timeout": "soon"}, `duration "soon" is not one such as "30m"`},
		{"a-number", map[string]any{"lifetime": 3600}, `a duration is a string such as "30m" or "8h", not 3600`},
		{"negative", map[string]any{"idle_timeout": "-1m"}, "idle_timeout -1m0s is out of range"},
		{"max-below-lifetime", map[string]any{"lifetime": "2h", "max_lifetime": "1h"}, "max_lifetime 1h is shorter than lifetime 2h"},
	} {
		t.Run("fail/"+tc.name, func(t *testing.T) {
			body := map[string]any{"name": "w-" + tc.name, "image": "x"}
			for k, v := range tc.body {
				body[k] = v
			}
			wantError(t, e.do(req{Method: "POST", Path: "/api/v1/workspaces", Bearer: e.adminTok, Body: body}), airlock.EINVALID, tc.msg)
		})
	}
}

// TestSessionActivityAndExtend: the agent's heartbeat reports the
// viewer and its input; the session says when and why it ends; extend
// moves the lifetime within the workspace's limits and counts as input.
func TestSessionActivityAndExtend(t *testing.T) {
	e := newEnv(t)
	e.addNode("n1", 10)
	e.addWorkspace(map[string]any{"name": "web", "image": "airlock/chromium:1", "idle_timeout": "10m",
		"viewer_idle_timeout": "1h", "lifetime": "2h", "max_lifetime": "3h"})
	s, tok := e.launchForAgent()
	start := e.clk.Now()
	if s.ExpiresAt == nil || !s.ExpiresAt.Equal(start.Add(2*time.Hour)) || s.EndsFor != "idle" || s.WarnSeconds != 120 || !s.Extendable {
		t.Fatalf("new session: expires %v, ends for %q, warn %d, extendable %v", s.ExpiresAt, s.EndsFor, s.WarnSeconds, s.Extendable)
	}
	reg := e.register(s.ID, tok)
	beat := func(body any) {
		t.Helper()
		rec := e.do(req{Method: "POST", Path: "/api/v1/agent/heartbeat", Body: body,
			Header: map[string]string{"Authorization": "Bearer " + reg.Credential}})
		wantStatus(t, rec, http.StatusOK)
		mustJSON(t, rec, reg)
	}
	get := func() sessionView {
		t.Helper()
		rec := e.do(req{Method: "GET", Path: "/api/v1/sessions/" + s.ID, Bearer: e.userTok})
		wantStatus(t, rec, http.StatusOK)
		var v sessionView
		mustJSON(t, rec, &v)
		return v
	}
	// An old agent's empty heartbeat: no activity, idle from ready.
	beat(nil)
	if v := get(); v.EndsAt == nil || !v.EndsAt.Equal(start.Add(10*time.Minute)) || v.EndsFor != "idle" {
		t.Fatalf("no activity: ends %v for %q", v.EndsAt, v.EndsFor)
	}
	// A viewer connected, its last input 30 s ago: idle an hour after it.
	e.clk.Advance(5 * time.Minute)
	beat(map[string]any{"viewer": true, "input_idle_ms": 30000})
	input := e.clk.Now().Add(-30 * time.Second)
	if v := get(); !v.EndsAt.Equal(input.Add(time.Hour)) || v.EndsFor != "idle" {
		t.Fatalf("viewer connected: ends %v for %q, want %v", v.EndsAt, v.EndsFor, input.Add(time.Hour))
	}
	if got := e.session(s.ID).LastInputAt; got == nil || !got.Equal(input) {
		t.Fatalf("last input %v, want %v", got, input)
	}
	// A report of older input does not move the last input back.
	beat(map[string]any{"viewer": true, "input_idle_ms": 600000})
	if got := e.session(s.ID).LastInputAt; !got.Equal(input) {
		t.Fatalf("last input moved back to %v", got)
	}
	wantError(t, e.do(req{Method: "POST", Path: "/api/v1/agent/heartbeat", Body: map[string]any{"viewers": 1},
		Header: map[string]string{"Authorization": "Bearer " + reg.Credential}}), airlock.EINVALID, `unknown field "viewers"`)

	// Busy until near the lifetime's end: extend moves it by the
	// lifetime from now, at most max_lifetime from launch.
	// (In steps shorter than the agent credential's life.)
	for range 22 {
		e.clk.Advance(5 * time.Minute)
		beat(map[string]any{"viewer": true, "input_idle_ms": 0})
	}
	if v := get(); v.EndsFor != "lifetime" || !v.EndsAt.Equal(start.Add(2*time.Hour)) {
		t.Fatalf("busy: ends %v for %q", v.EndsAt, v.EndsFor)
	}
	rec := e.do(req{Method: "POST", Path: "/api/v1/sessions/" + s.ID + "/extend", Bearer: e.userTok})
	wantStatus(t, rec, http.StatusOK)
	var v sessionView
	mustJSON(t, rec, &v)
	if !v.ExpiresAt.Equal(start.Add(3*time.Hour)) || v.Extendable {
		t.Fatalf("extended: expires %v (want the 3h cap %v), extendable %v", v.ExpiresAt, start.Add(3*time.Hour), v.Extendable)
	}
	// At the cap, with the lifetime ending first: refused, saying why.
	for range 10 {
		e.clk.Advance(5 * time.Minute)
		beat(map[string]any{"viewer": true, "input_idle_ms": 0})
	}
	wantError(t, e.do(req{Method: "POST", Path: "/api/v1/sessions/" + s.ID + "/extend", Bearer: e.userTok}),
		airlock.ECONFLICT, "already ends as late as its workspace allows (3h after launch)")
	// Another user's session is not found.
	_, bobTok := e.addUser("bob", 0)
	wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/sessions/" + s.ID + "/extend", Bearer: bobTok}), http.StatusNotFound)
	// The user's own end is recorded as such.
	wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/sessions/" + s.ID, Bearer: e.userTok}), http.StatusOK)
	if v := get(); v.State != "stopped" || v.EndReason != "user" || v.EndsAt != nil {
		t.Fatalf("after delete: %s, end %q, ends %v", v.State, v.EndReason, v.EndsAt)
	}
	wantError(t, e.do(req{Method: "POST", Path: "/api/v1/sessions/" + s.ID + "/extend", Bearer: e.userTok}),
		airlock.ECONFLICT, "only a running session can be extended")
}
