package signal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/airlock-rbi/airlock/internal/auth"
)

// Close codes of the relay. 4000–4999 are for applications (RFC 6455
// 7.4.2); the last three digits echo the matching HTTP status.
const (
	closeBadMessage websocket.StatusCode = 4400 // not JSON, binary, unknown type
	closeExpired    websocket.StatusCode = 4401 // token expired while connected
	closeRevoked    websocket.StatusCode = 4403 // session ended, user deleted or signed out
	closeReplaced   websocket.StatusCode = 4409 // a newer peer of the same role joined
	closeTooMany    websocket.StatusCode = 4429 // message rate exceeded
)

// peer is one connection: a viewer or an agent of one session.
//
// Three goroutines serve it: the HTTP handler reads (readLoop), writeLoop
// is the only writer of data frames and the only closer, and pingLoop
// pings. Anyone may ask for the connection to close with requestClose;
// writeLoop then closes it with that code.
type peer struct {
	ws      *websocket.Conn
	role    string
	session string
	subject string // the user, for viewers
	grant   string // the sign-in the token was minted under, if any
	issued  int64  // the token's iat, Unix seconds
	expires time.Time
	limiter *rate.Limiter

	send    chan []byte   // outbound messages, drained by writeLoop
	closing chan struct{} // closed by requestClose

	once        sync.Once
	closeCode   websocket.StatusCode // written once, before closing is closed
	closeReason string
}

func newPeer(ws *websocket.Conn, c auth.Claims, l *rate.Limiter) *peer {
	return &peer{
		ws:      ws,
		role:    c.Role,
		session: c.Session,
		subject: c.Subject,
		grant:   c.Grant,
		issued:  c.IssuedAt,
		expires: time.Unix(c.Expires, 0),
		limiter: l,
		send:    make(chan []byte, sendQueueLen),
		closing: make(chan struct{}),
	}
}

// requestClose asks writeLoop to close the connection with code and
// reason. Only the first request counts.
func (p *peer) requestClose(code websocket.StatusCode, reason string) {
	p.once.Do(func() {
		p.closeCode, p.closeReason = code, reason
		close(p.closing)
	})
}

// enqueue queues b for the peer without blocking. A peer whose queue is
// full is not keeping up and is disconnected rather than slowing the
// sender down.
func (p *peer) enqueue(b []byte) {
	select {
	case <-p.closing:
	case p.send <- b:
	default:
		p.requestClose(websocket.StatusTryAgainLater, "too slow to take messages")
	}
}

// run serves p until its connection ends, then leaves the session.
func (s *Server) run(p *peer) {
	var wg sync.WaitGroup
	wg.Go(func() { s.writeLoop(p) })
	wg.Go(func() { s.pingLoop(p) })
	err := s.readLoop(p)
	s.leave(p)
	p.requestClose(websocket.StatusNormalClosure, "")
	wg.Wait()
	_ = p.ws.CloseNow() // no-op unless writeLoop gave up on a failed write
	if err != nil {
		s.log.Debug("signal: connection ended", "session", p.session, "role", p.role, "err", err)
	}
}

// readLoop reads and handles messages until the connection ends or the
// peer breaks the protocol, in which case it asks for the matching close.
func (s *Server) readLoop(p *peer) error {
	// The read context is never cancelled: cancelling it would drop the
	// TCP connection without a close frame. Closing (writeLoop) is what
	// ends a blocked Read.
	ctx := context.Background()
	for {
		typ, data, err := p.ws.Read(ctx)
		if err != nil {
			if errors.Is(err, websocket.ErrMessageTooBig) {
				// coder/websocket has already closed with 1009 and
				// "read limited at N bytes"; say it plainly in our log.
				s.log.Info("signal: message too big", "session", p.session, "role", p.role,
					"limit", s.opts.MaxMessageBytes)
			}
			return fmt.Errorf("read from %s: %w", p.role, err)
		}
		if !p.limiter.Allow() {
			p.requestClose(closeTooMany, "too many messages")
			return fmt.Errorf("%s exceeded %d messages/s", p.role, s.opts.RatePerSecond)
		}
		if typ != websocket.MessageText {
			p.requestClose(closeBadMessage, "binary frames are not accepted: send JSON text")
			return fmt.Errorf("binary frame from %s", p.role)
		}
		m, err := parseMessage(data)
		if err != nil {
			p.requestClose(closeBadMessage, err.Error())
			return fmt.Errorf("bad message from %s: %w", p.role, err)
		}
		if err := s.handle(p, m); err != nil {
			return err
		}
	}
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
			p.requestClose(websocket.StatusInternalError, "internal error")
			return fmt.Errorf("relay from %s: %w", p.role, err)
		}
		if !s.relay(p, b) {
			// Not fatal: the other side may be reconnecting.
			p.enqueue(relayMsg{Type: typeError, Message: "no peer connected"}.encode())
		}
	}
	return nil
}

// writeLoop writes queued messages and closes the connection when asked,
// when the token expires or when the server closes.
func (s *Server) writeLoop(p *peer) {
	expiry := time.NewTimer(time.Until(p.expires))
	defer expiry.Stop()
	for {
		select {
		case b := <-p.send:
			ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
			err := p.ws.Write(ctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				s.log.Debug("signal: write failed", "session", p.session, "role", p.role, "err", err)
				p.requestClose(websocket.StatusGoingAway, "")
				_ = p.ws.CloseNow()
				return
			}
		case <-expiry.C:
			// A viewer the api could not revoke (another process's
			// relay) cannot linger past its token; the client reconnects
			// with a fresh one.
			p.requestClose(closeExpired, "token expired")
		case <-s.ctx.Done():
			p.requestClose(websocket.StatusGoingAway, "server shutting down")
		case <-p.closing:
			_ = p.ws.Close(p.closeCode, p.closeReason)
			return
		}
	}
}

// pongTimeout is how long a ping may go unanswered. coder/websocket only
// answers pings while the application reads, which both our peers always do.
const pongTimeout = 10 * time.Second

// pingLoop pings the peer so a connection whose other end vanished is
// noticed and its slot freed.
func (s *Server) pingLoop(p *peer) {
	t := time.NewTicker(s.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-p.closing:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), pongTimeout)
			err := p.ws.Ping(ctx)
			cancel()
			if err != nil {
				p.requestClose(websocket.StatusGoingAway, "ping timeout")
				return
			}
		}
	}
}
