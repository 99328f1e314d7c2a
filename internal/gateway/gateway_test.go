package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// tokens is a pure-logic Authenticator: bearer token → identity.
type tokens map[string]*Identity

func (t tokens) AuthenticateUser(r *http.Request) (*Identity, error) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, &Refusal{Status: 401, Code: "unauthorized", Message: "sign in or send a valid API token"}
	}
	id, ok := t[raw]
	if !ok {
		return nil, &Refusal{Status: 401, Code: "unauthorized", Message: "that token is not valid"}
	}
	return id, nil
}

// seen is what a service got.
type seen struct {
	id      *Identity
	headers http.Header
	remote  string
}

// echoService answers 200 with what it saw, as JSON.
func echoService(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{id: IdentityFrom(r.Context()), headers: r.Header, remote: r.RemoteAddr}
		if v := r.Header.Get(IdentityHeader); v != "" {
			id, err := DecodeIdentity(v)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			s.id = id
		}
		user := ""
		if s.id != nil {
			user = s.id.UserName
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"service": name, "user": user, "headers": s.headers, "remote": s.remote})
	})
}

var (
	alice = &Identity{Kind: KindUser, UserID: "u1", UserName: "alice", Role: "user", TokenID: "t1"}
	root  = &Identity{Kind: KindUser, UserID: "u2", UserName: "root", Role: "admin", TokenID: "t2"}
)

func testRoutes() []Route {
	return []Route{
		{"GET /api/v1/me", User, "api"},
		{"GET /api/v1/users", Admin, "api"},
		{"POST /api/v1/auth/login", Public, "api"},
		{"POST /api/v1/agent/heartbeat", Agent, "api"},
		{"POST /api/v1/nodes/heartbeat", Node, "api"},
		{"/api/", Public, "api"},
		{"/api/v1/signal", Public, "signal"},
		{"/", Public, "portal"},
	}
}

func newTestGateway(t *testing.T, log *slog.Logger, services map[string]http.Handler) *Gateway {
	t.Helper()
	if services == nil {
		services = map[string]http.Handler{"api": echoService("api"), "signal": echoService("signal"), "portal": echoService("portal")}
	}
	g, err := New(Config{Routes: testRoutes(), Services: services, Auth: tokens{"alice-token": alice, "root-token": root}, AccessLog: log})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

type answer struct {
	status  int
	body    map[string]any
	headers http.Header
}

func call(t *testing.T, h http.Handler, method, target string, hdr map[string]string) answer {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %q", method, target, w.Body.String())
	}
	return answer{w.Code, body, w.Result().Header}
}

func TestPolicies(t *testing.T) {
	g := newTestGateway(t, nil, nil)
	tests := []struct {
		name, method, path, token string
		status                    int
		service, user, message    string
	}{
		{"user route, no credential", "GET", "/api/v1/me", "", 401, "", "", "sign in"},
		{"user route, bad token", "GET", "/api/v1/me", "forged", 401, "", "", "not valid"},
		{"user route, user", "GET", "/api/v1/me", "alice-token", 200, "api", "alice", ""},
		{"admin route, no credential", "GET", "/api/v1/users", "", 401, "", "", "sign in"},
		{"admin route, user", "GET", "/api/v1/users", "alice-token", 403, "", "", "admin role"},
		{"admin route, admin", "GET", "/api/v1/users", "root-token", 200, "api", "root", ""},
		{"public route, anonymous", "POST", "/api/v1/auth/login", "", 200, "api", "", ""},
		{"public route carries no identity", "POST", "/api/v1/auth/login", "root-token", 200, "api", "", ""},
		{"agent route goes to the api, which checks", "POST", "/api/v1/agent/heartbeat", "", 200, "api", "", ""},
		{"node route goes to the api, which checks", "POST", "/api/v1/nodes/heartbeat", "", 200, "api", "", ""},
		{"unknown api path", "GET", "/api/v1/nothing", "", 200, "api", "", ""},
		{"signal", "GET", "/api/v1/signal", "", 200, "signal", "", ""},
		{"portal", "GET", "/js/main.js", "", 200, "portal", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.token != "" {
				hdr["Authorization"] = "Bearer " + tt.token
			}
			a := call(t, g, tt.method, tt.path, hdr)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %v", a.status, tt.status, a.body)
			}
			if tt.status != 200 {
				msg, _ := a.body["message"].(string)
				if !strings.Contains(msg, tt.message) || a.body["code"] == "" {
					t.Errorf("refusal %v, want a code and a message with %q", a.body, tt.message)
				}
				return
			}
			if a.body["service"] != tt.service || a.body["user"] != tt.user {
				t.Errorf("reached %v as %q, want %s as %q", a.body["service"], a.body["user"], tt.service, tt.user)
			}
		})
	}
}

