package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
)

func TestCreateUser(t *testing.T) {
	e := newEnv(t)
	const pw = "long-enough-pw"
	for _, tc := range []struct {
		name   string
		bearer string // "" uses the admin's token
		body   any
		code   string
		msg    []string
		role   string // the role of the created user
		max    int
	}{
		{name: "ok/default-role", body: map[string]any{"name": "bob", "password": pw}, role: "user"},
		{name: "ok/user", body: map[string]any{"name": "carol", "password": pw, "role": "user"}, role: "user"},
		{name: "ok/admin", body: map[string]any{"name": "root-2", "password": pw, "role": "admin"}, role: "admin"},
		{name: "ok/max-sessions", body: map[string]any{"name": "dave", "password": pw, "max_sessions": 5}, role: "user", max: 5},
		{name: "ok/max-sessions-upper-bound", body: map[string]any{"name": "erin", "password": pw, "max_sessions": 1000}, role: "user", max: 1000},
		{name: "ok/name-punctuation", body: map[string]any{"name": "f.g_h-1", "password": pw}, role: "user"},
		{name: "ok/name-63", body: map[string]any{"name": strings.Repeat("n", 63), "password": pw}, role: "user"},
		{name: "ok/password-8-bytes", body: map[string]any{"name": "gina", "password": "12345678"}, role: "user"},
		{name: "fail/as-user", bearer: e.userTok, body: map[string]any{"name": "x1", "password": pw}, code: "forbidden", msg: []string{"admin role"}},
		{name: "fail/anonymous", bearer: "-", body: map[string]any{"name": "x1", "password": pw}, code: "unauthorized"},
		{name: "fail/name-empty", body: map[string]any{"name": "", "password": pw}, code: "invalid", msg: []string{"user name"}},
		{name: "fail/name-missing", body: map[string]any{"password": pw}, code: "invalid", msg: []string{"user name"}},
		{name: "fail/name-upper", body: map[string]any{"name": "Bob", "password": pw}, code: "invalid", msg: []string{`user name "Bob"`}},
		{name: "fail/name-space", body: map[string]any{"name": "bo b", "password": pw}, code: "invalid", msg: []string{"user name"}},
		{name: "fail/name-leading-dot", body: map[string]any{"name": ".bob", "password": pw}, code: "invalid", msg: []string{"user name"}},
		{name: "fail/name-leading-dash", body: map[string]any{"name": "-bob", "password": pw}, code: "invalid", msg: []string{"user name"}},
		{name: "fail/name-slash", body: map[string]any{"name": "a/b", "password": pw}, code: "invalid", msg: []string{"user name"}},
		{name: "fail/name-at", body: map[string]any{"name": "bob@example.com", "password": pw}, code: "invalid", msg: []string{"user name"}},
		{name: "fail/name-unicode", body: map[string]any{"name": "bøb", "password": pw}, code: "invalid", msg: []string{"user name"}},
		{name: "fail/name-newline", body: map[string]any{"name": "bob\n", "password": pw}, code: "invalid", msg: []string{"user name"}},
		{name: "fail/name-64", body: map[string]any{"name": strings.Repeat("n", 64), "password": pw}, code: "invalid", msg: []string{"user name"}},
		{name: "fail/role-unknown", body: map[string]any{"name": "x1", "password": pw, "role": "root"}, code: "invalid", msg: []string{`role "root" is not admin or user`}},
		{name: "fail/role-upper", body: map[string]any{"name": "x1", "password": pw, "role": "Admin"}, code: "invalid", msg: []string{`role "Admin"`}},
		{name: "fail/password-empty", body: map[string]any{"name": "x1", "password": ""}, code: "invalid", msg: []string{"password", "8"}},
		{name: "fail/password-short", body: map[string]any{"name": "x1", "password": "1234567"}, code: "invalid", msg: []string{"password", "shorter than 8"}},
		{name: "fail/password-long", body: map[string]any{"name": "x1", "password": strings.Repeat("p", 1025)}, code: "invalid", msg: []string{"password", "longer than 1024"}},
		{name: "fail/max-sessions-negative", body: map[string]any{"name": "x1", "password": pw, "max_sessions": -1}, code: "invalid", msg: []string{"max_sessions must be between 0"}},
		{name: "fail/max-sessions-too-many", body: map[string]any{"name": "x1", "password": pw, "max_sessions": 1001}, code: "invalid", msg: []string{"max_sessions", "1000"}},
		{name: "fail/max-sessions-string", body: map[string]any{"name": "x1", "password": pw, "max_sessions": "3"}, code: "invalid", msg: []string{`field "max_sessions"`}},
		{name: "fail/duplicate", body: map[string]any{"name": "bob", "password": pw}, code: "conflict", msg: []string{`user "bob" already exists`}},
		{name: "fail/duplicate-admin", body: map[string]any{"name": "admin", "password": pw, "role": "admin"}, code: "conflict", msg: []string{`user "admin" already exists`}},
		{name: "fail/unknown-field", body: map[string]any{"name": "x1", "password": pw, "password_hash": "$argon2id$"}, code: "invalid", msg: []string{`unknown field "password_hash"`}},
		{name: "fail/id-set", body: map[string]any{"id": "x", "name": "x1", "password": pw}, code: "invalid", msg: []string{`unknown field "id"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bearer := tc.bearer
			switch bearer {
			case "":
				bearer = e.adminTok
			case "-":
				bearer = ""
			}
			rec := e.do(req{Method: "POST", Path: "/api/v1/users", Bearer: bearer, Body: tc.body})
			name, _ := tc.body.(map[string]any)["name"].(string)
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg...)
				if tc.code != "conflict" && name != "" {
					if _, err := e.st.UserByName(context.Background(), name); err == nil {
						t.Errorf("refused user %q was stored", name)
					}
				}
				return
			}
			wantStatus(t, rec, http.StatusCreated)
			var u userView
			mustJSON(t, rec, &u)
			if u.Name != name || u.Role != tc.role || u.MaxSessions != tc.max || u.ID == "" || u.CreatedAt.IsZero() {
				t.Errorf("created %+v", u)
			}
			noSecrets(t, rec.Body.String())
			// The new user can sign in with the password given.
			pw, _ := tc.body.(map[string]any)["password"].(string)
			e.login(name, pw)
		})
	}
}

// noSecrets fails if a JSON answer mentions password hashes.
func noSecrets(t *testing.T, body string) {
	t.Helper()
	for _, s := range []string{"hash", "Hash", "password", "Password", "argon2", "$"} {
		if strings.Contains(body, s) {
			t.Errorf("answer contains %q: %s", s, body)
		}
	}
}

func TestListUsers(t *testing.T) {
	e := newEnv(t)
	e.addUser("bob", 7)
	for _, tc := range []struct {
		name, bearer string
		code         string
	}{
		{"ok/admin", e.adminTok, ""},
		{"fail/user", e.userTok, "forbidden"},
		{"fail/anonymous", "", "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(req{Method: "GET", Path: "/api/v1/users", Bearer: tc.bearer})
			if tc.code != "" {
				wantError(t, rec, tc.code)
				return
			}
			wantStatus(t, rec, http.StatusOK)
			noSecrets(t, rec.Body.String())
			var list []userView
			mustJSON(t, rec, &list)
			got := map[string]userView{}
			for _, u := range list {
				got[u.Name] = u
			}
			if len(list) != 3 || got["admin"].Role != "admin" || got["alice"].Role != "user" || got["bob"].MaxSessions != 7 {
				t.Errorf("users %+v", list)
			}
		})
	}
}

func TestMe(t *testing.T) {
	e := newEnv(t)
	rec := e.do(req{Method: "GET", Path: "/api/v1/me", Bearer: e.userTok})
	wantStatus(t, rec, http.StatusOK)
	noSecrets(t, rec.Body.String())
	var u userView
	mustJSON(t, rec, &u)
	if u.ID != e.user.ID || u.Name != "alice" || u.Role != "user" {
		t.Errorf("me %+v", u)
	}
}

func TestDeleteUser(t *testing.T) {
	e := newEnv(t)
	bob, bobTok := e.addUser("bob", 0)
	busy, _ := e.addUser("busy", 0)
	for _, st := range airlock.ActiveStates {
		e.addSession(busy, "ws", "node", st)
	}
	done, _ := e.addUser("done", 0)
	e.addSession(done, "ws", "node", airlock.SessionStopped)
	e.addSession(done, "ws", "node", airlock.SessionFailed)
	other, _ := e.addUser("other-admin", 0)
	other.Role = airlock.RoleAdmin
	if err := e.st.UpdateUser(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	otherTok := e.login("other-admin", "other-admin-password")

	for _, tc := range []struct {
		name, user, bearer string
		code               string
		msg                []string
	}{
		{name: "fail/as-user", user: "bob", bearer: e.userTok, code: "forbidden", msg: []string{"admin role"}},
		{name: "fail/anonymous", user: "bob", code: "unauthorized"},
		{name: "fail/self", user: "admin", bearer: e.adminTok, code: "conflict", msg: []string{"cannot delete yourself"}},
		{name: "fail/unknown", user: "nobody", bearer: e.adminTok, code: "not_found", msg: []string{`user "nobody" not found`}},
		{name: "fail/active-sessions", user: "busy", bearer: e.adminTok, code: "conflict", msg: []string{fmt.Sprintf(`user "busy" has %d active sessions`, len(airlock.ActiveStates))}},
		{name: "ok/finished-sessions", user: "done", bearer: e.adminTok},
		{name: "ok/user", user: "bob", bearer: e.adminTok},
		{name: "fail/again", user: "bob", bearer: e.adminTok, code: "not_found"},
		{name: "ok/another-admin", user: "admin", bearer: otherTok},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(req{Method: "DELETE", Path: "/api/v1/users/" + tc.user, Bearer: tc.bearer})
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg...)
				return
			}
			wantStatus(t, rec, http.StatusNoContent)
			if _, err := e.st.UserByName(context.Background(), tc.user); airlock.ErrorCode(err) != airlock.ENOTFOUND {
				t.Errorf("user %s still stored: %v", tc.user, err)
			}
		})
	}
	// A deleted user's tokens and password stop working.
	wantError(t, e.do(req{Method: "GET", Path: "/api/v1/me", Bearer: bobTok}), "unauthorized")
	wantError(t, e.do(req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"user": "bob", "password": "bob-password"}}), "unauthorized")
	if _, err := e.st.UserByID(context.Background(), bob.ID); err == nil {
		t.Errorf("bob still stored")
	}
}

// TestServerMisconfigured: password parameters that cannot hash are the
// operator's mistake, caught when the server is built rather than blamed
// on a client at the first sign-in.
func TestServerMisconfigured(t *testing.T) {
	e := newEnv(t)
	_, err := New(Options{Store: e.st, Driver: e.drv, Signer: e.signer, CA: e.ca, Now: e.clk.Now,
		PasswordParams: &auth.PasswordParams{Memory: 1024, Time: 1, Threads: 0}})
	if err == nil || !strings.Contains(err.Error(), "password parameters") {
		t.Fatalf("New with unusable password parameters: %v", err)
	}
}
