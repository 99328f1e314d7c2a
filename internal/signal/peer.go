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
// An idle peer costs one goroutine, parked in read (a fresh one for each
// message). The relay holds thousands of idle peers, so the others exist
// only while they have work:
// flush writes the queue and ends once it is empty (it is the only writer
// of data frames and the only closer), and tick, fired by a timer, pings
// and waits for the pong, or closes an expired peer. Anyone may ask for
// the connection to close with requestClose; flush then closes it with
// that code.
type peer struct {
	srv     *Server
	ws      *websocket.Conn
	role    string
	session string
	subject string // the user, for viewers
	grant   string // the sign-in the token was minted under, if any
	issued  int64  // the token's iat, Unix seconds
	expires int64  // the token's exp, Unix seconds
	limiter *rate.Limiter

	// mu guards the fields below. Goroutines are added to busy only
	// under mu while closing is false, or in the critical section that
	// sets it; end waits for busy after that, so no Add races its Wait.
	mu          sync.Mutex
	busy        sync.WaitGroup // flush and tick
	queue       [][]byte       // outbound messages; nil while empty
	running     bool           // start was called: flush may be started
	flushing    bool           // a flush goroutine owns the writes
	closing     bool
	closeCode   websocket.StatusCode // set with closing
	closeReason string
	timer       *time.Timer // fires tick; set by start
}

func newPeer(s *Server, ws *websocket.Conn, c auth.Claims, l *rate.Limiter) *peer {
	return &peer{
		srv:     s,
		ws:      ws,
		role:    c.Role,
		session: c.Session,
		subject: c.Subject,
		grant:   c.Grant,
		issued:  c.IssuedAt,
		expires: c.Expires,
		limiter: l,
	}
}

// requestClose asks flush to close the connection with code and reason.
// Only the first request counts. It never blocks on the connection.
func (p *peer) requestClose(code websocket.StatusCode, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requestCloseLocked(code, reason)
}

func (p *peer) requestCloseLocked(code websocket.StatusCode, reason string) {
	if p.closing {
		return
	}
	p.closing, p.closeCode, p.closeReason = true, code, reason
	p.queue = nil // a closing peer is sent nothing more
	p.startFlushLocked()
}

// closeRequested reports the close asked for, if any.
func (p *peer) closeRequested() (websocket.StatusCode, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closeCode, p.closing
}

// enqueue queues b for the peer without blocking. A peer that lets
// sendQueueLen messages pile up is not keeping up and is disconnected
// rather than slowing the sender down; one that takes no write for
// Options.WriteTimeout is disconnected by flush.
func (p *peer) enqueue(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closing:
	case len(p.queue) >= sendQueueLen:
		p.requestCloseLocked(websocket.StatusTryAgainLater, "too slow to take messages")
	default:
		p.queue = append(p.queue, b)
		p.startFlushLocked()
	}
}

// startFlushLocked starts flush unless one runs or start was not called yet
// (start starts it then).
func (p *peer) startFlushLocked() {
	if p.flushing || !p.running {
		return
	}
	p.flushing = true
	p.busy.Add(1)
	go p.flush()
}

// flush writes the queue until it is empty, or closes the connection once
// asked to (what is still queued then is dropped: the peer is going).
// A write that the peer does not take within the write timeout closes
// the connection at once.
func (p *peer) flush() {
	defer p.busy.Done()
	for {
		p.mu.Lock()
		if p.closing {
			// flushing stays true: no other flush starts, and this one is
			// the connection's last writer.
			code, reason := p.closeCode, p.closeReason
			p.mu.Unlock()
			_ = p.ws.Close(code, reason)
			return
		}
		if len(p.queue) == 0 {
			p.queue, p.flushing = nil, false // an idle peer holds no queue
			p.mu.Unlock()
			return
		}
		b := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), p.srv.opts.WriteTimeout)
		err := p.ws.Write(ctx, websocket.MessageText, b)
		cancel()
		if err != nil {
			p.srv.log.Debug("signal: write failed", "session", p.session, "role", p.role, "err", err)
			p.requestClose(websocket.StatusGoingAway, "")
			_ = p.ws.CloseNow()
			return
		}
	}
}

