package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/auth"
)

func TestLogin(t *testing.T) {
	e := newEnv(t)
	var unknownUser, wrongPassword errorBody
	for _, tc := range []struct {
		name string
		body any
		ct   string // Content-Type; "" keeps application/json
		code string // "" for success
		msg  []string
		out  *errorBody // keeps the error body
	}{
		{name: "ok/token", body: map[string]any{"user": "alice", "password": userPassword, "token": true}},
		{name: "ok/token-named", body: map[string]any{"user": "alice", "password": userPassword, "token": true, "token_name": "laptop"}},
		{name: "ok/cookie", body: map[string]any{"user": "alice", "password": userPassword}},
		{name: "ok/cookie-token-false", body: map[string]any{"user": "admin", "password": adminPassword, "token": false}},
		{name: "fail/wrong-password", body: map[string]any{"user": "alice", "password": "not-her-password", "token": true},
			code: "unauthorized", msg: []string{"user name or password is wrong"}, out: &wrongPassword},
		{name: "fail/unknown-user", body: map[string]any{"user": "mallory", "password": "not-her-password", "token": true},
			code: "unauthorized", msg: []string{"user name or password is wrong"}, out: &unknownUser},
		{name: "fail/password-case", body: map[string]any{"user": "alice", "password": strings.ToUpper(userPassword)},
			code: "unauthorized", msg: []string{"user name or password is wrong"}},
		{name: "fail/user-name-case", body: map[string]any{"user": "Alice", "password": userPassword},
			code: "unauthorized", msg: []string{"user name or password is wrong"}},
		{name: "fail/missing-user", body: map[string]any{"password": userPassword}, code: "invalid", msg: []string{"user and password are required"}},
		{name: "fail/missing-password", body: map[string]any{"user": "alice"}, code: "invalid", msg: []string{"user and password are required"}},
		{name: "fail/empty-strings", body: map[string]any{"user": "", "password": ""}, code: "invalid", msg: []string{"user and password are required"}},
		{name: "fail/empty-body", body: "", code: "invalid", msg: []string{"JSON object is required"}},
		{name: "fail/unknown-field", body: map[string]any{"user": "alice", "password": userPassword, "otp": "123"}, code: "invalid", msg: []string{`unknown field "otp"`}},
		{name: "fail/token-not-bool", body: map[string]any{"user": "alice", "password": userPassword, "token": "yes"}, code: "invalid", msg: []string{`field "token"`, "true or false"}},
		{name: "fail/form-encoded", body: "user=alice&password=x", ct: "application/x-www-form-urlencoded", code: "invalid", msg: []string{"Content-Type must be application/json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req{Method: "POST", Path: "/api/v1/auth/login", Body: tc.body}
			if tc.ct != "" {
				r.Header = map[string]string{"Content-Type": tc.ct}
			}
			rec := e.do(r)
			if tc.code != "" {
				eb := wantError(t, rec, tc.code, tc.msg...)
				if tc.out != nil {
					*tc.out = eb
				}
				if rec.Header().Get("Set-Cookie") != "" {
					t.Errorf("a refused login set a cookie: %q", rec.Header().Get("Set-Cookie"))
				}
				return
			}
			wantStatus(t, rec, http.StatusOK)
			var lr loginResponse
			mustJSON(t, rec, &lr)
			body := tc.body.(map[string]any)
			if lr.User.Name != body["user"] || lr.User.ID == "" {
				t.Errorf("user %+v", lr.User)
			}
			if strings.Contains(rec.Body.String(), "argon2") || strings.Contains(rec.Body.String(), "hash") {
				t.Errorf("login answer shows the password hash: %s", rec.Body)
			}
			if body["token"] == true {
				if !strings.HasPrefix(lr.Token, "alk_") {
					t.Errorf("token %q is not an API token", lr.Token)
				}
				if rec.Header().Get("Set-Cookie") != "" {
					t.Errorf("token login also set a cookie")
				}
				// The token works and carries its name.
				wantStatus(t, e.do(req{Method: "GET", Path: "/api/v1/me", Bearer: lr.Token}), http.StatusOK)
				if name, ok := body["token_name"].(string); ok {
					var list []tokenView
					mustJSON(t, e.do(req{Method: "GET", Path: "/api/v1/tokens", Bearer: lr.Token}), &list)
					found := false
					for _, tv := range list {
						found = found || tv.Name == name
					}
					if !found {
						t.Errorf("no token named %q in %+v", name, list)
					}
				}
				return
			}
			if lr.Token != "" {
				t.Errorf("cookie login returned a token")
			}
			cookies := rec.Result().Cookies()
			if len(cookies) != 1 {
				t.Fatalf("cookies %v", cookies)
			}
			c := cookies[0]
			if c.Name != cookieName || !strings.HasPrefix(c.Value, "als_") {
				t.Errorf("cookie %s=%s", c.Name, c.Value)
			}
			if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
				t.Errorf("cookie attributes: HttpOnly=%v Secure=%v SameSite=%v Path=%q", c.HttpOnly, c.Secure, c.SameSite, c.Path)
			}
			if want := e.clk.Now().Add(12 * time.Hour); c.Expires.Sub(want).Abs() > time.Second {
				t.Errorf("cookie expires %v, want %v", c.Expires, want)
			}
			raw := rec.Header().Get("Set-Cookie")
			for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Lax"} {
				if !strings.Contains(raw, attr) {
					t.Errorf("Set-Cookie %q lacks %s", raw, attr)
				}
			}
		})
	}
	t.Run("fail/unknown-user-indistinguishable", func(t *testing.T) {
		if unknownUser != wrongPassword {
			t.Errorf("unknown user %+v, wrong password %+v: the answers tell the cases apart", unknownUser, wrongPassword)
		}
	})
}

