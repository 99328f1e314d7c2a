package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/signal"
)

// closeRevoked is the relay's close code for a revoked peer (documented
// in docs/viewer-protocol.md).
const closeRevoked websocket.StatusCode = 4403

// relayEnv is an api whose revocations reach a real relay, both served
// by one real HTTP server as infra mounts them.
type relayEnv struct {
	*env
	relay *signal.Server
	hs    *httptest.Server
}

func newRelayEnv(t *testing.T) *relayEnv {
	t.Helper()
	var relay *signal.Server
	e := newEnv(t, func(o *Options) {
		relay = signal.New(signal.Options{Verifier: o.Signer})
		o.Revoker = relay
	})
	e.addWorkspace(map[string]any{"name": "web", "image": "airlock/chromium:1"})
	e.addNode("n1", 10)
	mux := http.NewServeMux()
	mux.Handle("/api/", e.srv)
	mux.Handle("/api/v1/signal", relay)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		relay.Close()
		hs.Close()
	})
	return &relayEnv{env: e, relay: relay, hs: hs}
}

// readySession launches a session for alice and registers its agent.
func (e *relayEnv) readySession() (id, agentCred string) {
	e.t.Helper()
	s, tok := e.launchForAgent()
	return s.ID, e.register(s.ID, tok).Credential
}

// dialRelay asks the api for a connect token (as the holder of the given
// bearer token or cookie) and opens the relay with it.
func (e *relayEnv) dialRelay(r req) (*websocket.Conn, string) {
	e.t.Helper()
	rec := e.do(r)
	wantStatus(e.t, rec, http.StatusOK)
	var c connectResponse
	mustJSON(e.t, rec, &c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.hs.URL, "http")+signalPath+"?token="+c.Token,
		&websocket.DialOptions{Subprotocols: []string{signal.Subprotocol}})
	if err != nil {
		e.t.Fatalf("dial relay: %v", err)
	}
	e.t.Cleanup(func() { _ = ws.CloseNow() })
	return ws, c.Token
}

// wantClosed reads until ws closes and checks the code.
func wantClosed(t *testing.T, who string, ws *websocket.Conn, code websocket.StatusCode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue // relay notices such as agent-ready
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code {
			t.Fatalf("%s: connection ended with %v, want close %d", who, err, code)
		}
		return
	}
}

// wantOpen checks that ws is still served: a ping gets its pong.
func wantOpen(t *testing.T, who string, ws *websocket.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatalf("%s: write: %v", who, err)
	}
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("%s: closed, want it open: %v", who, err)
		}
		if strings.Contains(string(b), `"pong"`) {
			return
		}
	}
}

