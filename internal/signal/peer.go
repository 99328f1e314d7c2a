package signal

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/time/rate"

	"github.com/airlock-rbi/airlock/internal/auth"
)

// Close codes of the relay. 4000–4999 are for applications (RFC 6455
// 7.4.2); the last three digits echo the matching HTTP status. Untyped,
// as close codes are the same numbers in any WebSocket library.
const (
	closeBadMessage = 4400 // not JSON, binary, unknown type
	closeExpired    = 4401 // token expired while connected
	closeRevoked    = 4403 // session ended, user deleted or signed out
	closeReplaced   = 4409 // a newer peer of the same role joined
	closeTooMany    = 4429 // message rate exceeded
	closeTryLater   = 1013 // too slow to take messages (RFC 6455's registry)
)

// closeTimeout is how long a peer sent a close frame has to answer with
// its own before its connection is dropped.
const closeTimeout = 5 * time.Second

// peer is one connection: a viewer or an agent of one session, or, until
// its auth message came, a connection that will be one.
//
// An idle peer has no goroutine. Its socket waits in the server's poller;
// when it is readable, a read pass runs in a goroutine of its own (see
// Server.wake), handles what came and parks the socket again. The others
// exist only while they have work: flush writes the queue and ends once
// it is empty (it is the only writer of data frames and of the close
// frame), and tick, fired by a timer, pings or closes an expired peer.
// Anyone may ask for the connection to close with requestClose; flush
// then sends the close frame with that code, and the read side waits for
// the peer's answer.
type peer struct {
	srv     *Server
	c       *conn
	remote  string
	limiter *rate.Limiter

	// Set once the token is admitted, before the peer joins; read-only
	// after that.
	role    string
	session string
	subject string // the user, for viewers
	grant   string // the sign-in the token was minted under, if any
	issued  int64  // the token's iat, Unix seconds
	expires int64  // the token's exp, Unix seconds

	// reading is true while a read pass runs or is about to: readiness
	// and the end of the connection start one only by setting it. Once
	// the connection ended it stays set.
	reading atomic.Bool

	// Owned by the read passes (one at a time).
	waitingAuth bool        // counted among the server's pending; no token yet
	stopAuth    func() bool // stops the auth timeout and the shutdown watch

	// mu guards the fields below. Goroutines are added to busy only
	// under mu while closing is false, or in the critical section that
	// sets it; end waits for busy after that, so no Add races its Wait.
	mu           sync.Mutex
	busy         sync.WaitGroup // flush
	queue        []outFrame     // outbound frames; nil while empty
	flushing     bool           // a flush goroutine owns the writes
	closing      bool
	closeCode    ws.StatusCode // set with closing
	closeReason  string
	closeSent    bool // flush wrote the close frame
	peerClosed   bool // the peer's close frame came
	dropped      bool // the connection is closed
	awaitingPong bool
	timer        *time.Timer // fires tick; set by start
	closeTimer   *time.Timer // drops a peer that does not answer the close
}

// outFrame is a frame waiting for flush.
type outFrame struct {
	op   ws.OpCode
	data []byte
}

func newPeer(s *Server, c *conn, remote string, l *rate.Limiter) *peer {
	return &peer{srv: s, c: c, remote: remote, limiter: l}
}

// setClaims makes p the peer its admitted token names.
func (p *peer) setClaims(c auth.Claims) {
	p.role, p.session, p.subject, p.grant = c.Role, c.Session, c.Subject, c.Grant
	p.issued, p.expires = c.IssuedAt, c.Expires
}

// requestClose asks flush to send a close frame with code and reason.
// Only the first request counts. It never blocks on the connection.
func (p *peer) requestClose(code ws.StatusCode, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requestCloseLocked(code, reason)
}

func (p *peer) requestCloseLocked(code ws.StatusCode, reason string) {
	if p.closing {
		return
	}
	p.closing, p.closeCode, p.closeReason = true, code, reason
	p.queue = nil // a closing peer is sent nothing more
	p.startFlushLocked()
}

// closeRequested reports the close asked for, if any.
func (p *peer) closeRequested() (ws.StatusCode, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closeCode, p.closing
}

// isClosing reports whether a close was asked for: what the peer sends
// then is read only to find its close frame.
func (p *peer) isClosing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closing
}

// enqueue queues a text message for the peer without blocking.
func (p *peer) enqueue(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.enqueueLocked(outFrame{ws.OpText, b})
}