// TestBearer drives GET /api/v1/me with every kind of Authorization.
func TestBearer(t *testing.T) {
	e := newEnv(t)
	mustToken := func(kind auth.TokenKind) string {
		tok, err := auth.NewToken(kind)
		if err != nil {
			t.Fatal(err)
		}
		return tok.String()
	}
	// A token with a stored ID and the wrong secret.
	good, _ := auth.ParseToken(e.userTok)
	wrongSecret := auth.Token{Kind: auth.KindAPI, ID: good.ID, Secret: strings.Repeat("a", 52)}.String()
	// A web session token presented as a bearer token.
	webLogin := e.do(req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"user": "alice", "password": userPassword}})
	webTok := webLogin.Result().Cookies()[0].Value

	revoked := e.login("alice", userPassword)
	revokedID, _ := auth.ParseToken(revoked)
	wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/tokens/" + revokedID.ID, Bearer: e.userTok}), http.StatusNoContent)

	var expiring tokenView
	mustJSON(t, e.do(req{Method: "POST", Path: "/api/v1/tokens", Bearer: e.userTok, Body: map[string]string{"name": "short", "ttl": "1h"}}), &expiring)

	gone, goneTok := e.addUser("bob", 0)
	wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/users/" + gone.Name, Bearer: e.adminTok}), http.StatusNoContent)

	const unauth = "sign in or send a valid API token"
	for _, tc := range []struct {
		name    string
		header  string // the whole Authorization header; "" sends none
		cookie  string
		advance time.Duration
		want    string // user name, or "" for 401
		msg     string
	}{
		{name: "ok/user", header: "Bearer " + e.userTok, want: "alice"},
		{name: "ok/admin", header: "Bearer " + e.adminTok, want: "admin"},
		{name: "ok/surrounding-space", header: "Bearer  " + e.userTok + " ", want: "alice"},
		{name: "ok/expiring-before-expiry", header: "Bearer " + expiring.Token, advance: 59 * time.Minute, want: "alice"},
		{name: "fail/none", msg: unauth},
		{name: "fail/basic", header: "Basic YWxpY2U6cGFzc3dvcmQ=", msg: `"Bearer <token>"`},
		{name: "fail/lowercase-scheme", header: "bearer " + e.userTok, msg: `"Bearer <token>"`},
		{name: "fail/token-without-scheme", header: e.userTok, msg: `"Bearer <token>"`},
		{name: "fail/empty-token", header: "Bearer ", msg: unauth},
		{name: "fail/malformed", header: "Bearer not-a-token", msg: unauth},
		{name: "fail/truncated", header: "Bearer " + e.userTok[:len(e.userTok)-1], msg: unauth},
		{name: "fail/upper-case", header: "Bearer " + strings.ToUpper(e.userTok), msg: unauth},
		{name: "fail/unknown-id", header: "Bearer " + mustToken(auth.KindAPI), msg: unauth},
		{name: "fail/wrong-secret", header: "Bearer " + wrongSecret, msg: unauth},
		{name: "fail/kind-web", header: "Bearer " + webTok, msg: unauth},
		{name: "fail/kind-register", header: "Bearer " + mustToken(auth.KindRegister), msg: unauth},
		{name: "fail/kind-agent", header: "Bearer " + mustToken(auth.KindAgent), msg: unauth},
		{name: "fail/revoked", header: "Bearer " + revoked, msg: unauth},
		{name: "fail/expired", header: "Bearer " + expiring.Token, advance: time.Hour, msg: unauth},
		{name: "fail/deleted-user", header: "Bearer " + goneTok, msg: unauth},
		{name: "fail/bad-bearer-beats-good-cookie", header: "Bearer not-a-token", cookie: webTok, msg: unauth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := e.clk.Now()
			e.clk.Advance(tc.advance)
			defer e.clk.Set(start)
			r := req{Method: "GET", Path: "/api/v1/me", Header: map[string]string{}}
			if tc.header != "" {
				r.Header["Authorization"] = tc.header
			}
			if tc.cookie != "" {
				r.Header["Cookie"] = cookieName + "=" + tc.cookie
			}
			rec := e.do(r)
			if tc.want == "" {
				wantError(t, rec, "unauthorized", tc.msg)
				return
			}
			wantStatus(t, rec, http.StatusOK)
			var u userView
			mustJSON(t, rec, &u)
			if u.Name != tc.want {
				t.Errorf("me = %q, want %q", u.Name, tc.want)
			}
		})
	}
}

