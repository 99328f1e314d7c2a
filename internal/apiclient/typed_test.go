package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// TestTypedCalls: each typed method sends its route's method, path
// (escaped), query, body and bearer, and decodes the api's answer.
func TestTypedCalls(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	ptr := func(s string) *string { return &s }
	two, no := 2, false
	for _, tc := range []struct {
		name string
		call func(context.Context, *Client) (any, error)
		// What the api must receive: method, URI (path as sent and
		// query), bearer, and body as JSON ("" for none).
		method, uri, bearer, body string
		// What it answers, and what the call must return.
		status int
		answer string
		want   any
	}{
		{name: "ok/login",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Login(ctx, LoginRequest{User: "alice", Password: "pw", Token: true, TokenName: "cli-h"})
			},
			method: "POST", uri: "/api/v1/auth/login", bearer: "Bearer alk_t",
			body:   `{"user":"alice","password":"pw","token":true,"token_name":"cli-h"}`,
			answer: `{"user":{"id":"u1","name":"alice","role":"user","created_at":"2025-06-01T12:00:00Z"},"token":"alk_new"}`,
			want:   &LoginAnswer{User: User{ID: "u1", Name: "alice", Role: "user", CreatedAt: at}, Token: "alk_new"}},
		{name: "ok/list-sessions-all",
			call:   func(ctx context.Context, c *Client) (any, error) { return c.ListSessions(ctx, true) },
			method: "GET", uri: "/api/v1/sessions?all=1", bearer: "Bearer alk_t",
			answer: `[{"id":"s1","user_id":"u1","workspace_id":"w1","state":"ready","created_at":"2025-06-01T12:00:00Z","updated_at":"2025-06-01T12:00:00Z","ends_at":"2025-06-01T12:00:00Z","ends_for":"idle"}]`,
			want:   []Session{{ID: "s1", User: "u1", Workspace: "w1", State: "ready", CreatedAt: at, UpdatedAt: at, EndsAt: &at, EndsFor: "idle"}}},
		{name: "ok/list-sessions-none",
			call:   func(ctx context.Context, c *Client) (any, error) { return c.ListSessions(ctx, false) },
			method: "GET", uri: "/api/v1/sessions", bearer: "Bearer alk_t",
			answer: `[]`, want: []Session{}},
		{name: "ok/create-session-omits-unset-viewer-settings",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateSession(ctx, CreateSessionRequest{Workspace: "web", Scale: 2})
			},
			method: "POST", uri: "/api/v1/sessions", bearer: "Bearer alk_t", body: `{"workspace":"web","scale":2}`,
			status: http.StatusCreated, answer: `{"id":"s1","state":"starting"}`, want: &Session{ID: "s1", State: "starting"}},
		{name: "ok/wait-session-escapes-the-id",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.WaitSession(ctx, "s/1", 29500*time.Millisecond)
			},
			method: "GET", uri: "/api/v1/sessions/s%2F1?wait=29.5s", bearer: "Bearer alk_t",
			answer: `{"id":"s/1","state":"ready"}`, want: &Session{ID: "s/1", State: "ready"}},
		{name: "ok/extend-session",
			call:   func(ctx context.Context, c *Client) (any, error) { return c.ExtendSession(ctx, "s1") },
			method: "POST", uri: "/api/v1/sessions/s1/extend", bearer: "Bearer alk_t",
			answer: `{"id":"s1","state":"ready","extendable":true}`, want: &Session{ID: "s1", State: "ready", Extendable: true}},
		{name: "ok/connect-session",
			call:   func(ctx context.Context, c *Client) (any, error) { return c.ConnectSession(ctx, "s1") },
			method: "POST", uri: "/api/v1/sessions/s1/connect", bearer: "Bearer alk_t", body: `{}`,
			answer: `{"token":"ct","signal_url":"wss://h/api/v1/signal","expires_at":7,"ice_servers":[{"urls":["stun:h:3478"]}],"clipboard":"both"}`,
			want: &ConnectAnswer{Token: "ct", SignalURL: "wss://h/api/v1/signal", ExpiresAt: 7,
				ICEServers: []ICEServer{{URLs: []string{"stun:h:3478"}}}, Clipboard: "both"}},
		{name: "ok/my-policy",
			call:   func(ctx context.Context, c *Client) (any, error) { return c.UserPolicy(ctx, "me", "web & docs") },
			method: "GET", uri: "/api/v1/me/policy?workspace=web+%26+docs", bearer: "Bearer alk_t",
			answer: `{"user":"alice","groups":["everyone"],"max_sessions":3,"workspaces":[{"workspace":"web","granted":true,"granted_by":["everyone"],` +
				`"fields":[{"name":"clipboard","value":"both","source":{"kind":"default","text":"default"}}]}]}`,
			want: &UserPolicy{User: "alice", Groups: []string{"everyone"}, MaxSessions: 3, Workspaces: []WorkspacePolicy{{Workspace: "web", Granted: true,
				GrantedBy: []string{"everyone"}, Fields: []airlock.EffectiveField{{Name: "clipboard", Value: "both", Source: airlock.PolicySource{Kind: "default", Text: "default"}}}}}}},
		{name: "ok/user-policy",
			call:   func(ctx context.Context, c *Client) (any, error) { return c.UserPolicy(ctx, "bob", "") },
			method: "GET", uri: "/api/v1/users/bob/policy", bearer: "Bearer alk_t",
			answer: `{"user":"bob"}`, want: &UserPolicy{User: "bob"}},
		{name: "ok/reset-password",
			call:   func(ctx context.Context, c *Client) (any, error) { return c.ResetPassword(ctx, "bob", "new one") },
			method: "POST", uri: "/api/v1/users/bob/password", bearer: "Bearer alk_t", body: `{"new":"new one"}`,
			answer: `{"web_sessions_ended":2}`, want: &PasswordAnswer{WebSessionsEnded: 2}},
		{name: "ok/put-group",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.PutGroup(ctx, "staff", GroupSpec{Name: "staff", Priority: 10, Workspaces: []Grant{{Workspace: "web", Policy: &GroupPolicy{Clipboard: ptr("off")}}},
					Policy: &GroupPolicy{MaxSessions: &two, Idle: ptr("1h"), Downloads: &no}})
			},
			method: "PUT", uri: "/api/v1/groups/staff", bearer: "Bearer alk_t",
			body: `{"name":"staff","priority":10,"workspaces":[{"workspace":"web","policy":{"clipboard":"off"}}],` +
				`"policy":{"max_sessions":2,"idle_timeout":"1h","downloads":false}}`,
			answer: `{"id":"g1","name":"staff","priority":10,"members":1,"created_at":"2025-06-01T12:00:00Z","updated_at":"2025-06-01T12:00:00Z"}`,
			want:   &Group{ID: "g1", GroupSpec: GroupSpec{Name: "staff", Priority: 10}, Members: 1, CreatedAt: at, UpdatedAt: at}},
		{name: "ok/group-detail",
			call:   func(ctx context.Context, c *Client) (any, error) { return c.Group(ctx, "staff") },
			method: "GET", uri: "/api/v1/groups/staff", bearer: "Bearer alk_t",
			answer: `{"id":"g1","name":"staff","priority":0,"members":1,"member_list":[{"user":"alice","source":"local","since":"2025-06-01T12:00:00Z"}]}`,
			want:   &GroupDetail{Group: Group{ID: "g1", GroupSpec: GroupSpec{Name: "staff"}, Members: 1}, MemberList: []Member{{User: "alice", Source: "local", Since: at}}}},
		{name: "ok/remove-member",
			call: func(ctx context.Context, c *Client) (any, error) {
				return nil, c.RemoveGroupMember(ctx, "staff", "alice")
			},
			method: "DELETE", uri: "/api/v1/groups/staff/members/alice", bearer: "Bearer alk_t", status: http.StatusNoContent},
		{name: "ok/update-workspace-sends-nulls-and-zeros",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.UpdateWorkspace(ctx, "web", WorkspaceSettings{"browser": nil, "memory": 0})
			},
			method: "PATCH", uri: "/api/v1/workspaces/web", bearer: "Bearer alk_t", body: `{"browser":null,"memory":0}`,
			answer: `{"name":"web","image":"i","seccomp":"","clipboard":"both","mode":"browser","audio":"on","egress":{"rules":[{"action":"deny","domain":"*"}]},"idle_timeout":"30m"}`,
			want: &Workspace{Name: "web", Image: "i", Clipboard: "both", Mode: "browser", Audio: "on",
				Egress: &Egress{Rules: []airlock.EgressRule{{Action: "deny", Domain: "*"}}}, SessionLimits: SessionLimits{IdleTimeout: "30m"}}},
		{name: "ok/delete-node-force",
			call:   func(ctx context.Context, c *Client) (any, error) { return nil, c.DeleteNode(ctx, "n 1", true) },
			method: "DELETE", uri: "/api/v1/nodes/n%201?force=1", bearer: "Bearer alk_t", status: http.StatusNoContent},
		{name: "ok/set-pool-sends-size-0",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.SetPool(ctx, "web", SetPoolRequest{Size: 0})
			},
			method: "PUT", uri: "/api/v1/pools/web", bearer: "Bearer alk_t", body: `{"size":0}`,
			answer: `{"workspace":"web","size":0,"max_age":"1h","warm":0,"starting":0}`, want: &Pool{Workspace: "web", MaxAge: "1h"}},
		{name: "ok/create-join-token",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateJoinToken(ctx, CreateJoinTokenRequest{TTL: "1h", Uses: 2, Isolation: []string{"standard"}})
			},
			method: "POST", uri: "/api/v1/nodes/join-tokens", bearer: "Bearer alk_t", body: `{"ttl":"1h","uses":2,"isolation":["standard"]}`,
			answer: `{"id":"j1","token":"alj_x","expires_at":"2025-06-01T12:00:00Z","uses":2,"uses_left":2,"state":"active"}`,
			want:   &JoinToken{ID: "j1", Token: "alj_x", ExpiresAt: at, Uses: 2, UsesLeft: 2, State: "active"}},
		{name: "ok/list-audit",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.ListAudit(ctx, AuditFilter{Action: "user.", Since: at.Add(time.Nanosecond), Limit: 5})
			},
			method: "GET", uri: "/api/v1/audit?action=user.&limit=5&since=2025-06-01T12%3A00%3A00.000000001Z", bearer: "Bearer alk_t",
			answer: `{"events":[{"v":1,"id":9,"action":"user.create","actor":"admin"}],"next_before":9}`,
			want:   &AuditPage{Events: []airlock.AuditLine{{V: 1, ID: 9, Action: "user.create", Actor: "admin"}}, NextBefore: 9}},
		{name: "ok/verify-audit",
			call:   func(ctx context.Context, c *Client) (any, error) { return c.VerifyAudit(ctx) },
			method: "POST", uri: "/api/v1/audit/verify", bearer: "Bearer alk_t", body: `{}`,
			answer: `{"ok":true,"records":3,"first_id":1,"last_id":3,"head":"ab"}`,
			want:   &airlock.AuditVerification{Records: 3, FirstID: 1, LastID: 3, Head: "ab"}},
		{name: "ok/register-agent-sends-no-bearer",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.RegisterAgent(ctx, "s1", "alr_x")
			},
			method: "POST", uri: "/api/v1/agent/register", body: `{"session":"s1","token":"alr_x"}`,
			answer: `{"session_id":"s1","credential":"cred-0","expires_at":5,"heartbeat_seconds":10,"warm":true}`,
			want:   &AgentRegistration{SessionID: "s1", Credential: "cred-0", ExpiresAt: 5, HeartbeatSeconds: 10, Warm: true}},
		{name: "ok/agent-heartbeat-bears-the-credential",
			call: func(ctx context.Context, c *Client) (any, error) {
				idle := int64(1500)
				return c.AgentHeartbeat(ctx, "cred-0", AgentActivity{Viewer: true, InputIdleMS: &idle})
			},
			method: "POST", uri: "/api/v1/agent/heartbeat", bearer: "Bearer cred-0", body: `{"viewer":true,"input_idle_ms":1500}`,
			answer: `{"session_id":"s1","credential":"cred-1"}`, want: &AgentRegistration{SessionID: "s1", Credential: "cred-1"}},
		{name: "ok/report-transfer",
			call: func(ctx context.Context, c *Client) (any, error) {
				return nil, c.ReportTransfer(ctx, "cred-1", Transfer{Direction: "download", Name: "a.pdf", Size: 3, SHA256: "ff"})
			},
			method: "POST", uri: "/api/v1/agent/transfer", bearer: "Bearer cred-1", body: `{"direction":"download","name":"a.pdf","size":3,"sha256":"ff"}`,
			answer: `{}`},
		{name: "ok/ca-certificate-is-the-body-as-is",
			call:   func(ctx context.Context, c *Client) (any, error) { return c.CACertificate(ctx) },
			method: "GET", uri: "/api/v1/ca", bearer: "Bearer alk_t",
			answer: "-----BEGIN CERTIFICATE-----\n", want: []byte("-----BEGIN CERTIFICATE-----\n")},
		{name: "ok/report-node-events",
			call: func(ctx context.Context, c *Client) (any, error) {
				return nil, c.ReportNodeEvents(ctx, airlock.NodeEventBatch{Dropped: 4})
			},
			method: "POST", uri: "/api/v1/nodes/events", bearer: "Bearer alk_t", body: `{"events":null,"dropped":4}`, status: http.StatusNoContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got struct{ method, uri, bearer, body string }
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got.method, got.uri, got.bearer, got.body = r.Method, r.RequestURI, r.Header.Get("Authorization"), string(b)
				if tc.status != 0 {
					w.WriteHeader(tc.status)
				}
				_, _ = io.WriteString(w, tc.answer)
			}))
			defer srv.Close()
			c, err := New(Options{Server: srv.URL, Token: "alk_t"})
			if err != nil {
				t.Fatal(err)
			}
			ans, err := tc.call(context.Background(), c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if got.method != tc.method || got.uri != tc.uri || got.bearer != tc.bearer {
				t.Errorf("sent %s %s bearer %q; want %s %s bearer %q", got.method, got.uri, got.bearer, tc.method, tc.uri, tc.bearer)
			}
			if !sameJSON(t, got.body, tc.body) {
				t.Errorf("sent body %s; want %s", got.body, tc.body)
			}
			if tc.want != nil && !reflect.DeepEqual(ans, tc.want) {
				t.Errorf("answer %+v; want %+v", ans, tc.want)
			}
		})
	}
}