// start lets flush and tick run for p, once it joined.
func (p *peer) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running = true
	if p.closing || len(p.queue) > 0 {
		p.startFlushLocked()
	}
	p.timer = time.AfterFunc(p.nextTick(), p.tick)
}

// read reads and handles one message, then goes on to the next in a
// goroutine of its own and returns. An idle peer is one goroutine parked
// in a read, thousands of them, and its stack is most of what it costs:
// the runtime starts goroutines with a stack the size the average one
// needs (4 KiB here), but one that handled a message keeps the stack that
// took (parsing and encoding JSON need 8 KiB), as the collector halves a
// stack only when a quarter of it is in use, and a read takes more than
// that. A goroutine a message costs well under a microsecond; peers send
// a few messages a second at most.
//
// When the connection ends, or the peer breaks the protocol (read asks
// for the matching close), the last read leaves the session, waits for
// flush and tick, and ends the connection's count in s.wg.
func (s *Server) read(p *peer) {
	// The read context is never cancelled: cancelling it would drop the
	// TCP connection without a close frame. Closing (flush) is what ends
	// a blocked Read.
	typ, data, err := p.ws.Read(context.Background())
	if err != nil {
		if errors.Is(err, websocket.ErrMessageTooBig) {
			// coder/websocket has already closed with 1009 and "read
			// limited at N bytes"; say it plainly in our log.
			s.log.Info("signal: message too big", "session", p.session, "role", p.role,
				"limit", s.opts.MaxMessageBytes)
		}
		s.end(p, fmt.Errorf("read from %s: %w", p.role, err))
		return
	}
	if err := s.handleFrame(p, typ, data); err != nil {
		s.end(p, err)
		return
	}
	go s.read(p)
}

// end is the end of p's connection, whose reading ended with err.
func (s *Server) end(p *peer, err error) {
	defer s.wg.Done()
	s.leave(p)
	p.requestClose(websocket.StatusNormalClosure, "")
	p.busy.Wait()
	p.mu.Lock()
	p.timer.Stop() // a tick that fires now finds the peer closing
	p.mu.Unlock()
	_ = p.ws.CloseNow() // no-op unless flush gave up on a failed write
	s.log.Debug("signal: connection ended", "session", p.session, "role", p.role, "err", err)
	s.log.Info("signal: peer left", "session", p.session, "role", p.role)
}

// nextTick is how long until the next ping, or until the token expires
// if that is sooner.
func (p *peer) nextTick() time.Duration {
	return min(p.srv.opts.PingInterval, time.Until(time.Unix(p.expires, 0)))
}

// tick closes the peer once its token expired, and otherwise pings it so
// a connection whose other end vanished is noticed and its slot freed.
// It runs in the timer's goroutine, which lives as long as the ping.
func (p *peer) tick() {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return
	}
	if time.Now().Unix() >= p.expires {
		// A viewer the api could not revoke (another process's relay)
		// cannot linger past its token; the client reconnects with a
		// fresh one.
		p.requestCloseLocked(closeExpired, "token expired")
		p.mu.Unlock()
		return
	}
	p.busy.Add(1)
	defer p.busy.Done()
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), p.srv.opts.PongTimeout)
	err := p.ws.Ping(ctx)
	cancel()
	if err != nil {
		// The other end is gone or too far behind to answer: it is
		// dropped at once rather than waited on for a close handshake,
		// so that its slot is free and the other side hears of it now.
		// CloseNow comes first: once flush's Close has begun, CloseNow
		// would wait for its handshake.
		_ = p.ws.CloseNow()
		p.requestClose(websocket.StatusGoingAway, "ping timeout")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closing {
		p.timer.Reset(p.nextTick())
	}
}

// handleFrame checks and handles one frame read from p: it must come
// within the rate limit and be a text frame holding a valid message.
// When it is not, it asks for the matching close and returns why.
func (s *Server) handleFrame(p *peer, typ websocket.MessageType, data []byte) error {
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
