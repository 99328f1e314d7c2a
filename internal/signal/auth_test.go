package signal

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/airlock-rbi/airlock/internal/auth"
)

// connectByMessage opens a connection without a token and authenticates
// with token as its first message.
func (e *env) connectByMessage(token string) *websocket.Conn {
	e.t.Helper()
	c, _, err := e.dial("", Subprotocol)
	if err != nil {
		e.t.Fatalf("dial without a token: %v", err)
	}
	send(e.t, c, map[string]any{"type": "auth", "token": token})
	return c
}

func TestAuthByFirstMessage(t *testing.T) {
	e := newEnv(t, Options{})
	agent := e.connect(RoleAgent, "s1")
	viewer := e.connectByMessage(e.token(RoleViewer, "s1"))
	expect(t, agent, map[string]any{"type": "viewer-joined"})
	expect(t, viewer, map[string]any{"type": "agent-ready"})
	send(t, viewer, map[string]any{"type": "offer", "sdp": "v=0"})
	expect(t, agent, map[string]any{"type": "offer", "sdp": "v=0", "from": "viewer"})
	// A second auth is a protocol error: it cannot change who the peer is.
	send(t, viewer, map[string]any{"type": "auth", "token": e.token(RoleViewer, "s2")})
	if r := expectClose(t, viewer, closeBadMessage); !strings.Contains(r, "already authenticated") {
		t.Errorf("reason %q", r)
	}
	expect(t, agent, map[string]any{"type": "peer-left", "role": "viewer"})
}

// TestAuthByFirstMessageRefused: what is refused before the upgrade with
// a token in the query is refused after it with the matching close code
// and the same message, and nothing joins.
func TestAuthByFirstMessageRefused(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		send       func(e *env, c *websocket.Conn)
		wantCode   websocket.StatusCode
		wantReason string
	}{
		{
			name: "fail/bad signature",
			send: func(e *env, c *websocket.Conn) {
				other, err := auth.NewSigner(otherKey, nil)
				if err != nil {
					e.t.Fatal(err)
				}
				send(e.t, c, map[string]any{"type": "auth", "token": e.sign(other, auth.Claims{Session: "s1", Role: RoleViewer, Audience: Audience, Expires: time.Now().Add(time.Minute).Unix()})})
			},
			wantCode: closeExpired, wantReason: "invalid token",
		},
		{
			name: "fail/expired",
			send: func(e *env, c *websocket.Conn) {
				tok := e.token(RoleViewer, "s1")
				e.clock.advance(2 * time.Minute)
				send(e.t, c, map[string]any{"type": "auth", "token": tok})
			},
			wantCode: closeExpired, wantReason: "token expired",
		},
		{
			name: "fail/wrong role",
			send: func(e *env, c *websocket.Conn) {
				send(e.t, c, map[string]any{"type": "auth", "token": e.token("admin", "s1")})
			},
			wantCode: closeRevoked, wantReason: "role",
		},
		{
			name: "fail/no session",
			send: func(e *env, c *websocket.Conn) {
				send(e.t, c, map[string]any{"type": "auth", "token": e.token(RoleViewer, "")})
			},
			wantCode: closeRevoked, wantReason: "no session",
		},
		{
			name: "fail/revoked",
			send: func(e *env, c *websocket.Conn) {
				tok := e.token(RoleViewer, "s1")
				e.srv.RevokeSession("s1")
				send(e.t, c, map[string]any{"type": "auth", "token": tok})
			},
			wantCode: closeRevoked, wantReason: "session ended",
		},
		{
			name: "fail/first message not auth",
			send: func(e *env, c *websocket.Conn) {
				send(e.t, c, map[string]any{"type": "offer", "sdp": "v=0"})
			},
			wantCode: closeBadMessage, wantReason: "the first message must be auth",
		},
		{
			name:     "fail/auth without token",
			send:     func(e *env, c *websocket.Conn) { send(e.t, c, map[string]any{"type": "auth"}) },
			wantCode: closeBadMessage, wantReason: `auth needs a "token" string`,
		},
		{
			name:     "fail/auth with empty token",
			send:     func(e *env, c *websocket.Conn) { send(e.t, c, map[string]any{"type": "auth", "token": ""}) },
			wantCode: closeBadMessage, wantReason: `auth needs a "token" string`,
		},
		{
			name: "fail/binary auth",
			send: func(e *env, c *websocket.Conn) {
				sendRaw(e.t, c, websocket.MessageBinary, []byte(`{"type":"auth","token":"x"}`))
			},
			wantCode: closeBadMessage, wantReason: "binary frames",
		},
		{
			name:     "fail/nothing sent",
			opts:     Options{AuthTimeout: 100 * time.Millisecond},
			send:     func(e *env, c *websocket.Conn) {},
			wantCode: closeExpired, wantReason: "no auth message within 100ms",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts)
			c, _, err := e.dial("", Subprotocol)
			if err != nil {
				t.Fatalf("dial without a token: %v", err)
			}
			tt.send(e, c)
			if r := expectClose(t, c, tt.wantCode); !strings.Contains(r, tt.wantReason) {
				t.Errorf("reason %q, want it to contain %q", r, tt.wantReason)
			}
			if s, v, a := e.srv.Stats(); s+v+a != 0 {
				t.Errorf("Stats = %d, %d, %d after a refusal", s, v, a)
			}
		})
	}
}

// TestAuthPendingBounded: connections that have not authenticated are
// bounded; one that authenticates frees its place.
func TestAuthPendingBounded(t *testing.T) {
	e := newEnv(t, Options{MaxPending: 1})
	waiting, _, err := e.dial("", Subprotocol)
	if err != nil {
		t.Fatal(err)
	}
	_, resp, err := e.dial("", Subprotocol)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second unauthenticated dial: %v, want 503", err)
	}
	// A token in the query is not held up by them.
	agent := e.connect(RoleAgent, "s1")
	send(t, waiting, map[string]any{"type": "auth", "token": e.token(RoleViewer, "s1")})
	expect(t, waiting, map[string]any{"type": "agent-ready"})
	expect(t, agent, map[string]any{"type": "viewer-joined"})
	e.connectByMessage(e.token(RoleViewer, "s2"))
}

// TestCloseWhilePending: Close ends connections still waiting for their
// auth message, and waits for them.
func TestCloseWhilePending(t *testing.T) {
	e := newEnv(t, Options{})
	c, _, err := e.dial("", Subprotocol)
	if err != nil {
		t.Fatal(err)
	}
	e.closeServer(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, e.url, &websocket.DialOptions{Subprotocols: []string{Subprotocol}, HTTPClient: e.hs.Client()})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial without a token after Close: %v, want 503", err)
	}
}