// cookieLogin signs in as a browser and returns the session cookie value.
func (e *env) cookieLogin(name, password string) string {
	e.t.Helper()
	rec := e.do(req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"user": name, "password": password}})
	wantStatus(e.t, rec, http.StatusOK)
	return rec.Result().Cookies()[0].Value
}

func TestCookieSession(t *testing.T) {
	e := newEnv(t)
	ck := e.cookieLogin("alice", userPassword)
	logoutCk := e.cookieLogin("alice", userPassword)
	expiringCk := e.cookieLogin("alice", userPassword)
	good, _ := auth.ParseToken(ck)
	tampered := auth.Token{Kind: auth.KindWeb, ID: good.ID, Secret: strings.Repeat("b", 52)}.String()
	tokenBody := map[string]string{"name": "from-browser"}
	crossBody := map[string]string{"name": "cross-site"}

	for _, tc := range []struct {
		name    string
		method  string
		path    string
		cookie  string
		bearer  string
		header  map[string]string
		body    any
		advance time.Duration
		status  int
		code    string
		msg     string
	}{
		{name: "ok/get-me", method: "GET", path: "/api/v1/me", cookie: ck, status: 200},
		{name: "ok/post-same-origin", method: "POST", path: "/api/v1/tokens", cookie: ck, body: tokenBody,
			header: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "https://example.com"}, status: 201},
		{name: "ok/post-no-fetch-metadata", method: "POST", path: "/api/v1/tokens", cookie: ck, body: map[string]string{"name": "curl"}, status: 201},
		{name: "ok/get-cross-site", method: "GET", path: "/api/v1/me", cookie: ck,
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}, status: 200},
		{name: "ok/bearer-post-without-browser-headers", method: "POST", path: "/api/v1/tokens", bearer: e.userTok, body: map[string]string{"name": "cli"}, status: 201},
		{name: "fail/post-cross-site", method: "POST", path: "/api/v1/tokens", cookie: ck, body: crossBody,
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}, status: 403},
		{name: "fail/delete-cross-site", method: "DELETE", path: "/api/v1/auth/logout", cookie: ck,
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}, status: 403},
		{name: "fail/logout-cross-site", method: "POST", path: "/api/v1/auth/logout", cookie: ck,
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}, status: 403},
		{name: "fail/post-same-site", method: "POST", path: "/api/v1/tokens", cookie: ck, body: crossBody,
			header: map[string]string{"Sec-Fetch-Site": "same-site"}, status: 403},
		{name: "fail/post-foreign-origin", method: "POST", path: "/api/v1/tokens", cookie: ck, body: crossBody,
			header: map[string]string{"Origin": "https://evil.example"}, status: 403},
		{name: "fail/login-cross-site", method: "POST", path: "/api/v1/auth/login", body: map[string]any{"user": "alice", "password": userPassword},
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}, status: 403},
		{name: "ok/cookie-survives-cross-site-logout", method: "GET", path: "/api/v1/me", cookie: ck, status: 200},
		{name: "fail/tampered", method: "GET", path: "/api/v1/me", cookie: tampered, code: "unauthorized"},
		{name: "fail/garbage", method: "GET", path: "/api/v1/me", cookie: "garbage", code: "unauthorized"},
		{name: "fail/api-token-as-cookie", method: "GET", path: "/api/v1/me", cookie: e.userTok, code: "unauthorized"},
		{name: "fail/expired", method: "GET", path: "/api/v1/me", cookie: expiringCk, advance: 12 * time.Hour, code: "unauthorized"},
		{name: "ok/logout", method: "POST", path: "/api/v1/auth/logout", cookie: logoutCk, status: 204},
		{name: "fail/after-logout", method: "GET", path: "/api/v1/me", cookie: logoutCk, code: "unauthorized"},
		{name: "ok/still-signed-in-elsewhere", method: "GET", path: "/api/v1/me", cookie: ck, status: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := e.clk.Now()
			e.clk.Advance(tc.advance)
			defer e.clk.Set(start)
			h := map[string]string{}
			for k, v := range tc.header {
				h[k] = v
			}
			if tc.cookie != "" {
				h["Cookie"] = cookieName + "=" + tc.cookie
			}
			rec := e.do(req{Method: tc.method, Path: tc.path, Bearer: tc.bearer, Body: tc.body, Header: h})
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg)
				return
			}
			wantStatus(t, rec, tc.status)
			if tc.status == http.StatusForbidden {
				return
			}
			if tc.path == "/api/v1/auth/logout" {
				cs := rec.Result().Cookies()
				if len(cs) != 1 || cs[0].Name != cookieName || cs[0].MaxAge >= 0 || cs[0].Value != "" {
					t.Errorf("logout does not clear the cookie: %v", cs)
				}
			}
		})
	}
}

