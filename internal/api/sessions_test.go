package api

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
)

// sessionEnv is an env with the workspaces web (standard), sbx
// (sandboxed) and full (limits, env and a start URL).
func sessionEnv(t *testing.T) *env {
	e := newEnv(t)
	e.addWorkspace(map[string]any{"name": "web", "image": "airlock/chromium:1"})
	e.addWorkspace(map[string]any{"name": "sbx", "image": "airlock/chromium:1", "isolation": "sandboxed"})
	e.addWorkspace(map[string]any{"name": "full", "image": "airlock/firefox:2", "memory": 1 << 30, "nano_cpus": 2e9,
		"pids_limit": 256, "shm_size": 128 << 20, "env": map[string]string{"LANG": "fr_FR.UTF-8"}, "start_url": "https://example.com/"})
	return e
}

// addEUWorkspace adds "eu", whose sessions need a node labelled zone=eu.
func (e *env) addEUWorkspace() {
	e.addWorkspace(map[string]any{"name": "eu", "image": "airlock/chromium:1", "node_labels": map[string]string{"zone": "eu"}})
}

func TestCreateSession(t *testing.T) {
	for _, tc := range []struct {
		name      string
		setup     func(e *env) (bearer string)
		workspace string
		code      string
		msg       []string
	}{
		{name: "ok/one-node", workspace: "web", setup: func(e *env) string { e.addNode("n1", 2); return e.userTok }},
		{name: "ok/admin", workspace: "web", setup: func(e *env) string { e.addNode("n1", 2); return e.adminTok }},
		{name: "ok/isolation-supported", workspace: "sbx", setup: func(e *env) string {
			e.addNode("n1", 2, func(n *airlock.Node) {
				n.Isolation = []airlock.Isolation{airlock.IsolationStandard, airlock.IsolationSandboxed}
			})
			return e.userTok
		}},
		{name: "ok/finished-sessions-do-not-count", workspace: "web", setup: func(e *env) string {
			n := e.addNode("n1", 1)
			u, tok := e.addUser("bob", 1)
			e.addSession(u, "ws", n.ID, airlock.SessionStopped)
			e.addSession(u, "ws", n.ID, airlock.SessionFailed)
			return tok
		}},
		{name: "ok/others-sessions-do-not-count", workspace: "web", setup: func(e *env) string {
			n := e.addNode("n1", 10)
			_, tok := e.addUser("bob", 1)
			e.addSession(e.user, "ws", n.ID, airlock.SessionReady)
			return tok
		}},
		{name: "ok/skips-full-node", workspace: "web", setup: func(e *env) string {
			full := e.addNode("n1", 1)
			e.addSession(e.admin, "ws", full.ID, airlock.SessionReady)
			e.addNode("n2", 1)
			return e.userTok
		}},
		{name: "ok/own-limit-above-default", workspace: "web", setup: func(e *env) string {
			n := e.addNode("n1", 10)
			u, tok := e.addUser("bob", 5)
			for range 4 {
				e.addSession(u, "ws", n.ID, airlock.SessionReady)
			}
			return tok
		}},
		{name: "fail/anonymous", workspace: "web", setup: func(e *env) string { e.addNode("n1", 2); return "" }, code: "unauthorized"},
		{name: "fail/workspace-empty", workspace: "", setup: func(e *env) string { e.addNode("n1", 2); return e.userTok },
			code: "invalid", msg: []string{"workspace is required"}},
		{name: "fail/workspace-unknown", workspace: "nope", setup: func(e *env) string { e.addNode("n1", 2); return e.userTok },
			code: "not_found", msg: []string{`workspace "nope" not found`}},
		{name: "fail/over-own-limit", workspace: "web", setup: func(e *env) string {
			n := e.addNode("n1", 10)
			u, tok := e.addUser("bob", 1)
			e.addSession(u, "ws", n.ID, airlock.SessionStarting)
			return tok
		}, code: "limit", msg: []string{"1 active sessions", "limit is 1"}},
		{name: "fail/over-default-limit", workspace: "web", setup: func(e *env) string {
			n := e.addNode("n1", 10)
			for _, st := range []airlock.SessionState{airlock.SessionPending, airlock.SessionReady, airlock.SessionStopping} {
				e.addSession(e.user, "ws", n.ID, st)
			}
			return e.userTok
		}, code: "limit", msg: []string{"3 active sessions", "limit is 3"}},
		{name: "fail/limit-before-capacity", workspace: "web", setup: func(e *env) string {
			u, tok := e.addUser("bob", 1)
			e.addSession(u, "ws", "gone", airlock.SessionReady)
			return tok
		}, code: "limit"},
		{name: "fail/no-nodes", workspace: "web", setup: func(e *env) string { return e.userTok },
			code: "unavailable", msg: []string{"no provision node is ready"}},
		{name: "fail/node-down", workspace: "web", setup: func(e *env) string {
			e.addNode("n1", 2, func(n *airlock.Node) { n.State = airlock.NodeDown })
			return e.userTok
		}, code: "unavailable", msg: []string{"no provision node is ready"}},
		{name: "fail/node-draining", workspace: "web", setup: func(e *env) string {
			e.addNode("n1", 2, func(n *airlock.Node) { n.Draining = true })
			return e.userTok
		}, code: "unavailable", msg: []string{"every ready provision node is draining"}},
		{name: "fail/node-silent", workspace: "web", setup: func(e *env) string {
			e.addNode("n1", 2, func(n *airlock.Node) { n.LastHeartbeat = e.clk.Now().Add(-2 * time.Minute) })
			return e.userTok
		}, code: "unavailable", msg: []string{"no provision node is ready"}},
		{name: "fail/node-full", workspace: "web", setup: func(e *env) string {
			n := e.addNode("n1", 1)
			e.addSession(e.admin, "ws", n.ID, airlock.SessionStarting)
			return e.userTok
		}, code: "unavailable", msg: []string{"full"}},
		{name: "fail/isolation-unsupported", workspace: "sbx", setup: func(e *env) string { e.addNode("n1", 2); return e.userTok },
			code: "unavailable", msg: []string{`no ready node offers isolation level sandboxed`}},
		{name: "ok/node-labels", workspace: "eu", setup: func(e *env) string {
			e.addEUWorkspace()
			e.addNode("n1", 10, func(n *airlock.Node) { n.Labels = map[string]string{"zone": "us"} })
			n := e.addNode("n2", 10, func(n *airlock.Node) { n.Labels = map[string]string{"zone": "eu"} })
			e.addSession(e.admin, "ws", n.ID, airlock.SessionReady) // busier, but the only one in eu
			return e.userTok
		}},
		{name: "fail/node-labels", workspace: "eu", setup: func(e *env) string {
			e.addEUWorkspace()
			e.addNode("n1", 2, func(n *airlock.Node) { n.Labels = map[string]string{"zone": "us"} })
			return e.userTok
		}, code: "unavailable", msg: []string{"no ready node with isolation level standard has zone=eu"}},
		{name: "fail/node-labels-full", workspace: "eu", setup: func(e *env) string {
			e.addEUWorkspace()
			e.addNode("n1", 2)
			n := e.addNode("n2", 1, func(n *airlock.Node) { n.Labels = map[string]string{"zone": "eu"} })
			e.addSession(e.admin, "ws", n.ID, airlock.SessionReady)
			return e.userTok
		}, code: "unavailable", msg: []string{`every node with zone=eu that can run "eu" is full`}},
		{name: "fail/unknown-field", workspace: "web", setup: func(e *env) string { e.addNode("n1", 2); return e.userTok },
			code: "invalid", msg: []string{`unknown field "node"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := sessionEnv(t)
			bearer := tc.setup(e)
			before, _ := e.st.CountSessions(context.Background(), airlock.SessionFilter{})
			body := map[string]string{"workspace": tc.workspace}
			if tc.name == "fail/unknown-field" {
				body["node"] = "n1"
			}
			rec := e.do(req{Method: "POST", Path: "/api/v1/sessions", Bearer: bearer, Body: body})
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg...)
				if after, _ := e.st.CountSessions(context.Background(), airlock.SessionFilter{}); after != before {
					t.Errorf("a refused create stored a session (%d -> %d)", before, after)
				}
				e.srv.Close()
				if n := len(e.drv.startCalls()); n != 0 {
					t.Errorf("a refused create started %d containers", n)
				}
				return
			}
			wantStatus(t, rec, http.StatusCreated)
			var v sessionView
			mustJSON(t, rec, &v)
			caller, _ := e.st.UserByID(context.Background(), v.User)
			ws, _ := e.st.WorkspaceByName(context.Background(), tc.workspace)
			if v.ID == "" || v.State != "starting" || caller == nil || v.Workspace != ws.ID || v.Container != "airlock-"+v.ID || v.Node == "" {
				t.Errorf("created %+v", v)
			}
			if !v.CreatedAt.Equal(e.clk.Now()) || v.StartedAt != nil || v.ReadyAt != nil {
				t.Errorf("times %+v", v)
			}
			node, err := e.st.NodeByID(context.Background(), v.Node)
			if err != nil {
				t.Fatalf("node %s: %v", v.Node, err)
			}
			call := e.launched(v.ID)
			if call.NodeURL != node.URL {
				t.Errorf("started on %s, session says %s", call.NodeURL, node.URL)
			}
			if (tc.name == "ok/skips-full-node" || tc.name == "ok/node-labels") && node.Name != "n2" {
				t.Errorf("placed on full node %s", node.Name)
			}
			if s := e.session(v.ID); s.State != airlock.SessionStarting || s.StartedAt == nil || len(s.RegisterHash) == 0 {
				t.Errorf("after launch: state %s started %v", s.State, s.StartedAt)
			}
		})
	}
}

// TestSessionLaunchSpec checks what the driver is asked to run.
func TestSessionLaunchSpec(t *testing.T) {
	e := sessionEnv(t)
	n := e.addNode("n1", 10)
	a := e.createSession(e.userTok, "full")
	b := e.createSession(e.userTok, "web")
	c := e.createSession(e.adminTok, "web")
	calls := map[string]startCall{}
	for _, s := range []sessionView{a, b, c} {
		calls[s.ID] = e.launched(s.ID)
	}
	full, _ := e.st.WorkspaceByName(context.Background(), "full")

	tokens := map[string]string{}
	for _, s := range []sessionView{a, b, c} {
		t.Run("ok/"+s.ID[:8], func(t *testing.T) {
			call := calls[s.ID]
			sp := call.Spec
			if call.NodeURL != n.URL {
				t.Errorf("node URL %q", call.NodeURL)
			}
			if sp.Name != "airlock-"+s.ID || sp.Name != s.Container {
				t.Errorf("name %q, session container %q", sp.Name, s.Container)
			}
			ws, _ := e.st.WorkspaceByID(context.Background(), s.Workspace)
			if sp.Image != ws.Image {
				t.Errorf("image %q, want %q", sp.Image, ws.Image)
			}
			wantLabels := map[string]string{airlock.LabelSession: s.ID, airlock.LabelWorkspace: ws.Name, airlock.LabelUser: s.User}
			for k, v := range wantLabels {
				if sp.Labels[k] != v {
					t.Errorf("label %s=%q, want %q (labels %v)", k, sp.Labels[k], v, sp.Labels)
				}
			}
			names := map[string]int{}
			for _, kv := range sp.Env {
				k, _, ok := strings.Cut(kv, "=")
				if !ok {
					t.Errorf("env entry %q has no '='", kv)
				}
				names[k]++
			}
			for k, cnt := range names {
				if cnt != 1 {
					t.Errorf("env %s set %d times", k, cnt)
				}
			}
			for k, want := range map[string]string{"AIRLOCK_SERVER": testAgentURL, "AIRLOCK_SESSION": s.ID, "AIRLOCK_CA_PEM": string(e.ca.CertPEM),
				"AIRLOCK_CLIPBOARD": "both"} {
				if got, ok := envValue(sp.Env, k); !ok || got != want {
					t.Errorf("%s=%q, want %q", k, got, want)
				}
			}
			if sp.SecurityOpt != nil {
				t.Errorf("SecurityOpt %q for a workspace under Docker's default profile", sp.SecurityOpt)
			}
			reg, ok := envValue(sp.Env, "AIRLOCK_REGISTER_TOKEN")
			tok, err := auth.ParseToken(reg)
			if !ok || err != nil || tok.Kind != auth.KindRegister {
				t.Fatalf("AIRLOCK_REGISTER_TOKEN=%q: %v", reg, err)
			}
			if !auth.VerifyTokenHash(tok, e.session(s.ID).RegisterHash) {
				t.Errorf("register token does not match the stored hash")
			}
			tokens[s.ID] = reg
			if s.ID == a.ID {
				if v, _ := envValue(sp.Env, "LANG"); v != "fr_FR.UTF-8" {
					t.Errorf("LANG=%q", v)
				}
				if v, _ := envValue(sp.Env, "AIRLOCK_START_URL"); v != "https://example.com/" {
					t.Errorf("AIRLOCK_START_URL=%q", v)
				}
				if sp.Memory != full.Memory || sp.NanoCPUs != full.NanoCPUs || sp.PidsLimit != full.PidsLimit || sp.ShmSize != full.ShmSize {
					t.Errorf("limits %+v, workspace %+v", sp, full)
				}
			} else if _, ok := envValue(sp.Env, "AIRLOCK_START_URL"); ok {
				t.Errorf("AIRLOCK_START_URL set for a workspace without a start URL")
			}
		})
	}
	t.Run("ok/no-secret-of-another-session", func(t *testing.T) {
		for id, call := range calls {
			for other, tok := range tokens {
				if other == id {
					continue
				}
				all := strings.Join(call.Spec.Env, "\n") + strings.Join(slices.Collect(maps.Values(call.Spec.Labels)), "\n")
				if strings.Contains(all, tok) || strings.Contains(all, other) {
					t.Errorf("container of %s carries the token or ID of %s", id, other)
				}
			}
		}
	})
}

// TestContainerSpecSecurity checks, workspace by workspace, the seccomp
// profile, clipboard policy and /tmp a session container is given.
func TestContainerSpecSecurity(t *testing.T) {
	e := newEnv(t)
	reg, err := auth.NewToken(auth.KindRegister)
	if err != nil {
		t.Fatal(err)
	}
	sess := &airlock.Session{ID: "s1", UserID: "u1", ContainerID: "airlock-s1"}
	for _, tc := range []struct {
		name        string
		ws          airlock.Workspace
		securityOpt []string
		clipboard   string
		err         string // empty: no error
	}{
		{name: "ok/default-profile", ws: airlock.Workspace{Name: "w", Image: "x"}, clipboard: "both"},
		{name: "ok/chromium-profile", ws: airlock.Workspace{Name: "w", Image: "x", Seccomp: "chromium", Clipboard: airlock.ClipboardBoth},
			securityOpt: []string{"seccomp=" + testProfileCompact}, clipboard: "both"},
		{name: "ok/clipboard-off", ws: airlock.Workspace{Name: "w", Image: "x", Clipboard: airlock.ClipboardOff}, clipboard: "off"},
		{name: "ok/clipboard-to-container", ws: airlock.Workspace{Name: "w", Image: "x", Seccomp: "chromium", Clipboard: airlock.ClipboardToContainer},
			securityOpt: []string{"seccomp=" + testProfileCompact}, clipboard: "to-container"},
		{name: "ok/clipboard-from-container", ws: airlock.Workspace{Name: "w", Image: "x", Clipboard: airlock.ClipboardFromContainer}, clipboard: "from-container"},
		{name: "fail/unknown-profile", ws: airlock.Workspace{Name: "w", Image: "x", Seccomp: "firefox"}, err: `seccomp profile "firefox" is not one of this server's ([chromium])`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := e.srv.sessions.ContainerSpec(sess, &tc.ws, airlock.Viewer{}, reg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("containerSpec: %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sp.SecurityOpt, tc.securityOpt) {
				t.Errorf("SecurityOpt %q, want %q", sp.SecurityOpt, tc.securityOpt)
			}
			if v, ok := envValue(sp.Env, "AIRLOCK_CLIPBOARD"); !ok || v != tc.clipboard {
				t.Errorf("AIRLOCK_CLIPBOARD=%q (set %v), want %q", v, ok, tc.clipboard)
			}
			if got := sp.Tmpfs["/tmp"]; got != "rw,nosuid,nodev,size=512m" || len(sp.Tmpfs) != 1 {
				t.Errorf("tmpfs %v, want /tmp of 512m", sp.Tmpfs)
			}
		})
	}
}

