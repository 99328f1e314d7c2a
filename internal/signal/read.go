package signal

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/gobwas/ws"
)

// recordWait bounds a read pass's first read, which waits for the rest
// of a TLS record or frame the socket signalled the start of. A pass that
// waits it out parks the connection with what it has; the rest wakes it.
const recordWait = 200 * time.Millisecond

// ready is the poller's readiness of p's socket: it starts a read pass,
// unless one runs (it will park the socket again when done, and the
// level-triggered set signals what is left at once).
func (s *Server) ready(p *peer) {
	if p.reading.CompareAndSwap(false, true) {
		go s.wake(p, time.Now().Add(recordWait))
	}
}

// wake runs one read pass for p, whose reading flag the caller set, and
// then parks p until its socket is readable again, or ends p.
func (s *Server) wake(p *peer, first time.Time) {
	err := p.c.read(first, func(op ws.OpCode, payload []byte) error { return s.frame(p, op, payload) })
	if err == nil {
		if s.park(p) {
			return
		}
		err = errors.New("connection closed")
	}
	s.end(p, err)
}

// park waits for p's socket to be readable: in the poller, or without
// one in a goroutine blocked in a read. It reports false, with p's
// reading flag its caller's again, when p's connection is closing and
// the caller must end it; false and the flag someone else's when another
// pass took over.
func (s *Server) park(p *peer) bool {
	if s.poll == nil || p.c.fd < 0 {
		go s.wake(p, time.Time{})
		return true
	}
	p.reading.Store(false)
	ok, err := s.poll.rearm(p)
	if err != nil {
		s.log.Warn("signal: cannot wait for a connection", "session", p.session, "role", p.role, "err", err)
	}
	if ok {
		return true
	}
	if !p.reading.CompareAndSwap(false, true) {
		return true // a pass started by drop ends p
	}
	return false
}

// frame handles one frame read from p.
func (s *Server) frame(p *peer, op ws.OpCode, payload []byte) error {
	if op == ws.OpClose {
		return s.peerClose(p, payload)
	}
	if p.isClosing() {
		return nil // read only for the close frame now
	}
	if !p.limiter.Allow() {
		p.requestClose(closeTooMany, "too many messages")
		s.log.Info("signal: flood", "session", p.session, "role", p.role, "remote", p.remote,
			"rate", s.opts.RatePerSecond)
		return nil
	}
	switch op {
	case ws.OpPing:
		p.mu.Lock()
		p.enqueueLocked(outFrame{ws.OpPong, bytes.Clone(payload)})
		p.mu.Unlock()
	case ws.OpPong:
		p.pong()
	case ws.OpText:
		if p.waitingAuth {
			s.authenticate(p, payload)
			return nil
		}
		if err := s.handleMessage(p, payload); err != nil {
			s.log.Info("signal: peer refused", "session", p.session, "role", p.role, "err", err)
		}
	default:
		p.requestClose(closeBadMessage, "binary frames are not accepted: send JSON text")
	}
	return nil
}

// tooBig refuses a message over Options.MaxMessageBytes.
func (s *Server) tooBig(p *peer) {
	p.requestClose(ws.StatusMessageTooBig, fmt.Sprintf("read limited at %d bytes", s.opts.MaxMessageBytes))
	s.log.Info("signal: message too big", "session", p.session, "role", p.role, "limit", s.opts.MaxMessageBytes)
}

// peerClose handles p's close frame: it answers one the relay did not
// start with the same code, and reading ends.
func (s *Server) peerClose(p *peer, payload []byte) error {
	code, reason := ws.StatusNormalClosure, ""
	if len(payload) > 0 {
		code, reason = ws.ParseCloseFrameData(payload)
		if err := ws.CheckCloseFrameData(code, reason); err != nil {
			p.requestClose(ws.StatusProtocolError, err.Error())
			return fmt.Errorf("bad close frame: %w", err)
		}
	}
	p.mu.Lock()
	p.peerClosed = true
	sent := p.closeSent
	p.requestCloseLocked(code, "")
	p.mu.Unlock()
	if sent {
		p.drop() // the handshake is done
	}
	return fmt.Errorf("%w: %d %q", errPeerClosed, code, reason)
}

// end is the end of p's connection, whose reading ended with err: p
// leaves its session, its close frame is sent if it was not, and its
// connection is closed. The caller holds p's reading flag, which stays
// set.
func (s *Server) end(p *peer, err error) {
	defer s.wg.Done()
	if errors.As(err, new(ws.ProtocolError)) {
		p.requestClose(ws.StatusProtocolError, err.Error())
	}
	if p.waitingAuth {
		p.waitingAuth = false
		s.releasePending()
		p.stopAuth()
		p.stopAuth = nil
	}
	s.leave(p)
	p.requestClose(ws.StatusNormalClosure, "")
	p.busy.Wait()
	p.stopTimers()
	p.drop()
	s.log.Debug("signal: connection ended", "session", p.session, "role", p.role, "err", err)
	if p.session != "" {
		s.log.Info("signal: peer left", "session", p.session, "role", p.role)
	}
}

// handleMessage checks and handles one text message from p, which must
// hold a valid message. When it does not, it asks for the matching close
// and returns why.
func (s *Server) handleMessage(p *peer, data []byte) error {
	m, err := parseMessage(data)
	if err != nil {
		p.requestClose(closeBadMessage, err.Error())
		return fmt.Errorf("bad message from %s: %w", p.role, err)
	}
	return s.handle(p, m)
}

// handle acts on one valid message.
func (s *Server) handle(p *peer, m message) error {
	switch {
	case m.Type == typeAuth:
		p.requestClose(closeBadMessage, "already authenticated: auth is only the first message of a connection opened without a token")
		return fmt.Errorf("auth from an authenticated %s", p.role)
	case m.Type == typePing:
		p.enqueue(relayMsg{Type: typePong}.encode())
	case m.Type == typePong:
		// Answer to a client-level ping the peer measured itself; nothing to do.
	case m.relayed():
		b, err := m.marshalFrom(p.role)
		if err != nil {
			p.requestClose(ws.StatusInternalServerError, "internal error")
			return fmt.Errorf("relay from %s: %w", p.role, err)
		}
		if !s.relay(p, b) {
			// Not fatal: the other side may be reconnecting.
			p.enqueue(relayMsg{Type: typeError, Message: "no peer connected"}.encode())
		}
	}
	return nil
}