// TestCookieSessionCrossSiteNoEffect: the refused cross-site requests of
// TestCookieSession changed nothing.
func TestCookieSessionCrossSiteNoEffect(t *testing.T) {
	e := newEnv(t)
	ck := e.cookieLogin("alice", userPassword)
	h := map[string]string{"Cookie": cookieName + "=" + ck, "Sec-Fetch-Site": "cross-site"}
	wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/tokens", Body: map[string]string{"name": "cross-site"}, Header: h}), http.StatusForbidden)
	wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/auth/logout", Header: h}), http.StatusForbidden)
	var list []tokenView
	mustJSON(t, e.do(req{Method: "GET", Path: "/api/v1/tokens", Header: h}), &list)
	for _, tv := range list {
		if tv.Name == "cross-site" {
			t.Errorf("a cross-site POST created token %+v", tv)
		}
	}
}

// TestCrossOriginRefusalIsJSON: the cross-origin refusal speaks the API's
// error format like every other refusal.
func TestCrossOriginRefusalIsJSON(t *testing.T) {
	e := newEnv(t)
	ck := e.cookieLogin("alice", userPassword)
	for _, tc := range []struct {
		name   string
		header map[string]string
	}{
		{"fail/sec-fetch-site-cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"fail/foreign-origin", map[string]string{"Origin": "https://evil.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.header["Cookie"] = cookieName + "=" + ck
			rec := e.do(req{Method: "POST", Path: "/api/v1/tokens", Body: map[string]string{"name": "x"}, Header: tc.header})
			wantError(t, rec, "forbidden", "cross-origin")
		})
	}
}

func TestLogoutRevokesToken(t *testing.T) {
	e := newEnv(t)
	tok := e.login("alice", userPassword)
	id, _ := auth.ParseToken(tok)
	wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/auth/logout", Bearer: tok}), http.StatusNoContent)
	wantError(t, e.do(req{Method: "GET", Path: "/api/v1/me", Bearer: tok}), "unauthorized")
	wantError(t, e.do(req{Method: "POST", Path: "/api/v1/auth/logout", Bearer: tok}), "unauthorized")
	// The revocation is recorded, and other tokens keep working.
	var list []tokenView
	mustJSON(t, e.do(req{Method: "GET", Path: "/api/v1/tokens", Bearer: e.userTok}), &list)
	for _, tv := range list {
		if tv.ID == id.ID && tv.RevokedAt == nil {
			t.Errorf("token %s is listed as not revoked", tv.ID)
		}
	}
	wantError(t, e.do(req{Method: "POST", Path: "/api/v1/auth/logout"}), "unauthorized")
}

func TestRoutes(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, method, path string
		bearer             string
		code               string
	}{
		{"fail/unknown-path", "GET", "/api/v1/nope", e.adminTok, "not_found"},
		{"fail/unknown-version", "GET", "/api/v2/me", e.adminTok, "not_found"},
		{"fail/wrong-method", "PUT", "/api/v1/users", e.adminTok, "not_found"},
		{"fail/login-get", "GET", "/api/v1/auth/login", "", "not_found"},
		{"fail/anonymous-unknown", "GET", "/api/v1/whatever", "", "not_found"},
		{"fail/anonymous-users", "GET", "/api/v1/users", "", "unauthorized"},
		{"fail/anonymous-workspaces", "GET", "/api/v1/workspaces", "", "unauthorized"},
		{"fail/anonymous-sessions", "GET", "/api/v1/sessions", "", "unauthorized"},
		{"fail/anonymous-nodes", "GET", "/api/v1/nodes", "", "unauthorized"},
		{"fail/anonymous-join-token", "POST", "/api/v1/nodes/join-tokens", "", "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do(req{Method: tc.method, Path: tc.path, Bearer: tc.bearer}), tc.code)
		})
	}
}
