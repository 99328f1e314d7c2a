package api

import (
	"net/http"
	"strings"
	"testing"
)

// TestSessionCookieHostPrefix: the web session cookie is a __Host-
// cookie (Secure, Path=/, no Domain), on sign-in and on sign-out alike,
// and a cookie of the old name signs no one in.
func TestSessionCookieHostPrefix(t *testing.T) {
	e := newEnv(t)
	login := e.do(req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"user": "alice", "password": userPassword}})
	wantStatus(t, login, http.StatusOK)
	value := login.Result().Cookies()[0].Value
	logout := e.do(req{Method: "POST", Path: "/api/v1/auth/logout", Header: map[string]string{"Cookie": "__Host-airlock_session=" + value}})
	wantStatus(t, logout, http.StatusNoContent)
	again := e.cookieLogin("alice", userPassword)
	for _, tc := range []struct {
		name   string
		header string
	}{
		{"login", login.Header().Get("Set-Cookie")},
		{"logout", logout.Header().Get("Set-Cookie")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.HasPrefix(tc.header, "__Host-airlock_session=") {
				t.Fatalf("Set-Cookie %q: want the __Host-airlock_session cookie", tc.header)
			}
			attrs := strings.Split(tc.header, "; ")[1:]
			has := func(a string) bool {
				for _, x := range attrs {
					if strings.EqualFold(x, a) {
						return true
					}
				}
				return false
			}
			if !has("Secure") || !has("Path=/") || !has("HttpOnly") {
				t.Errorf("Set-Cookie %q lacks Secure, Path=/ or HttpOnly", tc.header)
			}
			for _, a := range attrs {
				if strings.HasPrefix(strings.ToLower(a), "domain=") {
					t.Errorf("Set-Cookie %q has %s: a __Host- cookie must not", tc.header, a)
				}
			}
		})
	}
	t.Run("old-name-refused", func(t *testing.T) {
		wantError(t, e.do(req{Method: "GET", Path: "/api/v1/me", Header: map[string]string{"Cookie": "airlock_session=" + again}}), "unauthorized")
		wantStatus(t, e.do(req{Method: "GET", Path: "/api/v1/me", Header: map[string]string{"Cookie": "__Host-airlock_session=" + again}}), http.StatusOK)
	})
}