// enqueueLocked queues f. A peer that lets sendQueueLen frames pile up is
// not keeping up and is disconnected rather than slowing the sender down;
// one that takes no write for Options.WriteTimeout is disconnected by
// flush.
func (p *peer) enqueueLocked(f outFrame) {
	switch {
	case p.closing:
	case len(p.queue) >= sendQueueLen:
		p.requestCloseLocked(closeTryLater, "too slow to take messages")
	default:
		p.queue = append(p.queue, f)
		p.startFlushLocked()
	}
}

// startFlushLocked starts flush unless one runs.
func (p *peer) startFlushLocked() {
	if p.flushing || p.c == nil {
		return
	}
	p.flushing = true
	p.busy.Add(1)
	go p.flush()
}

// flush writes the queue until it is empty, or sends the close frame once
// asked to (what is still queued then is dropped: the peer is going).
// A write that the peer does not take within the write timeout drops the
// connection at once.
func (p *peer) flush() {
	defer p.busy.Done()
	for {
		p.mu.Lock()
		if p.closing {
			// flushing stays true: no other flush starts, and this one is
			// the connection's last writer.
			code, reason, sent := p.closeCode, p.closeReason, p.closeSent
			p.mu.Unlock()
			if sent {
				return
			}
			err := p.c.write(ws.OpClose, ws.NewCloseFrameBody(code, reason), p.srv.opts.WriteTimeout)
			p.mu.Lock()
			p.closeSent = true
			answered := p.peerClosed
			if err == nil && !answered && !p.dropped {
				p.closeTimer = time.AfterFunc(closeTimeout, p.drop)
			}
			p.mu.Unlock()
			if err != nil || answered {
				p.drop()
			}
			return
		}
		if len(p.queue) == 0 {
			p.queue, p.flushing = nil, false // an idle peer holds no queue
			p.mu.Unlock()
			return
		}
		f := p.queue[0]
		p.queue[0] = outFrame{}
		p.queue = p.queue[1:]
		p.mu.Unlock()
		if err := p.c.write(f.op, f.data, p.srv.opts.WriteTimeout); err != nil {
			p.srv.log.Debug("signal: write failed", "session", p.session, "role", p.role, "err", err)
			p.requestClose(ws.StatusGoingAway, "")
			p.drop()
			return
		}
	}
}

// drop closes the connection without a close handshake, and makes sure a
// read pass runs to see that and end the peer. It takes the socket out
// of the poller first (see poller.remove).
func (p *peer) drop() {
	p.mu.Lock()
	if p.dropped {
		p.mu.Unlock()
		return
	}
	p.dropped = true
	p.mu.Unlock()
	if p.c.fd >= 0 && p.srv.poll != nil {
		p.srv.poll.remove(p)
	}
	_ = p.c.nc.Close()
	if p.reading.CompareAndSwap(false, true) {
		go p.srv.wake(p, pastDeadline)
	}
}

// start runs tick for p, once it joined.
func (p *peer) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timer = time.AfterFunc(p.nextTick(), p.tick)
}

// nextTick is how long until the next ping, or until the token expires
// if that is sooner.
func (p *peer) nextTick() time.Duration {
	return min(p.srv.opts.PingInterval, time.Until(time.Unix(p.expires, 0)))
}

// tick closes the peer once its token expired, drops it when its last
// ping went unanswered for PongTimeout, and otherwise pings it, so that a
// connection whose other end vanished is noticed and its slot freed.
func (p *peer) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closing:
	case time.Now().Unix() >= p.expires:
		// A viewer the api could not revoke (another process's relay)
		// cannot linger past its token; the client reconnects with a
		// fresh one.
		p.requestCloseLocked(closeExpired, "token expired")
	case p.awaitingPong:
		// The other end is gone or too far behind to answer: it is
		// dropped at once rather than waited on for a close handshake,
		// so that its slot is free and the other side hears of it now.
		p.requestCloseLocked(ws.StatusGoingAway, "ping timeout")
		go p.drop()
	default:
		p.awaitingPong = true
		p.enqueueLocked(outFrame{op: ws.OpPing})
		p.timer.Reset(p.srv.opts.PongTimeout)
	}
}

// pong notes the answer to the last ping.
func (p *peer) pong() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.awaitingPong && !p.closing {
		p.awaitingPong = false
		p.timer.Reset(p.nextTick())
	}
}

// stopTimers stops tick and the close timeout once the peer ended.
func (p *peer) stopTimers() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.timer != nil {
		p.timer.Stop() // a tick that fires now finds the peer closing
	}
	if p.closeTimer != nil {
		p.closeTimer.Stop()
	}
}