// TestClientHeadersStripped: whatever the route, a client's identity and
// forwarding headers never reach a service.
func TestClientHeadersStripped(t *testing.T) {
	g := newTestGateway(t, nil, nil)
	forged := map[string]string{
		IdentityHeader:        encodeIdentity(root),
		"X-Forwarded-For":     "10.0.0.1",
		"Forwarded":           "for=10.0.0.1",
		"X-Real-IP":           "10.0.0.1",
		"X-Remote-User":       "root",
		"X-Airlock-User":      "root",
		"X-Forwarded-Proto":   "http",
		"X-Auth-Request-User": "root",
		"Remote-User":         "root",
	}
	for _, rt := range testRoutes() {
		path := strings.TrimPrefix(rt.Pattern, "GET ")
		path = strings.TrimPrefix(path, "POST ")
		method := "GET"
		if strings.HasPrefix(rt.Pattern, "POST ") {
			method = "POST"
		}
		hdr := map[string]string{"Authorization": "Bearer alice-token"}
		for k, v := range forged {
			hdr[k] = v
		}
		a := call(t, g, method, path, hdr)
		if a.status == 403 {
			continue // the admin route with alice: refused before any service
		}
		if a.status != 200 {
			t.Fatalf("%s %s: %d %v", method, path, a.status, a.body)
		}
		if a.body["user"] == "root" {
			t.Errorf("%s %s: a forged identity header made the caller root", method, path)
		}
		got, _ := a.body["headers"].(map[string]any)
		for k := range forged {
			if _, ok := got[http.CanonicalHeaderKey(k)]; ok {
				t.Errorf("%s %s: the service got the client's %s", method, path, k)
			}
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	g := newTestGateway(t, nil, nil)
	for _, path := range []string{"/api/v1/me", "/", "/api/v1/nothing"} {
		a := call(t, g, "GET", path, nil)
		for k, want := range map[string]string{
			"X-Content-Type-Options":    "nosniff",
			"X-Frame-Options":           "DENY",
			"Referrer-Policy":           "no-referrer",
			"Strict-Transport-Security": "max-age=31536000",
		} {
			if got := a.headers.Get(k); got != want {
				t.Errorf("GET %s (%d): %s %q, want %q", path, a.status, k, got, want)
			}
		}
		if csp := a.headers.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
	}
}

func TestAccessLog(t *testing.T) {
	var buf bytes.Buffer
	g := newTestGateway(t, slog.New(slog.NewJSONHandler(&buf, nil)), nil)
	call(t, g, "GET", "/api/v1/me?token=secret-in-query", map[string]string{"Authorization": "Bearer alice-token"})
	call(t, g, "GET", "/api/v1/users", map[string]string{"Authorization": "Bearer alice-token"})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d records, want 2:\n%s", len(lines), buf.String())
	}
	if strings.Contains(buf.String(), "secret-in-query") {
		t.Errorf("the access log holds a query string: %s", lines[0])
	}
	want := []map[string]any{
		{"path": "/api/v1/me", "route": "GET /api/v1/me", "status": float64(200), "user": "alice"},
		{"path": "/api/v1/users", "route": "GET /api/v1/users", "status": float64(403), "user": nil},
	}
	for i, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		for k, v := range want[i] {
			if rec[k] != v {
				t.Errorf("record %d: %s %v, want %v (%s)", i, k, rec[k], v, l)
			}
		}
	}
}

