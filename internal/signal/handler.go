package signal

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/airlock-rbi/airlock/internal/auth"
)

// ServeHTTP checks the connect token and the subprotocol, upgrades to a
// WebSocket and relays the peer's messages until either side goes.
//
// Everything that can be refused is refused before the upgrade, with a
// JSON error body ({"code","message"}) a client can show: 401 for a
// missing, bad or expired token, 403 for a role this relay does not serve
// or a token revoked (its session ended, its user deleted, its sign-in
// ended),
// 400 for a missing subprotocol, 503 once the server is closing.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The token travels in the query because browsers cannot set headers
	// on a WebSocket. It is short-lived and bound to one session and role.
	token := r.URL.Query().Get("token")
	if token == "" {
		writeError(w, http.StatusUnauthorized, "unauthorized", "missing token query parameter")
		return
	}
	claims, err := s.opts.Verifier.Verify(token, Audience)
	if err != nil {
		// The reason goes to the log, not to the client.
		s.log.Info("signal: token refused", "remote", r.RemoteAddr, "err", err)
		msg := "invalid token"
		if errors.Is(err, auth.ErrTokenExpired) {
			msg = "token expired"
		}
		writeError(w, http.StatusUnauthorized, "unauthorized", msg)
		return
	}
	if claims.Role != RoleViewer && claims.Role != RoleAgent {
		s.log.Info("signal: role refused", "remote", r.RemoteAddr, "role", claims.Role, "session", claims.Session)
		writeError(w, http.StatusForbidden, "forbidden", "token role may not use the signal relay")
		return
	}
	if claims.Session == "" {
		writeError(w, http.StatusForbidden, "forbidden", "token names no session")
		return
	}
	// Checked here, not left to Accept: Accept negotiates the empty
	// subprotocol when none matches, and a client that did not ask for
	// this protocol would not understand it.
	if !offersSubprotocol(r, Subprotocol) {
		writeError(w, http.StatusBadRequest, "bad_request",
			"Sec-WebSocket-Protocol must offer "+Subprotocol)
		return
	}
	s.mu.Lock()
	closed := s.closed
	rev, revoked := s.revokedLocked(claims.Role, claims.Session, claims.Subject, claims.Grant, claims.IssuedAt)
	s.mu.Unlock()
	if closed {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "signal relay is shutting down")
		return
	}
	if revoked {
		s.log.Info("signal: revoked token refused", "remote", r.RemoteAddr, "session", claims.Session, "role", claims.Role)
		writeError(w, http.StatusForbidden, "forbidden", rev.reason())
		return
	}

	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{Subprotocol},
		// Compression is off. Signaling frames are small, and
		// permessage-deflate over frames that mix attacker-influenced data
		// with secrets is the CRIME/BREACH pattern; it also costs CPU and
		// memory per connection across thousands of them. Same reasoning
		// as tailscale's derp websocket endpoint.
		CompressionMode: websocket.CompressionDisabled,
		// Origin: the request's own host is always allowed (coder/websocket
		// default), plus Options.OriginPatterns. The signed token, not the
		// Origin or a cookie, is what authenticates a peer, so a cross-site
		// page cannot ride on ambient credentials; the check stays on as
		// defence in depth. Agents send no Origin and are unaffected.
		OriginPatterns: s.opts.OriginPatterns,
	})
	if err != nil {
		// Accept has written the response (bad handshake or origin).
		s.log.Info("signal: upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	ws.SetReadLimit(s.opts.MaxMessageBytes)

	p := newPeer(ws, claims, rate.NewLimiter(rate.Limit(s.opts.RatePerSecond), s.opts.Burst))
	if !s.join(p) {
		_ = ws.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer s.wg.Done()
	s.log.Info("signal: peer joined", "session", p.session, "role", p.role, "subject", claims.Subject)
	s.run(p)
	s.log.Info("signal: peer left", "session", p.session, "role", p.role)
}

// offersSubprotocol reports whether the client lists proto among its
// Sec-WebSocket-Protocol values.
func offersSubprotocol(r *http.Request, proto string) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for v := range strings.SplitSeq(h, ",") {
			if strings.TrimSpace(v) == proto {
				return true
			}
		}
	}
	return false
}

// writeError answers with a JSON error body. message is written for the
// client and never carries an internal error's text.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, message})
}
