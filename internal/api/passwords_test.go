package api

import (
	"net/http"
	"testing"
)

// signedIn reports whether the cookie or API token still authenticates.
func (e *env) signedIn(cookie, bearer string) bool {
	e.t.Helper()
	r := req{Method: "GET", Path: "/api/v1/me", Bearer: bearer}
	if cookie != "" {
		r.Header = map[string]string{"Cookie": cookieName + "=" + cookie}
	}
	return e.do(r).Code == http.StatusOK
}

// loginWorks reports whether name signs in with password.
func (e *env) loginWorks(name, password string) bool {
	e.t.Helper()
	return e.do(req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"user": name, "password": password, "token": true}}).Code == http.StatusOK
}

func TestChangePassword(t *testing.T) {
	const newPassword = "alice-new-password"
	for _, tc := range []struct {
		name    string
		body    any
		by      string // "cookie", "token" or "" (anonymous)
		code    string
		msg     string
		changed bool
	}{
		{name: "fail/anonymous", body: map[string]string{"current": userPassword, "new": newPassword}, code: "unauthorized"},
		{name: "fail/wrong-current", body: map[string]string{"current": "not-her-password", "new": newPassword}, by: "token", code: "forbidden", msg: "the current password is wrong"},
		{name: "fail/no-current", body: map[string]string{"new": newPassword}, by: "token", code: "invalid", msg: "current and new are required"},
		{name: "fail/no-new", body: map[string]string{"current": userPassword}, by: "token", code: "invalid", msg: "current and new are required"},
		{name: "fail/too-short", body: map[string]string{"current": userPassword, "new": "short"}, by: "token", code: "invalid", msg: "new password: hash password: password does not meet the policy: shorter than 8 bytes"},
		{name: "fail/too-long", body: map[string]string{"current": userPassword, "new": string(make([]byte, 1025))}, by: "token", code: "invalid", msg: "longer than 1024 bytes"},
		{name: "fail/same", body: map[string]string{"current": userPassword, "new": userPassword}, by: "token", code: "invalid", msg: "the same as the current one"},
		{name: "fail/unknown-field", body: map[string]string{"current": userPassword, "new": newPassword, "user": "admin"}, by: "token", code: "invalid", msg: `unknown field "user"`},
		{name: "ok/by-cookie", body: map[string]string{"current": userPassword, "new": newPassword}, by: "cookie", changed: true},
		{name: "ok/by-token", body: map[string]string{"current": userPassword, "new": newPassword}, by: "token", changed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			mine := e.cookieLogin("alice", userPassword)
			other := e.cookieLogin("alice", userPassword)
			admins := e.cookieLogin("admin", adminPassword)
			r := req{Method: "POST", Path: "/api/v1/users/me/password", Body: tc.body}
			switch tc.by {
			case "cookie":
				r.Header = map[string]string{"Cookie": cookieName + "=" + mine}
			case "token":
				r.Bearer = e.userTok
			}
			rec := e.do(r)
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg)
			} else {
				wantStatus(t, rec, http.StatusOK)
				var got passwordSet
				mustJSON(t, rec, &got)
				// By cookie, the other session ends; by token, both do.
				want := map[string]int{"cookie": 1, "token": 2}[tc.by]
				if got.WebSessionsEnded != want {
					t.Errorf("web_sessions_ended %d, want %d", got.WebSessionsEnded, want)
				}
			}
			if e.loginWorks("alice", newPassword) != tc.changed || e.loginWorks("alice", userPassword) == tc.changed {
				t.Errorf("after: new password works %v, old works %v; want the change %v", e.loginWorks("alice", newPassword), e.loginWorks("alice", userPassword), tc.changed)
			}
			if got := e.signedIn(other, ""); got == tc.changed {
				t.Errorf("alice's other web session signed in: %v, want %v", got, !tc.changed)
			}
			if got, want := e.signedIn(mine, ""), !tc.changed || tc.by == "cookie"; got != want {
				t.Errorf("the web session making the change signed in: %v, want %v", got, want)
			}
			if !e.signedIn("", e.userTok) {
				t.Errorf("alice's API token stopped working")
			}
			if !e.signedIn(admins, "") || !e.loginWorks("admin", adminPassword) {
				t.Errorf("the admin's session or password changed with alice's")
			}
		})
	}
}