func TestNewRefusesBadTables(t *testing.T) {
	svc := map[string]http.Handler{"api": echoService("api")}
	tests := []struct {
		name   string
		routes []Route
		want   string
	}{
		{"unknown service", []Route{{"/x", Public, "nope"}}, `no service "nope"`},
		{"unknown policy", []Route{{"/x", "everyone", "api"}}, `unknown policy "everyone"`},
		{"twice", []Route{{"/x", Public, "api"}, {"/x", User, "api"}}, "listed twice"},
		{"bad pattern", []Route{{"GET  /x {", Public, "api"}}, "gateway route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Routes: tt.routes, Services: svc, Auth: tokens{}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// TestRemote: a service in another process gets the verified identity in
// the header and the client's address in X-Forwarded-For, never the
// client's own; WebSockets pass through.
func TestRemote(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/signal" {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			ctx := r.Context()
			typ, b, err := c.Read(ctx)
			if err == nil {
				_ = c.Write(ctx, typ, append([]byte("echo "), b...))
			}
			c.Close(websocket.StatusNormalClosure, "")
			return
		}
		echoService("remote").ServeHTTP(w, r)
	}))
	defer backend.Close()
	remote, err := Remote(backend.URL, RemoteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g := newTestGateway(t, nil, map[string]http.Handler{"api": remote, "signal": remote, "portal": remote})
	front := httptest.NewServer(g)
	defer front.Close()

	req, _ := http.NewRequest("GET", front.URL+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer alice-token")
	req.Header.Set("X-Forwarded-For", "10.9.9.9")
	req.Header.Set(IdentityHeader, encodeIdentity(root))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 200 || body["user"] != "alice" {
		t.Fatalf("%d %v, want alice through the remote", resp.StatusCode, body)
	}
	hdr, _ := body["headers"].(map[string]any)
	if xff, _ := hdr["X-Forwarded-For"].([]any); len(xff) != 1 || xff[0] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %v, want only the client's address 127.0.0.1", hdr["X-Forwarded-For"])
	}

	// Public route: a forged identity header does not survive.
	req, _ = http.NewRequest("GET", front.URL+"/", nil)
	req.Header.Set(IdentityHeader, encodeIdentity(root))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body = nil
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if body["user"] != "" {
		t.Errorf("public route through the remote: the service saw user %v", body["user"])
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(front.URL, "http")+"/api/v1/signal", nil)
	if err != nil {
		t.Fatalf("WebSocket through the gateway and a remote: %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	_, b, err := c.Read(ctx)
	if err != nil || string(b) != "echo hi" {
		t.Fatalf("read %q %v, want the echo", b, err)
	}
}

func TestRemoteDown(t *testing.T) {
	backend := httptest.NewServer(http.NotFoundHandler())
	url := backend.URL
	backend.Close()
	remote, err := Remote(url, RemoteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g := newTestGateway(t, nil, map[string]http.Handler{"api": remote, "signal": remote, "portal": remote})
	a := call(t, g, "GET", "/api/v1/me", map[string]string{"Authorization": "Bearer alice-token"})
	if a.status != http.StatusBadGateway || a.body["code"] != "unavailable" {
		t.Fatalf("%d %v, want 502 unavailable", a.status, a.body)
	}
}

func TestRemoteURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "https://", "://x", "api:8443"} {
		if _, err := Remote(u, RemoteOptions{}); err == nil {
			t.Errorf("Remote(%q): no error", u)
		}
	}
}

func TestDecodeIdentity(t *testing.T) {
	for _, id := range []*Identity{alice, root, {Kind: KindUser, UserID: "u3", Web: true}} {
		got, err := DecodeIdentity(encodeIdentity(id))
		if err != nil || *got != *id {
			t.Errorf("round trip of %+v: %+v %v", id, got, err)
		}
	}
	for _, v := range []string{"", "!!", "e30", // {}
		"eyJraW5kIjoiYWdlbnQiLCJ1c2VyX2lkIjoidTEifQ",       // kind agent
		"eyJraW5kIjoidXNlciIsInVzZXJfaWQiOiJ1MSIsIngiOjF9", // unknown field
		"eyJraW5kIjoidXNlciIsInVzZXJfaWQiOiJ1MSJ9IHt9",     // {...} {}
	} {
		if _, err := DecodeIdentity(v); err == nil {
			t.Errorf("DecodeIdentity(%q): no error", v)
		} else if !strings.Contains(err.Error(), IdentityHeader) {
			t.Errorf("DecodeIdentity(%q): %v does not name the header", v, err)
		}
	}
}
