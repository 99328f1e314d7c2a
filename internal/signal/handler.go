package signal

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/airlock-rbi/airlock/internal/auth"
)

// ServeHTTP checks the connect token and the subprotocol, upgrades to a
// WebSocket and relays the peer's messages until either side goes.
//
// The token comes in the query (?token=), or, on a connection opened
// without one, as its first message ({"type":"auth","token":…}, within
// Options.AuthTimeout). The second way lets a browser open the socket
// while it is still asking for the token (a launch: the socket's TLS
// handshake and upgrade are then off the way to the first frame), keeps
// the token out of URLs, and gives a refusal the page can read: a
// browser hides a refused handshake's status and body from the page.
//
// With a token in the query, everything that can be refused is refused
// before the upgrade, with a JSON error body ({"code","message"}) a
// client can show: 401 for a missing, bad or expired token, 403 for a
// role this relay does not serve or a token revoked (its session ended,
// its user deleted, its sign-in ended), 400 for a missing subprotocol,
// 503 once the server is closing. After the upgrade the same refusals
// close the connection with 4401, 4403 and 4400, and the same message as
// the reason.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The token travels in the query, or in the first message, because
	// browsers cannot set headers on a WebSocket. It is short-lived and
	// bound to one session and role.
	token := r.URL.Query().Get("token")
	var claims auth.Claims
	if token != "" {
		var ref *refusal
		if claims, ref = s.admit(r.RemoteAddr, token); ref != nil {
			writeError(w, ref.status, ref.code, ref.message)
			return
		}
	}
	// Checked here, not left to Accept: Accept negotiates the empty
	// subprotocol when none matches, and a client that did not ask for
	// this protocol would not understand it.
	if !offersSubprotocol(r, Subprotocol) {
		writeError(w, http.StatusBadRequest, "bad_request",
			"Sec-WebSocket-Protocol must offer "+Subprotocol)
		return
	}
	switch s.hold(token == "") {
	case holdClosed:
		writeError(w, http.StatusServiceUnavailable, "unavailable", "signal relay is shutting down")
		return
	case holdFull:
		s.log.Warn("signal: too many connections waiting to authenticate", "remote", r.RemoteAddr, "limit", s.opts.MaxPending)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "too many connections are waiting to authenticate; try again")
		return
	}

	ws, err := websocket.Accept(smallBuffers{w}, r, &websocket.AcceptOptions{
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
		if token == "" {
			s.releasePending()
		}
		s.wg.Done()
		// Accept has written the response (bad handshake or origin).
		s.log.Info("signal: upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	ws.SetReadLimit(s.opts.MaxMessageBytes)
	// The connection gets a goroutine of its own and the handler returns:
	// net/http then lets go of the request, its headers and contexts and
	// its own state of the connection, and of a deep stack, all of which
	// a handler blocked for the socket's life would keep, for hours, for
	// each of thousands of idle peers.
	go s.serveConn(ws, r.RemoteAddr, claims, token == "")
}

// serveConn serves an upgraded connection, which hold counted: first its
// auth message if it came without a token (pending), then, once it joined
// its session, its messages (read), which end its count in s.wg.
func (s *Server) serveConn(ws *websocket.Conn, remote string, claims auth.Claims, pending bool) {
	if pending {
		var ref *refusal
		claims, ref = s.authenticate(remote, ws)
		s.releasePending()
		if ref != nil {
			_ = ws.Close(ref.close, ref.message)
			s.wg.Done()
			return
		}
	}
	p := newPeer(s, ws, claims, rate.NewLimiter(rate.Limit(s.opts.RatePerSecond), s.opts.Burst))
	if !s.join(p) {
		_ = ws.Close(websocket.StatusGoingAway, "server shutting down")
		s.wg.Done()
		return
	}
	s.log.Info("signal: peer joined", "session", p.session, "role", p.role, "subject", claims.Subject)
	p.start()
	// Reading starts on a goroutine of its own, with a stack that
	// authenticating did not grow; the connection's count in s.wg goes
	// with it.
	go s.read(p)
}

// refusal is why a peer is not let in: the HTTP answer before an
// upgrade, or the close code after one, with the same message.
type refusal struct {
	status  int
	close   websocket.StatusCode
	code    string
	message string
}

func unauthorized(msg string) *refusal {
	return &refusal{http.StatusUnauthorized, closeExpired, "unauthorized", msg}
}

func forbidden(msg string) *refusal {
	return &refusal{http.StatusForbidden, closeRevoked, "forbidden", msg}
}

// admit checks a connect token: its signature and expiry, its role and
// session, and that it was not revoked, nor the relay closed.
func (s *Server) admit(remote, token string) (auth.Claims, *refusal) {
	claims, err := s.opts.Verifier.Verify(token, Audience)
	if err != nil {
		// The reason goes to the log, not to the client.
		s.log.Info("signal: token refused", "remote", remote, "err", err)
		if errors.Is(err, auth.ErrTokenExpired) {
			return claims, unauthorized("token expired")
		}
		return claims, unauthorized("invalid token")
	}
	if claims.Role != RoleViewer && claims.Role != RoleAgent {
		s.log.Info("signal: role refused", "remote", remote, "role", claims.Role, "session", claims.Session)
		return claims, forbidden("token role may not use the signal relay")
	}
	if claims.Session == "" {
		return claims, forbidden("token names no session")
	}
	s.mu.Lock()
	closed := s.closed
	rev, revoked := s.revokedLocked(claims.Role, claims.Session, claims.Subject, claims.Grant, claims.IssuedAt)
	s.mu.Unlock()
	if closed {
		return claims, &refusal{http.StatusServiceUnavailable, websocket.StatusGoingAway, "unavailable", "signal relay is shutting down"}
	}
	if revoked {
		s.log.Info("signal: revoked token refused", "remote", remote, "session", claims.Session, "role", claims.Role)
		return claims, forbidden(rev.reason())
	}
	return claims, nil
}

// authenticate reads the first message of a connection opened without a
// token, which must be {"type":"auth","token":…} and come within
// Options.AuthTimeout, and admits its token.
func (s *Server) authenticate(remote string, ws *websocket.Conn) (auth.Claims, *refusal) {
	// The read is ended by closing the connection, with a reason, not by
	// a context: cancelling one would drop the connection without a close
	// frame and leave the client guessing. Timers, not a goroutine, wait
	// for that: the first to fire closes, and the read's end waits for it.
	var once sync.Once
	closed := make(chan struct{})
	closeWith := func(code websocket.StatusCode, reason string) {
		once.Do(func() {
			_ = ws.Close(code, reason)
			close(closed)
		})
	}
	timeout := time.AfterFunc(s.opts.AuthTimeout, func() {
		closeWith(closeExpired, "no auth message within "+s.opts.AuthTimeout.String())
	})
	shutdown := context.AfterFunc(s.ctx, func() { closeWith(websocket.StatusGoingAway, "server shutting down") })
	typ, data, err := ws.Read(context.Background())
	timedOut, shutDown := !timeout.Stop(), !shutdown()
	if timedOut || shutDown {
		<-closed // a close has started: let it finish before the caller's
		if err == nil {
			return auth.Claims{}, &refusal{close: websocket.StatusNormalClosure}
		}
	}
	if err != nil {
		s.log.Info("signal: connection ended before it authenticated", "remote", remote, "err", err)
		return auth.Claims{}, &refusal{close: websocket.StatusNormalClosure}
	}
	if typ != websocket.MessageText {
		return auth.Claims{}, &refusal{close: closeBadMessage, message: "binary frames are not accepted: send JSON text"}
	}
	m, err := parseMessage(data)
	if err != nil {
		return auth.Claims{}, &refusal{close: closeBadMessage, message: err.Error()}
	}
	if m.Type != typeAuth {
		return auth.Claims{}, &refusal{close: closeBadMessage, message: "the first message must be auth: the connection was opened without a token"}
	}
	return s.admit(remote, m.token())
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
