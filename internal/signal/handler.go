package signal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/gobwas/ws"
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

	// Origin: the request's own host is always allowed, plus
	// Options.OriginPatterns. The signed token, not the Origin or a
	// cookie, is what authenticates a peer, so a cross-site page cannot
	// ride on ambient credentials; the check stays on as defence in depth.
	// Agents send no Origin and are unaffected.
	if err := checkOrigin(r, s.opts.OriginPatterns); err != nil {
		s.release(token == "")
		s.log.Info("signal: origin refused", "remote", r.RemoteAddr, "err", err)
		writeError(w, http.StatusForbidden, "forbidden", err.Error())
		return
	}
	// No extension is negotiated: permessage-deflate is off. Signaling
	// frames are small, and compressing frames that mix
	// attacker-influenced data with secrets is the CRIME/BREACH pattern;
	// it also costs CPU and memory per connection across thousands of
	// them. Same reasoning as tailscale's derp websocket endpoint.
	up := ws.HTTPUpgrader{Protocol: func(p string) bool { return p == Subprotocol }}
	nc, brw, _, err := up.Upgrade(r, w)
	if err != nil {
		if nc != nil {
			nc.Close()
		}
		s.release(token == "")
		// Upgrade has answered (a bad handshake).
		s.log.Info("signal: upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	// What net/http read past the request (a client that got the 101 may
	// send its first frame before net/http's background read is stopped)
	// is the connection's first bytes; net/http's buffers are then let go,
	// with the request, once the handler returns.
	var early []byte
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n) // buffered: cannot fail
		early = bytes.Clone(b)
	}
	p := newPeer(s, nil, r.RemoteAddr, rate.NewLimiter(rate.Limit(s.opts.RatePerSecond), s.opts.Burst))
	p.c = newConn(nc, early, s.opts.MaxMessageBytes, func() { s.tooBig(p) })
	// The first pass below is this goroutine's: the flag is taken before
	// the socket is armed, so that a readiness coming first starts no
	// second pass beside it.
	p.reading.Store(true)
	if s.poll != nil && p.c.fd >= 0 {
		if err := s.poll.add(p); err != nil {
			s.log.Warn("signal: cannot wait for a connection; it keeps a goroutine", "remote", r.RemoteAddr, "err", err)
			p.c.fd = -1
		}
	}
	if token == "" {
		s.waitForAuth(p)
	} else {
		p.setClaims(claims)
		s.enter(p)
	}
	// The first pass reads what is buffered already; it then parks the
	// connection until it is readable.
	s.wake(p, pastDeadline)
}

// waitForAuth gives p, opened without a token, Options.AuthTimeout to
// send its auth message, and closes it if the server closes first.
func (s *Server) waitForAuth(p *peer) {
	p.waitingAuth = true
	timeout := time.AfterFunc(s.opts.AuthTimeout, func() {
		p.requestClose(closeExpired, "no auth message within "+s.opts.AuthTimeout.String())
	})
	shutdown := context.AfterFunc(s.ctx, func() { p.requestClose(ws.StatusGoingAway, "server shutting down") })
	p.stopAuth = func() bool {
		t, sd := timeout.Stop(), shutdown()
		return t && sd
	}
}

// enter joins p, whose token was admitted, to its session and starts its
// pings; or closes it, if the server is closing.
func (s *Server) enter(p *peer) {
	if !s.join(p) {
		p.requestClose(ws.StatusGoingAway, "server shutting down")
		return
	}
	s.log.Info("signal: peer joined", "session", p.session, "role", p.role, "subject", p.subject)
	p.start()
}

// release undoes hold for a connection that was not upgraded.
func (s *Server) release(pending bool) {
	if pending {
		s.releasePending()
	}
	s.wg.Done()
}

// refusal is why a peer is not let in: the HTTP answer before an
// upgrade, or the close code after one, with the same message.
type refusal struct {
	status  int
	close   ws.StatusCode
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
		return claims, &refusal{http.StatusServiceUnavailable, ws.StatusGoingAway, "unavailable", "signal relay is shutting down"}
	}
	if revoked {
		s.log.Info("signal: revoked token refused", "remote", remote, "session", claims.Session, "role", claims.Role)
		return claims, forbidden(rev.reason())
	}
	return claims, nil
}

// authenticate handles the first message of a connection opened without
// a token, which must be {"type":"auth","token":…}: it admits the token
// and joins the peer, or asks for the matching close.
func (s *Server) authenticate(p *peer, data []byte) {
	p.waitingAuth = false
	s.releasePending()
	stopped := p.stopAuth()
	p.stopAuth = nil // its timer and watch are garbage now
	if !stopped {
		return // timed out or shutting down: the close is asked for
	}
	ref := func() *refusal {
		m, err := parseMessage(data)
		if err != nil {
			return &refusal{close: closeBadMessage, message: err.Error()}
		}
		if m.Type != typeAuth {
			return &refusal{close: closeBadMessage, message: "the first message must be auth: the connection was opened without a token"}
		}
		claims, ref := s.admit(p.remote, m.token())
		if ref == nil {
			p.setClaims(claims)
		}
		return ref
	}()
	if ref != nil {
		p.requestClose(ref.close, ref.message)
		return
	}
	s.enter(p)
}

// checkOrigin allows a request with no Origin (not a browser), one whose
// Origin's host is the request's own, or one matching a pattern (a
// path.Match pattern of a host, as in coder/websocket's OriginPatterns).
func checkOrigin(r *http.Request, patterns []string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return fmt.Errorf("request Origin %q is not a URL with a host", origin)
	}
	if strings.EqualFold(r.Host, u.Host) {
		return nil
	}
	for _, pat := range patterns {
		ok, err := path.Match(strings.ToLower(pat), strings.ToLower(u.Host))
		if err != nil {
			return fmt.Errorf("origin pattern %q: %w", pat, err)
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("request Origin %q is not allowed for host %q", origin, r.Host)
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
