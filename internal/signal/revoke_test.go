package signal

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/airlock-rbi/airlock/internal/auth"
)

// TestRevoke: each revocation closes exactly the peers it names with 4403
// at once, leaves the others connected, and refuses their tokens before
// the upgrade from then on.
func TestRevoke(t *testing.T) {
	type conn struct {
		name                   string
		role, session, subject string
		grant                  string
	}
	conns := []conn{
		{"alice-viewer-s1", RoleViewer, "s1", "alice", "web-a"},
		{"agent-s1", RoleAgent, "s1", "agent-s1", ""},
		{"alice-viewer-s2", RoleViewer, "s2", "alice", "api-a"},
		{"agent-s2", RoleAgent, "s2", "agent-s2", ""},
		{"bob-viewer-s3", RoleViewer, "s3", "bob", "web-b"},
	}
	for _, tc := range []struct {
		name   string
		revoke func(s *Server)
		closed []string // the rest stay open
	}{
		{"session", func(s *Server) { s.RevokeSession("s1") }, []string{"alice-viewer-s1", "agent-s1"}},
		{"user", func(s *Server) { s.RevokeUser("alice") }, []string{"alice-viewer-s1", "alice-viewer-s2"}},
		{"grant", func(s *Server) { s.RevokeGrant("web-a") }, []string{"alice-viewer-s1"}},
		{"empty-id-revokes-nothing", func(s *Server) { s.RevokeGrant(""); s.RevokeSession(""); s.RevokeUser("") }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			tokens := map[string]string{}
			ws := map[string]*websocket.Conn{}
			for _, c := range conns {
				tokens[c.name] = e.sign(e.signer, auth.Claims{Subject: c.subject, Session: c.session, Role: c.role, Grant: c.grant,
					Audience: Audience, Expires: e.clock.now().Add(time.Minute).Unix()})
				w, _, err := e.dial(tokens[c.name], Subprotocol)
				if err != nil {
					t.Fatalf("dial %s: %v", c.name, err)
				}
				ws[c.name] = w
			}
			// Each pair is complete once both sides heard of the other;
			// drain those notices so the reads below see only the close.
			for _, c := range conns {
				if c.session != "s3" {
					recv(t, ws[c.name])
				}
			}
			tc.revoke(e.srv)
			closed := map[string]bool{}
			for _, name := range tc.closed {
				closed[name] = true
				if r := expectClose(t, ws[name], closeRevoked); r == "" {
					t.Errorf("%s closed without a reason", name)
				}
			}
			for _, c := range conns {
				if closed[c.name] {
					// A new connection with the same token is refused.
					_, resp, err := e.dial(tokens[c.name], Subprotocol)
					if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
						t.Fatalf("redial %s after revocation: %v %v, want 403", c.name, resp, err)
					}
					var body struct{ Code, Message string }
					_ = json.NewDecoder(resp.Body).Decode(&body)
					if body.Code != "forbidden" || body.Message == "" {
						t.Fatalf("redial %s: body %+v", c.name, body)
					}
					continue
				}
				// Still served: a ping is answered (after a peer-left
				// notice, for the agent whose viewer was revoked).
				send(t, ws[c.name], map[string]any{"type": "ping"})
				for m := recv(t, ws[c.name]); m["type"] != "pong"; m = recv(t, ws[c.name]) {
					if m["type"] != "peer-left" {
						t.Fatalf("%s got %v, want pong", c.name, m)
					}
				}
			}
		})
	}
}

// TestRevokeRacesJoin: a token checked before a revocation and joining
// after it is closed with 4403 at once rather than served.
func TestRevokeRacesJoin(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(RoleViewer, "s1")
	claims, err := e.signer.Verify(tok, Audience)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.RevokeSession("s1")
	p := newPeer(e.srv, nil, "", nil)
	p.setClaims(claims)
	if !e.srv.join(p) {
		t.Fatal("join refused on an open server")
	}
	code, closing := p.closeRequested()
	if !closing {
		t.Fatal("a revoked peer joined without being closed")
	}
	if code != closeRevoked {
		t.Fatalf("close code %d, want %d", code, closeRevoked)
	}
	if _, v, _ := e.srv.Stats(); v != 0 {
		t.Fatalf("revoked viewer counted: %d viewers", v)
	}
}

// TestRevokedSessionResumed: a session's revocation refuses the tokens
// minted until then, and not those minted in a later second, which are
// for the session resumed from suspension; a user's revocation stays.
func TestRevokedSessionResumed(t *testing.T) {
	e := newEnv(t, Options{})
	mint := func(role, subject string) string {
		return e.sign(e.signer, auth.Claims{Subject: subject, Session: "s1", Role: role,
			Audience: Audience, Expires: e.clock.now().Add(time.Minute).Unix()})
	}
	before := mint(RoleAgent, "agent-s1")
	e.srv.RevokeSession("s1")
	e.srv.RevokeUser("mallory")
	if _, resp, err := e.dial(before, Subprotocol); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a token minted before the revocation: %v %v, want 403", resp, err)
	}
	e.clock.advance(time.Second)
	w, _, err := e.dial(mint(RoleAgent, "agent-s1"), Subprotocol)
	if err != nil {
		t.Fatalf("a token minted after the revocation, for the session resumed: %v", err)
	}
	w.CloseNow()
	if _, resp, err := e.dial(mint(RoleViewer, "mallory"), Subprotocol); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a deleted user's token minted after the revocation: %v %v, want 403", resp, err)
	}
}
