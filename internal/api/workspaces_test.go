package api

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
)

func TestCreateWorkspace(t *testing.T) {
	e := newEnv(t)
	ws := func(kv ...any) map[string]any {
		m := map[string]any{"name": "w", "image": "airlock/chromium:1"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	full := ws("name", "full", "description", "Chromium with French locale", "isolation", "hardened",
		"nano_cpus", 2e9, "memory", 1<<30, "pids_limit", 512, "shm_size", 256<<20,
		"env", map[string]string{"LANG": "fr_FR.UTF-8", "TZ": "Europe/Paris"}, "start_url", "https://example.com/",
		"seccomp", "chromium", "clipboard", "to-container")
	for _, tc := range []struct {
		name   string
		bearer string // "" is the admin's
		body   map[string]any
		code   string
		msg    []string
		iso    string
	}{
		{name: "ok/minimal", body: ws("name", "chrome"), iso: "standard"},
		{name: "ok/full", body: full, iso: "hardened"},
		{name: "ok/sandboxed", body: ws("name", "sbx", "isolation", "sandboxed"), iso: "sandboxed"},
		{name: "ok/memory-minimum", body: ws("name", "small", "memory", 6<<20), iso: "standard"},
		{name: "ok/digest-image", body: ws("name", "pinned", "image", "registry.example:5000/a/b@sha256:"+strings.Repeat("0", 64)), iso: "standard"},
		{name: "ok/seccomp-known", body: ws("name", "sc", "seccomp", "chromium"), iso: "standard"},
		{name: "ok/seccomp-empty-is-default", body: ws("name", "sc-default", "seccomp", ""), iso: "standard"},
		{name: "ok/clipboard-off", body: ws("name", "clip-off", "clipboard", "off"), iso: "standard"},
		{name: "ok/clipboard-to-container", body: ws("name", "clip-to", "clipboard", "to-container"), iso: "standard"},
		{name: "ok/clipboard-from-container", body: ws("name", "clip-from", "clipboard", "from-container"), iso: "standard"},
		{name: "ok/clipboard-both", body: ws("name", "clip-both", "clipboard", "both"), iso: "standard"},
		{name: "ok/clipboard-empty-is-both", body: ws("name", "clip-empty", "clipboard", ""), iso: "standard"},
		{name: "fail/as-user", bearer: "user", body: ws("name", "x1"), code: "forbidden", msg: []string{"admin role"}},
		{name: "fail/anonymous", bearer: "-", body: ws("name", "x1"), code: "unauthorized"},
		{name: "fail/duplicate", body: ws("name", "chrome"), code: "conflict", msg: []string{`workspace "chrome" already exists`}},
		{name: "fail/name-empty", body: ws("name", ""), code: "invalid", msg: []string{"workspace name"}},
		{name: "fail/name-missing", body: map[string]any{"image": "x"}, code: "invalid", msg: []string{"workspace name"}},
		{name: "fail/name-upper", body: ws("name", "Chrome"), code: "invalid", msg: []string{`workspace name "Chrome"`}},
		{name: "fail/name-slash", body: ws("name", "a/b"), code: "invalid", msg: []string{"workspace name"}},
		{name: "fail/name-long", body: ws("name", strings.Repeat("w", 64)), code: "invalid", msg: []string{"workspace name"}},
		{name: "fail/image-empty", body: ws("name", "x1", "image", ""), code: "invalid", msg: []string{"image", "not an image reference"}},
		{name: "fail/image-missing", body: map[string]any{"name": "x1"}, code: "invalid", msg: []string{"image"}},
		{name: "fail/image-space", body: ws("name", "x1", "image", "airlock/chromium latest"), code: "invalid", msg: []string{"image"}},
		{name: "fail/image-newline", body: ws("name", "x1", "image", "a\nb"), code: "invalid", msg: []string{"image"}},
		{name: "fail/image-long", body: ws("name", "x1", "image", strings.Repeat("i", 256)), code: "invalid", msg: []string{"image"}},
		{name: "fail/start-url-chromium-flag", body: ws("name", "x1", "start_url", "--renderer-cmd-prefix=/bin/sh -c id"), code: "invalid",
			msg: []string{`start URL "--renderer-cmd-prefix`, "http:// or https://"}},
		{name: "fail/start-url-javascript", body: ws("name", "x1", "start_url", "javascript:alert(1)"), code: "invalid", msg: []string{"scheme javascript: is not allowed"}},
		{name: "fail/start-url-file", body: ws("name", "x1", "start_url", "file:///etc/passwd"), code: "invalid", msg: []string{"scheme file: is not allowed"}},
		{name: "fail/isolation-unknown", body: ws("name", "x1", "isolation", "vm"), code: "invalid", msg: []string{`isolation "vm"`, "standard, hardened, sandboxed"}},
		{name: "fail/isolation-upper", body: ws("name", "x1", "isolation", "Standard"), code: "invalid", msg: []string{`isolation "Standard"`}},
		{name: "fail/memory-negative", body: ws("name", "x1", "memory", -1), code: "invalid", msg: []string{"must not be negative"}},
		{name: "fail/memory-too-small", body: ws("name", "x1", "memory", 1024), code: "invalid", msg: []string{"memory limit 1024", "6 MiB"}},
		{name: "fail/memory-just-below", body: ws("name", "x1", "memory", 6<<20-1), code: "invalid", msg: []string{"6 MiB"}},
		{name: "fail/nano-cpus-negative", body: ws("name", "x1", "nano_cpus", -5), code: "invalid", msg: []string{"must not be negative"}},
		{name: "fail/pids-negative", body: ws("name", "x1", "pids_limit", -1), code: "invalid", msg: []string{"must not be negative"}},
		{name: "fail/shm-negative", body: ws("name", "x1", "shm_size", -1), code: "invalid", msg: []string{"must not be negative"}},
		{name: "fail/memory-string", body: ws("name", "x1", "memory", "1g"), code: "invalid", msg: []string{`field "memory"`}},
		{name: "fail/env-reserved", body: ws("name", "x1", "env", map[string]string{"AIRLOCK_REGISTER_TOKEN": "x"}), code: "invalid", msg: []string{`environment variable "AIRLOCK_REGISTER_TOKEN"`, "only AIRLOCK_CODEC"}},
		{name: "fail/env-reserved-server", body: ws("name", "x1", "env", map[string]string{"AIRLOCK_SERVER": "https://evil"}), code: "invalid", msg: []string{`"AIRLOCK_SERVER"`}},
		{name: "fail/env-reserved-prefix-only", body: ws("name", "x1", "env", map[string]string{"AIRLOCK_": "x"}), code: "invalid", msg: []string{`"AIRLOCK_"`}},
		{name: "fail/env-equals", body: ws("name", "x1", "env", map[string]string{"A=B": "x"}), code: "invalid", msg: []string{`"A=B"`}},
		{name: "fail/env-empty-name", body: ws("name", "x1", "env", map[string]string{"": "x"}), code: "invalid", msg: []string{`environment variable name ""`}},
		{name: "fail/env-nul", body: ws("name", "x1", "env", map[string]string{"A\x00B": "x"}), code: "invalid", msg: []string{"environment variable name"}},
		{name: "fail/env-list", body: ws("name", "x1", "env", []string{"A=1"}), code: "invalid", msg: []string{`field "env"`}},
		{name: "fail/description-long", body: ws("name", "x1", "description", strings.Repeat("d", 1025)), code: "invalid", msg: []string{"description or start URL is too long"}},
		{name: "fail/start-url-long", body: ws("name", "x1", "start_url", "https://e.com/"+strings.Repeat("u", 2048)), code: "invalid", msg: []string{"too long"}},
		{name: "fail/seccomp-unknown", body: ws("name", "x1", "seccomp", "firefox"), code: "invalid",
			msg: []string{`seccomp profile "firefox" is not known`, "known profiles: chromium", "empty for Docker's default"}},
		{name: "fail/seccomp-unconfined", body: ws("name", "x1", "seccomp", "unconfined"), code: "invalid", msg: []string{`"unconfined"`, "known profiles: chromium"}},
		{name: "fail/seccomp-inline-json", body: ws("name", "x1", "seccomp", `{"defaultAction":"SCMP_ACT_ALLOW"}`), code: "invalid", msg: []string{"seccomp profile name"}},
		{name: "fail/seccomp-path", body: ws("name", "x1", "seccomp", "/etc/chromium.json"), code: "invalid", msg: []string{"seccomp profile name"}},
		{name: "fail/seccomp-list", body: ws("name", "x1", "seccomp", []string{"chromium"}), code: "invalid", msg: []string{`field "seccomp"`}},
		{name: "fail/clipboard-unknown", body: ws("name", "x1", "clipboard", "sometimes"), code: "invalid",
			msg: []string{`clipboard "sometimes"`, "off, to-container, from-container, both"}},
		{name: "fail/clipboard-upper", body: ws("name", "x1", "clipboard", "BOTH"), code: "invalid", msg: []string{`clipboard "BOTH"`, "off, to-container, from-container, both"}},
		{name: "fail/clipboard-bool", body: ws("name", "x1", "clipboard", true), code: "invalid", msg: []string{`field "clipboard"`}},
		{name: "fail/id-set", body: ws("name", "x1", "id", "0123"), code: "invalid", msg: []string{"id and created_at are set by the server"}},
		{name: "fail/created-at-set", body: ws("name", "x1", "created_at", "2020-01-01T00:00:00Z"), code: "invalid", msg: []string{"id and created_at are set by the server"}},
		{name: "fail/updated-at-set", body: ws("name", "x1", "updated_at", "2020-01-01T00:00:00Z"), code: "invalid", msg: []string{`unknown field "updated_at"`}},
		{name: "fail/unknown-field", body: ws("name", "x1", "privileged", true), code: "invalid", msg: []string{`unknown field "privileged"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bearer := map[string]string{"": e.adminTok, "user": e.userTok, "-": ""}[tc.bearer]
			rec := e.do(req{Method: "POST", Path: "/api/v1/workspaces", Bearer: bearer, Body: tc.body})
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg...)
				if name, _ := tc.body["name"].(string); tc.code != "conflict" && name != "" {
					wantError(t, e.do(req{Method: "GET", Path: "/api/v1/workspaces/" + name, Bearer: e.adminTok}), "not_found")
				}
				return
			}
			wantStatus(t, rec, http.StatusCreated)
			var got workspaceSpec
			mustJSON(t, rec, &got)
			if got.ID == "" || got.CreatedAt == nil || !got.CreatedAt.Equal(e.clk.Now()) || got.Isolation != tc.iso {
				t.Errorf("created %+v", got)
			}
			if got.Name != tc.body["name"] || got.Image != tc.body["image"] {
				t.Errorf("created %s %s", got.Name, got.Image)
			}
			if env, ok := tc.body["env"].(map[string]string); ok && !maps.Equal(env, got.Env) {
				t.Errorf("env %v, want %v", got.Env, env)
			}
			wantSeccomp, _ := tc.body["seccomp"].(string)
			wantClip, _ := tc.body["clipboard"].(string)
			if wantClip == "" {
				wantClip = "both"
			}
			if got.Seccomp != wantSeccomp || got.Clipboard != wantClip {
				t.Errorf("seccomp %q clipboard %q, want %q %q", got.Seccomp, got.Clipboard, wantSeccomp, wantClip)
			}
			// What was stored reads back the same (to an admin: users do not
			// see env, TestWorkspaceEnvAdminOnly).
			rec = e.do(req{Method: "GET", Path: "/api/v1/workspaces/" + got.Name, Bearer: e.adminTok})
			wantStatus(t, rec, http.StatusOK)
			var back workspaceSpec
			mustJSON(t, rec, &back)
			if back.ID != got.ID || back.Memory != got.Memory || back.NanoCPUs != got.NanoCPUs || back.PidsLimit != got.PidsLimit ||
				back.ShmSize != got.ShmSize || back.StartURL != got.StartURL || back.Description != got.Description || !maps.Equal(back.Env, got.Env) ||
				back.Seccomp != got.Seccomp || back.Clipboard != got.Clipboard {
				t.Errorf("read back %+v, created %+v", back, got)
			}
		})
	}
}

func TestGetListDeleteWorkspace(t *testing.T) {
	e := newEnv(t)
	e.addWorkspace(map[string]any{"name": "chrome", "image": "a"})
	e.addWorkspace(map[string]any{"name": "firefox", "image": "b"})
	e.addWorkspace(map[string]any{"name": "gone", "image": "c"})
	for _, tc := range []struct {
		name, method, path, bearer string
		code, msg                  string
		status                     int
	}{
		{name: "ok/get-as-user", method: "GET", path: "/api/v1/workspaces/chrome", bearer: e.userTok, status: 200},
		{name: "ok/get-as-admin", method: "GET", path: "/api/v1/workspaces/chrome", bearer: e.adminTok, status: 200},
		{name: "ok/list-as-user", method: "GET", path: "/api/v1/workspaces", bearer: e.userTok, status: 200},
		{name: "fail/get-anonymous", method: "GET", path: "/api/v1/workspaces/chrome", code: "unauthorized"},
		{name: "fail/list-anonymous", method: "GET", path: "/api/v1/workspaces", code: "unauthorized"},
		{name: "fail/get-unknown", method: "GET", path: "/api/v1/workspaces/nope", bearer: e.userTok, code: "not_found", msg: `workspace "nope" not found`},
		{name: "fail/get-by-id-not-name", method: "GET", path: "/api/v1/workspaces/0123456789abcdef", bearer: e.userTok, code: "not_found"},
		{name: "fail/delete-as-user", method: "DELETE", path: "/api/v1/workspaces/chrome", bearer: e.userTok, code: "forbidden", msg: "admin role"},
		{name: "fail/delete-anonymous", method: "DELETE", path: "/api/v1/workspaces/chrome", code: "unauthorized"},
		{name: "fail/delete-unknown", method: "DELETE", path: "/api/v1/workspaces/nope", bearer: e.adminTok, code: "not_found", msg: `workspace "nope" not found`},
		{name: "ok/delete", method: "DELETE", path: "/api/v1/workspaces/gone", bearer: e.adminTok, status: 204},
		{name: "fail/get-deleted", method: "GET", path: "/api/v1/workspaces/gone", bearer: e.userTok, code: "not_found"},
		{name: "fail/delete-again", method: "DELETE", path: "/api/v1/workspaces/gone", bearer: e.adminTok, code: "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(req{Method: tc.method, Path: tc.path, Bearer: tc.bearer})
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg)
				return
			}
			wantStatus(t, rec, tc.status)
		})
	}
	var list []workspaceSpec
	mustJSON(t, e.do(req{Method: "GET", Path: "/api/v1/workspaces", Bearer: e.userTok}), &list)
	if len(list) != 2 {
		t.Errorf("workspaces %+v, want chrome and firefox", list)
	}
}

// TestWorkspaceJSON pins the names clients read: seccomp and clipboard
// are always there, empty seccomp meaning Docker's default profile, and
// the catalog lists them as a single workspace shows them.
func TestWorkspaceJSON(t *testing.T) {
	e := newEnv(t)
	e.addWorkspace(map[string]any{"name": "chromium", "image": "airlock/chromium:latest", "seccomp": "chromium", "clipboard": "from-container"})
	e.addWorkspace(map[string]any{"name": "plain", "image": "airlock/minimal:latest"})
	// A workspace stored without a policy (as before there was one) shows the default.
	now := e.clk.Now()
	if err := e.st.CreateWorkspace(context.Background(), &airlock.Workspace{ID: "old1", Name: "stored-bare", Image: "x",
		Isolation: airlock.IsolationStandard, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{
		"chromium":    {"seccomp": "chromium", "clipboard": "from-container"},
		"plain":       {"seccomp": "", "clipboard": "both"},
		"stored-bare": {"seccomp": "", "clipboard": "both"},
	}
	check := func(t *testing.T, got map[string]any) {
		t.Helper()
		name, _ := got["name"].(string)
		for k, v := range want[name] {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("workspace %s: %s = %#v (present %v), want %#v", name, k, g, ok, v)
			}
		}
	}
	for name := range want {
		t.Run("ok/get-"+name, func(t *testing.T) {
			rec := e.do(req{Method: "GET", Path: "/api/v1/workspaces/" + name, Bearer: e.userTok})
			wantStatus(t, rec, http.StatusOK)
			var got map[string]any
			mustJSON(t, rec, &got)
			check(t, got)
		})
	}
	t.Run("ok/list", func(t *testing.T) {
		rec := e.do(req{Method: "GET", Path: "/api/v1/workspaces", Bearer: e.userTok})
		wantStatus(t, rec, http.StatusOK)
		var list []map[string]any
		mustJSON(t, rec, &list)
		if len(list) != len(want) {
			t.Fatalf("%d workspaces, want %d", len(list), len(want))
		}
		for _, got := range list {
			check(t, got)
		}
	})
}

// TestNewSeccompProfiles: the api refuses profiles it could not send.
func TestNewSeccompProfiles(t *testing.T) {
	for _, tc := range []struct {
		name     string
		profiles map[string][]byte
		msg      string // empty: accepted
	}{
		{"ok/none", nil, ""},
		{"ok/one", map[string][]byte{"chromium": []byte(testProfile)}, ""},
		{"fail/not-json", map[string][]byte{"chromium": []byte("defaultAction: allow")}, `seccomp profile "chromium" is not JSON`},
		{"fail/empty", map[string][]byte{"chromium": nil}, `seccomp profile "chromium" is not JSON`},
		{"fail/bad-name", map[string][]byte{"Chromium Profile": []byte(testProfile)}, `seccomp profile name "Chromium Profile"`},
		{"fail/empty-name", map[string][]byte{"": []byte(testProfile)}, `seccomp profile name ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Options{SeccompProfiles: tc.profiles, PasswordParams: &auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}})
			if s != nil {
				defer s.Close()
			}
			if tc.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.msg)
			}
		})
	}
}