func TestResetPassword(t *testing.T) {
	const newPassword = "reset-password-1"
	for _, tc := range []struct {
		name, user string
		body       any
		by         string // "admin-cookie", "admin-token", "user", "" (anonymous)
		code, msg  string
		ended      int
	}{
		{name: "fail/anonymous", user: "alice", body: map[string]string{"new": newPassword}, code: "unauthorized"},
		{name: "fail/as-user", user: "admin", body: map[string]string{"new": newPassword}, by: "user", code: "forbidden", msg: "admin role"},
		{name: "fail/as-user-self", user: "alice", body: map[string]string{"new": newPassword}, by: "user", code: "forbidden", msg: "admin role"},
		{name: "fail/unknown-user", user: "mallory", body: map[string]string{"new": newPassword}, by: "admin-token", code: "not_found", msg: `user "mallory" not found`},
		{name: "fail/too-short", user: "alice", body: map[string]string{"new": "1234567"}, by: "admin-token", code: "invalid", msg: "shorter than 8 bytes"},
		{name: "fail/no-new", user: "alice", body: map[string]string{}, by: "admin-token", code: "invalid", msg: "new is required"},
		{name: "fail/current-not-taken", user: "alice", body: map[string]string{"current": userPassword, "new": newPassword}, by: "admin-token", code: "invalid", msg: `unknown field "current"`},
		{name: "ok/alice-by-token", user: "alice", body: map[string]string{"new": newPassword}, by: "admin-token", ended: 2},
		{name: "ok/alice-by-cookie", user: "alice", body: map[string]string{"new": newPassword}, by: "admin-cookie", ended: 2},
		// The admin's own session survives resetting themselves.
		{name: "ok/admin-self-by-cookie", user: "admin", body: map[string]string{"new": newPassword}, by: "admin-cookie", ended: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			alice1 := e.cookieLogin("alice", userPassword)
			alice2 := e.cookieLogin("alice", userPassword)
			adminCk := e.cookieLogin("admin", adminPassword)
			r := req{Method: "POST", Path: "/api/v1/users/" + tc.user + "/password", Body: tc.body}
			switch tc.by {
			case "admin-cookie":
				r.Header = map[string]string{"Cookie": cookieName + "=" + adminCk}
			case "admin-token":
				r.Bearer = e.adminTok
			case "user":
				r.Bearer = e.userTok
			}
			rec := e.do(r)
			old := map[string]string{"alice": userPassword, "admin": adminPassword}
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg)
				for name, pw := range old {
					if !e.loginWorks(name, pw) {
						t.Errorf("%s's password changed on a refused reset", name)
					}
				}
				if !e.signedIn(alice1, "") || !e.signedIn(alice2, "") || !e.signedIn(adminCk, "") {
					t.Errorf("a refused reset ended web sessions")
				}
				return
			}
			wantStatus(t, rec, http.StatusOK)
			var got passwordSet
			mustJSON(t, rec, &got)
			if got.WebSessionsEnded != tc.ended {
				t.Errorf("web_sessions_ended %d, want %d", got.WebSessionsEnded, tc.ended)
			}
			if !e.loginWorks(tc.user, newPassword) || e.loginWorks(tc.user, old[tc.user]) {
				t.Errorf("%s: the new password does not work or the old one still does", tc.user)
			}
			aliceReset := tc.user == "alice"
			if e.signedIn(alice1, "") == aliceReset || e.signedIn(alice2, "") == aliceReset {
				t.Errorf("alice's web sessions signed in: %v %v, want %v", e.signedIn(alice1, ""), e.signedIn(alice2, ""), !aliceReset)
			}
			if !e.signedIn(adminCk, "") {
				t.Errorf("the admin's own web session ended")
			}
		})
	}
}

func TestUserNamedMeReserved(t *testing.T) {
	e := newEnv(t)
	wantError(t, e.do(req{Method: "POST", Path: "/api/v1/users", Bearer: e.adminTok, Body: map[string]any{"name": "me", "password": "long-enough-1"}}),
		"invalid", `user name "me" is reserved`)
}