// TestSessionSeccomp launches through the API: the driver is given the
// profile by content, and a workspace naming a profile this server lacks
// is refused before anything is stored or launched.
func TestSessionSeccomp(t *testing.T) {
	e := newEnv(t)
	e.addNode("n1", 10)
	e.addWorkspace(map[string]any{"name": "chromium", "image": "airlock/chromium:latest", "seccomp": "chromium", "clipboard": "off"})
	now := e.clk.Now()
	// Stored by another api process, or before its profile was removed.
	if err := e.st.CreateWorkspace(context.Background(), &airlock.Workspace{ID: "wgone", Name: "gone-profile", Image: "x",
		Isolation: airlock.IsolationStandard, Seccomp: "firefox", Clipboard: airlock.ClipboardBoth, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	t.Run("ok/profile-sent", func(t *testing.T) {
		sp := e.launched(e.createSession(e.userTok, "chromium").ID).Spec
		if !slices.Equal(sp.SecurityOpt, []string{"seccomp=" + testProfileCompact}) {
			t.Errorf("SecurityOpt %q", sp.SecurityOpt)
		}
		if v, _ := envValue(sp.Env, "AIRLOCK_CLIPBOARD"); v != "off" {
			t.Errorf("AIRLOCK_CLIPBOARD=%q, want off", v)
		}
	})
	t.Run("fail/unknown-profile", func(t *testing.T) {
		before := len(e.drv.startCalls())
		rec := e.do(req{Method: "POST", Path: "/api/v1/sessions", Bearer: e.userTok, Body: map[string]string{"workspace": "gone-profile"}})
		wantError(t, rec, "conflict", `workspace "gone-profile" cannot be launched`, `seccomp profile "firefox" is not known`, "known profiles: chromium")
		n, err := e.st.CountSessions(context.Background(), airlock.SessionFilter{UserID: e.user.ID, States: airlock.ActiveStates})
		if err != nil || n != 1 {
			t.Errorf("active sessions %d (%v), want only the chromium one", n, err)
		}
		if len(e.drv.startCalls()) != before {
			t.Errorf("the driver was asked to start a container")
		}
	})
}

// waitState polls GET /sessions/{id} until the session is in state.
func (e *env) waitState(bearer, id string, state airlock.SessionState) sessionView {
	e.t.Helper()
	var v sessionView
	e.waitFor("session "+id+" "+string(state), func() bool {
		rec := e.do(req{Method: "GET", Path: "/api/v1/sessions/" + id, Bearer: bearer})
		wantStatus(e.t, rec, http.StatusOK)
		mustJSON(e.t, rec, &v)
		return v.State == string(state)
	})
	return v
}

func TestSessionStartFails(t *testing.T) {
	e := sessionEnv(t)
	e.addNode("n1", 2)
	e.drv.setStartErr(errDriver)
	s := e.createSession(e.userTok, "web")
	v := e.waitState(e.userTok, s.ID, airlock.SessionFailed)
	if !strings.Contains(v.Reason, "n1") {
		t.Errorf("reason %q does not name the node", v.Reason)
	}
	if v.StoppedAt == nil {
		t.Errorf("failed session has no stopped_at")
	}
	// A failed session no longer counts against the limit or capacity.
	e.drv.setStartErr(nil)
	for range 2 {
		e.createSession(e.userTok, "web")
	}
}

// TestSessionStartFailureReason: the reason a user reads names the node
// and does not repeat the driver's error, which can carry addresses,
// paths and daemon output meant for operators.
func TestSessionStartFailureReason(t *testing.T) {
	e := sessionEnv(t)
	e.addNode("n1", 2)
	e.drv.setStartErr(errors.New("Error response from daemon: open /var/lib/docker/overlay2/secret-layer: no such file; dial tcp 10.9.8.7:2376"))
	s := e.createSession(e.userTok, "web")
	v := e.waitState(e.userTok, s.ID, airlock.SessionFailed)
	for _, leak := range []string{"/var/lib/docker", "10.9.8.7", "daemon"} {
		if strings.Contains(v.Reason, leak) {
			t.Errorf("reason %q shows the driver's error (%q)", v.Reason, leak)
		}
	}
}

func TestSessionVisibility(t *testing.T) {
	e := sessionEnv(t)
	e.addNode("n1", 10)
	bob, bobTok := e.addUser("bob", 0)
	mine := e.createSession(e.userTok, "web")
	theirs := e.createSession(bobTok, "web")
	e.launched(mine.ID)
	e.launched(theirs.ID)
	old := e.addSession(e.user, "ws", "gone", airlock.SessionStopped)
	_ = bob

	for _, tc := range []struct {
		name, method, id, bearer string
		code, msg                string
	}{
		{name: "ok/get-own", method: "GET", id: mine.ID, bearer: e.userTok},
		{name: "ok/admin-gets-any", method: "GET", id: theirs.ID, bearer: e.adminTok},
		{name: "fail/get-other-users", method: "GET", id: theirs.ID, bearer: e.userTok, code: "not_found", msg: `session "` + theirs.ID + `" not found`},
		{name: "fail/delete-other-users", method: "DELETE", id: theirs.ID, bearer: e.userTok, code: "not_found", msg: `session "` + theirs.ID + `" not found`},
		{name: "fail/get-unknown", method: "GET", id: "nope", bearer: e.userTok, code: "not_found", msg: `session "nope" not found`},
		{name: "fail/delete-unknown", method: "DELETE", id: "nope", bearer: e.userTok, code: "not_found"},
		{name: "fail/get-anonymous", method: "GET", id: mine.ID, code: "unauthorized"},
		{name: "fail/delete-anonymous", method: "DELETE", id: mine.ID, code: "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(req{Method: tc.method, Path: "/api/v1/sessions/" + tc.id, Bearer: tc.bearer})
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg)
				return
			}
			wantStatus(t, rec, http.StatusOK)
			var v sessionView
			mustJSON(t, rec, &v)
			if v.ID != tc.id {
				t.Errorf("got %s", v.ID)
			}
		})
	}
	if s := e.session(theirs.ID); s.State != airlock.SessionStarting {
		t.Errorf("another user's DELETE changed bob's session to %s", s.State)
	}
	if n := len(e.drv.removeCalls()); n != 0 {
		t.Errorf("%d removes after refused deletes", n)
	}

	ids := func(bearer, query string) []string {
		rec := e.do(req{Method: "GET", Path: "/api/v1/sessions" + query, Bearer: bearer})
		wantStatus(t, rec, http.StatusOK)
		var list []sessionView
		mustJSON(t, rec, &list)
		var out []string
		for _, v := range list {
			out = append(out, v.ID)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	for _, tc := range []struct {
		name, bearer, query string
		want                []string
		code                string
	}{
		{name: "ok/list-own", bearer: e.userTok, want: sorted(mine.ID, old.ID)},
		{name: "ok/list-own-active", bearer: e.userTok, query: "?active=1", want: sorted(mine.ID)},
		{name: "ok/list-others", bearer: bobTok, want: sorted(theirs.ID)},
		{name: "ok/admin-list-own", bearer: e.adminTok, want: nil},
		{name: "ok/admin-list-all", bearer: e.adminTok, query: "?all=1", want: sorted(mine.ID, theirs.ID, old.ID)},
		{name: "ok/admin-list-all-active", bearer: e.adminTok, query: "?all=1&active=1", want: sorted(mine.ID, theirs.ID)},
		{name: "fail/user-all", bearer: e.userTok, query: "?all=1", code: "forbidden"},
		{name: "fail/anonymous", query: "", code: "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.code != "" {
				wantError(t, e.do(req{Method: "GET", Path: "/api/v1/sessions" + tc.query, Bearer: tc.bearer}), tc.code, map[string]string{"forbidden": "all=1 needs the admin role"}[tc.code])
				return
			}
			if got := ids(tc.bearer, tc.query); !slices.Equal(got, tc.want) {
				t.Errorf("sessions %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDeleteSession(t *testing.T) {
	e := sessionEnv(t)
	n := e.addNode("n1", 10)
	s := e.createSession(e.userTok, "web")
	e.launched(s.ID)

	t.Run("fail/remove-fails", func(t *testing.T) {
		e.drv.setRemoveErr(errDriver)
		defer e.drv.setRemoveErr(nil)
		rec := e.do(req{Method: "DELETE", Path: "/api/v1/sessions/" + s.ID, Bearer: e.userTok})
		eb := wantError(t, rec, "unavailable", "could not remove the container on node n1")
		if strings.Contains(eb.Message, errDriver.Error()) {
			t.Errorf("message %q shows the driver's error", eb.Message)
		}
		if got := e.session(s.ID).State; got != airlock.SessionStopping {
			t.Errorf("state %s, want stopping", got)
		}
		var v sessionView
		mustJSON(t, e.do(req{Method: "GET", Path: "/api/v1/sessions/" + s.ID, Bearer: e.userTok}), &v)
		if v.State != "stopping" {
			t.Errorf("GET says %s, want stopping", v.State)
		}
	})
	t.Run("ok/retry-stops", func(t *testing.T) {
		rec := e.do(req{Method: "DELETE", Path: "/api/v1/sessions/" + s.ID, Bearer: e.userTok})
		wantStatus(t, rec, http.StatusOK)
		var v sessionView
		mustJSON(t, rec, &v)
		if v.State != "stopped" || v.StoppedAt == nil {
			t.Errorf("after DELETE %+v", v)
		}
		rm := e.drv.removeCalls()
		if len(rm) != 2 {
			t.Fatalf("removes %+v, want the failed one and the retry", rm)
		}
		for _, r := range rm {
			if r.NodeURL != n.URL || r.Container != "airlock-"+s.ID || r.Grace <= 0 {
				t.Errorf("remove %+v", r)
			}
		}
	})
	t.Run("ok/again-is-a-no-op", func(t *testing.T) {
		rec := e.do(req{Method: "DELETE", Path: "/api/v1/sessions/" + s.ID, Bearer: e.userTok})
		wantStatus(t, rec, http.StatusOK)
		var v sessionView
		mustJSON(t, rec, &v)
		if v.State != "stopped" || len(e.drv.removeCalls()) != 2 {
			t.Errorf("state %s, %d removes", v.State, len(e.drv.removeCalls()))
		}
	})
	t.Run("ok/delete-racing-the-lifecycle", func(t *testing.T) {
		// A user's delete and lifecycle rounds stopping the same session
		// at once: every one succeeds, and the container is removed once.
		s3 := e.addSession(e.user, e.session(s.ID).WorkspaceID, n.ID, airlock.SessionStopping)
		before := len(e.drv.removeCalls())
		e.drv.mu.Lock()
		e.drv.removeDelay = 50 * time.Millisecond
		e.drv.mu.Unlock()
		defer func() { e.drv.mu.Lock(); e.drv.removeDelay = 0; e.drv.mu.Unlock() }()
		var wg sync.WaitGroup
		codes := make(chan int, 1)
		errs := make(chan error, 4)
		wg.Go(func() {
			codes <- e.do(req{Method: "DELETE", Path: "/api/v1/sessions/" + s3.ID, Bearer: e.userTok}).Code
		})
		for range 4 {
			wg.Go(func() {
				if _, err := e.srv.Sessions().FinishStop(context.Background(), s3.ID); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("a lifecycle round's FinishStop: %v", err)
		}
		if code := <-codes; code != http.StatusOK {
			t.Errorf("DELETE racing the lifecycle: status %d", code)
		}
		if got := e.session(s3.ID).State; got != airlock.SessionStopped {
			t.Errorf("state %s, want stopped", got)
		}
		if n := len(e.drv.removeCalls()) - before; n != 1 {
			t.Errorf("the container was removed %d times, want once", n)
		}
	})
	t.Run("ok/admin-deletes-users-session", func(t *testing.T) {
		s2 := e.createSession(e.userTok, "web")
		e.launched(s2.ID)
		rec := e.do(req{Method: "DELETE", Path: "/api/v1/sessions/" + s2.ID, Bearer: e.adminTok})
		wantStatus(t, rec, http.StatusOK)
		if got := e.session(s2.ID).State; got != airlock.SessionStopped {
			t.Errorf("state %s", got)
		}
	})
	t.Run("ok/failed-stays-failed", func(t *testing.T) {
		f := e.addSession(e.user, "ws", n.ID, airlock.SessionFailed)
		before := len(e.drv.removeCalls())
		rec := e.do(req{Method: "DELETE", Path: "/api/v1/sessions/" + f.ID, Bearer: e.userTok})
		wantStatus(t, rec, http.StatusOK)
		var v sessionView
		mustJSON(t, rec, &v)
		if v.State != "failed" || len(e.drv.removeCalls()) != before {
			t.Errorf("state %s, removes %d -> %d", v.State, before, len(e.drv.removeCalls()))
		}
	})
	t.Run("ok/node-gone", func(t *testing.T) {
		g := e.addSession(e.user, "ws", "no-such-node", airlock.SessionReady)
		before := len(e.drv.removeCalls())
		rec := e.do(req{Method: "DELETE", Path: "/api/v1/sessions/" + g.ID, Bearer: e.userTok})
		wantStatus(t, rec, http.StatusOK)
		if got := e.session(g.ID).State; got != airlock.SessionStopped || len(e.drv.removeCalls()) != before {
			t.Errorf("state %s, removes %d -> %d", got, before, len(e.drv.removeCalls()))
		}
	})
	t.Run("ok/pending-without-node", func(t *testing.T) {
		p := e.addSession(e.user, "ws", "", airlock.SessionPending)
		wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/sessions/" + p.ID, Bearer: e.userTok}), http.StatusOK)
		if got := e.session(p.ID).State; got != airlock.SessionStopped {
			t.Errorf("state %s", got)
		}
	})
	e.drv.mu.Lock()
	left := len(e.drv.containers)
	e.drv.mu.Unlock()
	if left != 0 {
		t.Errorf("%d containers left behind", left)
	}
}

// TestCreateSessionRace: concurrent creates must not get past a user's
// limit or a node's capacity together. The check and the insert are
// separate statements, so the burst is repeated to make the window show.
func TestCreateSessionRace(t *testing.T) {
	const rounds, burst = 20, 8
	burstCreate := func(e *env, toks []string) (created int, codes []int) {
		codes = make([]int, len(toks))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, tok := range toks {
			wg.Go(func() {
				<-start
				codes[i] = e.do(req{Method: "POST", Path: "/api/v1/sessions", Bearer: tok, Body: map[string]string{"workspace": "web"}}).Code
			})
		}
		close(start)
		wg.Wait()
		for _, c := range codes {
			if c == http.StatusCreated {
				created++
			}
		}
		return created, codes
	}
	t.Run("fail/user-limit", func(t *testing.T) {
		e := sessionEnv(t)
		e.addNode("n1", rounds*burst)
		for r := range rounds {
			_, tok := e.addUser(fmt.Sprintf("u%d", r), 1)
			toks := slices.Repeat([]string{tok}, burst)
			if created, codes := burstCreate(e, toks); created != 1 {
				t.Fatalf("round %d: %d sessions created with a limit of 1 (statuses %v)", r, created, codes)
			}
		}
	})
	t.Run("fail/node-capacity", func(t *testing.T) {
		e := sessionEnv(t)
		var toks []string
		for i := range burst {
			_, tok := e.addUser(fmt.Sprintf("u%d", i), rounds)
			toks = append(toks, tok)
		}
		for r := range rounds {
			e.addNode(fmt.Sprintf("n%d", r), 1)
			if created, codes := burstCreate(e, toks); created != 1 {
				t.Fatalf("round %d: %d sessions created on one free slot (statuses %v)", r, created, codes)
			}
		}
	})
}

// TestCreateSessionLaunchKey: a launch asked again with its launch key
// (its first answer lost) gets the same session, even at the user's limit
// that session fills, and at once from many requests makes one session; a
// malformed key is refused.
func TestCreateSessionLaunchKey(t *testing.T) {
	create := func(e *env, tok string, body map[string]any) (int, sessionView) {
		rec := e.do(req{Method: "POST", Path: "/api/v1/sessions", Bearer: tok, Body: body})
		var v sessionView
		if rec.Code < 300 {
			mustJSON(t, rec, &v)
		}
		return rec.Code, v
	}
	t.Run("ok/again", func(t *testing.T) {
		e := sessionEnv(t)
		e.addNode("n1", 10)
		_, tok := e.addUser("bob", 1)
		code, first := create(e, tok, map[string]any{"workspace": "web", "launch_key": "7d3c-key_1"})
		if code != http.StatusCreated {
			t.Fatalf("first: %d", code)
		}
		code, again := create(e, tok, map[string]any{"workspace": "web", "launch_key": "7d3c-key_1"})
		if code != http.StatusOK || again.ID != first.ID {
			t.Fatalf("again: %d, session %q; want 200 and %q", code, again.ID, first.ID)
		}
		if n := len(e.drv.startCalls()); n > 1 {
			t.Errorf("%d containers started for one launch", n)
		}
		// Another key is another launch: over bob's limit of 1.
		rec := e.do(req{Method: "POST", Path: "/api/v1/sessions", Bearer: tok, Body: map[string]any{"workspace": "web", "launch_key": "other"}})
		wantError(t, rec, "limit")
		// Another user's same key is theirs.
		if code, v := create(e, e.userTok, map[string]any{"workspace": "web", "launch_key": "7d3c-key_1"}); code != http.StatusCreated || v.ID == first.ID {
			t.Fatalf("another user's same key: %d, %q", code, v.ID)
		}
	})
	t.Run("ok/at-once", func(t *testing.T) {
		e := sessionEnv(t)
		e.addNode("n1", 20)
		_, tok := e.addUser("bob", 10)
		ids := make([]string, 8)
		codes := make([]int, 8)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range ids {
			wg.Go(func() {
				<-start
				var v sessionView
				codes[i], v = create(e, tok, map[string]any{"workspace": "web", "launch_key": "same"})
				ids[i] = v.ID
			})
		}
		close(start)
		wg.Wait()
		for i := range ids {
			if codes[i] >= 300 || ids[i] != ids[0] {
				t.Fatalf("statuses %v, sessions %v: want one session for all", codes, ids)
			}
		}
		if n, _ := e.st.CountSessions(context.Background(), airlock.SessionFilter{}); n != 1 {
			t.Fatalf("%d sessions stored for one launch key", n)
		}
	})
	for _, tc := range []struct{ name, key, msg string }{
		{"fail/long", strings.Repeat("k", 65), "at most 64"},
		{"fail/chars", "a b", "only letters, digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := sessionEnv(t)
			e.addNode("n1", 2)
			rec := e.do(req{Method: "POST", Path: "/api/v1/sessions", Bearer: e.userTok, Body: map[string]any{"workspace": "web", "launch_key": tc.key}})
			wantError(t, rec, "invalid", tc.msg)
		})
	}
}