// sameJSON reports whether a and b are the same JSON value, or both
// empty.
func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	if a == "" || b == "" {
		return a == b
	}
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// TestTypedRefusals: a refusal reaches the caller of a typed method as
// the api's *Error, in the api's words, naming the call.
func TestTypedRefusals(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		_, _ = io.WriteString(w, `{"code":"conflict","message":"session s1 is stopped: only a running session can be extended"}`)
	}))
	defer srv.Close()
	c, err := New(Options{Server: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name, method, path string
		call               func() error
	}{
		{"extend-session", "POST", "/api/v1/sessions/s1/extend", func() error { _, err := c.ExtendSession(ctx, "s1"); return err }},
		{"delete-user", "DELETE", "/api/v1/users/bob", func() error { return c.DeleteUser(ctx, "bob") }},
		{"list-groups", "GET", "/api/v1/groups", func() error { _, err := c.ListGroups(ctx); return err }},
		{"export-audit", "GET", "/api/v1/audit/export", func() error { return c.ExportAudit(ctx, AuditFilter{}, &bytes.Buffer{}) }},
		{"ca-certificate", "GET", "/api/v1/ca", func() error { _, err := c.CACertificate(ctx); return err }},
		{"claim-session", "POST", "/api/v1/agent/claim", func() error { _, err := c.ClaimSession(ctx, "cred"); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%v is not an *Error", err)
			}
			want := Error{Method: tc.method, Path: tc.path, Status: http.StatusConflict, Code: "conflict",
				Message: "session s1 is stopped: only a running session can be extended"}
			if *e != want || err.Error() != want.Message || !IsRefused(err) {
				t.Errorf("refusal %+v (%q); want %+v", *e, err.Error(), want)
			}
		})
	}
}

// TestWithToken: the copy sends its own token, and the original keeps
// its own.
func TestWithToken(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization"))
		_, _ = io.WriteString(w, `{"id":"u1","name":"alice"}`)
	}))
	defer srv.Close()
	c, err := New(Options{Server: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	signedIn := c.WithToken("alk_new")
	for _, cl := range []*Client{signedIn, c} {
		if _, err := cl.Me(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"Bearer alk_new", ""}; !reflect.DeepEqual(seen, want) {
		t.Fatalf("bearers %q; want %q", seen, want)
	}
}