// TestRevocationClosesRelay: ending a session, deleting a user, signing
// out (cookie or API token) and revoking an API token close that viewer's
// relay connection at once with 4403, and a session's end closes its
// agent too; connections the act does not concern stay open.
func TestRevocationClosesRelay(t *testing.T) {
	for _, tc := range []struct {
		name string
		// act revokes; it returns the connections that must close and
		// those that must stay open.
		act func(e *relayEnv) (closed, open map[string]*websocket.Conn)
	}{
		{"session-delete", func(e *relayEnv) (map[string]*websocket.Conn, map[string]*websocket.Conn) {
			id, cred := e.readySession()
			other, _ := e.readySession()
			viewer, _ := e.dialRelay(req{Method: "POST", Path: "/api/v1/sessions/" + id + "/connect", Bearer: e.userTok})
			agent, _ := e.dialRelay(req{Method: "POST", Path: "/api/v1/agent/connect", Bearer: cred})
			otherViewer, _ := e.dialRelay(req{Method: "POST", Path: "/api/v1/sessions/" + other + "/connect", Bearer: e.userTok})
			wantStatus(e.t, e.do(req{Method: "DELETE", Path: "/api/v1/sessions/" + id, Bearer: e.userTok}), http.StatusOK)
			return map[string]*websocket.Conn{"viewer": viewer, "agent": agent}, map[string]*websocket.Conn{"other session's viewer": otherViewer}
		}},
		{"user-delete", func(e *relayEnv) (map[string]*websocket.Conn, map[string]*websocket.Conn) {
			// bob, an admin, views alice's session; deleting bob closes
			// his viewer only (a user with sessions of their own cannot be
			// deleted).
			if _, err := e.srv.CreateUser(context.Background(), "bob", userPassword, airlock.RoleAdmin, 0); err != nil {
				e.t.Fatal(err)
			}
			bobTok := e.login("bob", userPassword)
			id, _ := e.readySession()
			bob, _ := e.dialRelay(req{Method: "POST", Path: "/api/v1/sessions/" + id + "/connect", Bearer: bobTok})
			id2, _ := e.readySession()
			alice, _ := e.dialRelay(req{Method: "POST", Path: "/api/v1/sessions/" + id2 + "/connect", Bearer: e.userTok})
			wantStatus(e.t, e.do(req{Method: "DELETE", Path: "/api/v1/users/bob", Bearer: e.adminTok}), http.StatusNoContent)
			return map[string]*websocket.Conn{"bob's viewer": bob}, map[string]*websocket.Conn{"alice's viewer": alice}
		}},
		{"cookie-logout", func(e *relayEnv) (map[string]*websocket.Conn, map[string]*websocket.Conn) {
			id, _ := e.readySession()
			ck := e.cookieLogin("alice", userPassword)
			cookie := map[string]string{"Cookie": (&http.Cookie{Name: cookieName, Value: ck}).String()}
			byCookie, _ := e.dialRelay(req{Method: "POST", Path: "/api/v1/sessions/" + id + "/connect", Header: cookie})
			id2, _ := e.readySession()
			byToken, _ := e.dialRelay(req{Method: "POST", Path: "/api/v1/sessions/" + id2 + "/connect", Bearer: e.userTok})
			wantStatus(e.t, e.do(req{Method: "POST", Path: "/api/v1/auth/logout", Header: cookie}), http.StatusNoContent)
			return map[string]*websocket.Conn{"viewer of the signed-out browser": byCookie}, map[string]*websocket.Conn{"viewer of alice's CLI token": byToken}
		}},
		{"token-logout", func(e *relayEnv) (map[string]*websocket.Conn, map[string]*websocket.Conn) {
			id, _ := e.readySession()
			viewer, _ := e.dialRelay(req{Method: "POST", Path: "/api/v1/sessions/" + id + "/connect", Bearer: e.userTok})
			wantStatus(e.t, e.do(req{Method: "POST", Path: "/api/v1/auth/logout", Bearer: e.userTok}), http.StatusNoContent)
			return map[string]*websocket.Conn{"viewer": viewer}, nil
		}},
		{"password-change", func(e *relayEnv) (map[string]*websocket.Conn, map[string]*websocket.Conn) {
			// Alice, signed in in two browsers, changes her password in one:
			// the other browser's sign-in ends, and with it its viewer.
			id, _ := e.readySession()
			other := map[string]string{"Cookie": (&http.Cookie{Name: cookieName, Value: e.cookieLogin("alice", userPassword)}).String()}
			mine := map[string]string{"Cookie": (&http.Cookie{Name: cookieName, Value: e.cookieLogin("alice", userPassword)}).String()}
			stolen, _ := e.dialRelay(req{Method: "POST", Path: "/api/v1/sessions/" + id + "/connect", Header: other})
			id2, _ := e.readySession()
			kept, _ := e.dialRelay(req{Method: "POST", Path: "/api/v1/sessions/" + id2 + "/connect", Header: mine})
			wantStatus(e.t, e.do(req{Method: "POST", Path: "/api/v1/users/me/password", Header: mine,
				Body: map[string]string{"current": userPassword, "new": "a-new-password-4"}}), http.StatusOK)
			return map[string]*websocket.Conn{"the other browser's viewer": stolen}, map[string]*websocket.Conn{"the changing browser's viewer": kept}
		}},
		{"token-revoke", func(e *relayEnv) (map[string]*websocket.Conn, map[string]*websocket.Conn) {
			id, _ := e.readySession()
			id2, _ := e.readySession()
			second := e.login("alice", userPassword)
			viewer, _ := e.dialRelay(req{Method: "POST", Path: "/api/v1/sessions/" + id + "/connect", Bearer: second})
			stays, _ := e.dialRelay(req{Method: "POST", Path: "/api/v1/sessions/" + id2 + "/connect", Bearer: e.userTok})
			tokID := strings.Split(second, "_")[1]
			wantStatus(e.t, e.do(req{Method: "DELETE", Path: "/api/v1/tokens/" + tokID, Bearer: e.userTok}), http.StatusNoContent)
			return map[string]*websocket.Conn{"viewer of the revoked token": viewer}, map[string]*websocket.Conn{"viewer of another token": stays}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRelayEnv(t)
			closed, open := tc.act(e)
			for who, ws := range closed {
				wantClosed(t, who, ws, closeRevoked)
			}
			for who, ws := range open {
				wantOpen(t, who, ws)
			}
		})
	}
}

// TestRevokedTokenRefused: a connect token minted before the session
// ended is refused by the relay afterwards, though it has not expired.
func TestRevokedTokenRefused(t *testing.T) {
	e := newRelayEnv(t)
	id, _ := e.readySession()
	_, tok := e.dialRelay(req{Method: "POST", Path: "/api/v1/sessions/" + id + "/connect", Bearer: e.userTok})
	wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/sessions/" + id, Bearer: e.userTok}), http.StatusOK)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.hs.URL, "http")+signalPath+"?token="+tok,
		&websocket.DialOptions{Subprotocols: []string{signal.Subprotocol}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial with the ended session's token: %v %v, want 403", resp, err)
	}
}