// TestDeleteWorkspaceInUse: like users and nodes, a workspace with active
// sessions is not deleted from under them.
func TestDeleteWorkspaceInUse(t *testing.T) {
	e := newEnv(t)
	ws := e.addWorkspace(map[string]any{"name": "chrome", "image": "a"})
	e.addSession(e.user, ws.ID, "node", airlock.SessionReady)
	wantError(t, e.do(req{Method: "DELETE", Path: "/api/v1/workspaces/chrome", Bearer: e.adminTok}), "conflict", "active session")
}

// TestWorkspaceEnvAdminOnly: a workspace's environment variables reach
// admins only, through the API token of the CLI as through the cookie of
// the portal's catalog.
func TestWorkspaceEnvAdminOnly(t *testing.T) {
	e := newEnv(t)
	e.addWorkspace(map[string]any{"name": "proxied", "image": "a", "env": map[string]string{"HTTPS_PROXY": "http://svc:hunter2@proxy:3128"}})
	adminCookie := e.cookieLogin("admin", adminPassword)
	userCookie := e.cookieLogin("alice", userPassword)
	for _, tc := range []struct {
		name, path     string
		bearer, cookie string
		wantEnv        bool
	}{
		{name: "admin/get", path: "/api/v1/workspaces/proxied", bearer: e.adminTok, wantEnv: true},
		{name: "admin/list", path: "/api/v1/workspaces", bearer: e.adminTok, wantEnv: true},
		{name: "admin/portal-list", path: "/api/v1/workspaces", cookie: adminCookie, wantEnv: true},
		{name: "user/get", path: "/api/v1/workspaces/proxied", bearer: e.userTok},
		{name: "user/list", path: "/api/v1/workspaces", bearer: e.userTok},
		{name: "user/portal-list", path: "/api/v1/workspaces", cookie: userCookie},
		{name: "user/portal-get", path: "/api/v1/workspaces/proxied", cookie: userCookie},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req{Method: "GET", Path: tc.path, Bearer: tc.bearer}
			if tc.cookie != "" {
				r.Header = map[string]string{"Cookie": cookieName + "=" + tc.cookie}
			}
			rec := e.do(r)
			wantStatus(t, rec, http.StatusOK)
			body := rec.Body.String()
			if got := strings.Contains(body, "hunter2"); got != tc.wantEnv {
				t.Errorf("env shown: %v, want %v: %s", got, tc.wantEnv, body)
			}
			if !tc.wantEnv && strings.Contains(body, `"env"`) {
				t.Errorf("the answer to a non-admin has an env field: %s", body)
			}
			if !strings.Contains(body, `"proxied"`) {
				t.Errorf("the workspace itself is missing: %s", body)
			}
		})
	}
}
