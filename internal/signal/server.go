package signal

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/airlock-rbi/airlock/internal/auth"
)

// Audience is the token audience the relay accepts, so a token minted for
// another service cannot be replayed here.
const Audience = "airlock-signal"

// Subprotocol is the WebSocket subprotocol a client must offer.
const Subprotocol = "airlock.signal.v1"

// Roles a connect token may carry.
const (
	RoleViewer = "viewer"
	RoleAgent  = "agent"
)

// Defaults of Options.
const (
	DefaultMaxMessageBytes = 64 << 10
	DefaultRatePerSecond   = 50
	DefaultBurst           = 100
	DefaultPingInterval    = 15 * time.Second
	DefaultAuthTimeout     = 10 * time.Second
	DefaultMaxPending      = 1024
	DefaultWriteTimeout    = 10 * time.Second
	DefaultPongTimeout     = 10 * time.Second
)

// sendQueueLen is how many messages may wait for a peer's writer. A peer
// that lets it fill is too slow for signaling and is disconnected.
const sendQueueLen = 64

// Verifier checks a signed token; *auth.Signer satisfies it.
type Verifier interface {
	Verify(token, audience string) (auth.Claims, error)
}

var _ Verifier = (*auth.Signer)(nil)

// Options configure a Server. The zero value of every field but Verifier
// means its default.
type Options struct {
	// Verifier checks connect tokens. Required.
	Verifier Verifier
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
	// MaxMessageBytes bounds one message; bigger ones close the connection
	// with 1009. Default 64 KiB.
	MaxMessageBytes int64
	// RatePerSecond and Burst limit the messages one connection may send;
	// a flood closes it with 4429. Defaults 50/s, burst 100.
	RatePerSecond, Burst int
	// PingInterval is how often each connection is pinged to find dead
	// peers; a ping unanswered for PongTimeout closes the connection with
	// 1001. Default 15s.
	PingInterval time.Duration
	// PongTimeout is how long a ping may go unanswered. coder/websocket
	// answers pings only while the application reads, which both our
	// peers always do. Default 10s.
	PongTimeout time.Duration
	// WriteTimeout bounds each write to a peer: a peer that cannot take
	// one message in that long is gone, and its connection is dropped
	// while the other side goes on. Default 10s.
	WriteTimeout time.Duration
	// OriginPatterns lists extra browser origins allowed to connect, as
	// path.Match patterns of the Origin's host ("*.example.com"); the
	// request's own host is always allowed. Default none.
	OriginPatterns []string
	// AuthTimeout is how long a connection opened without a token has to
	// send its auth message; then it is closed with 4401. Default 10s.
	AuthTimeout time.Duration
	// MaxPending bounds the connections opened without a token that have
	// not sent their auth message yet; more are refused with 503, so
	// unauthenticated sockets cannot pile up. Default 1024.
	MaxPending int
}

// Server is the relay. It is an http.Handler, mounted at /api/v1/signal.
type Server struct {
	opts Options
	log  *slog.Logger

	// ctx is cancelled by Close; connections waiting for their auth
	// message watch it. Joined peers are closed by Close itself.
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts running connections, from the upgrade on. Add is only
	// called under mu while closed is false, so Close's Wait cannot race
	// with it.
	wg sync.WaitGroup

	// mu guards the following fields.
	mu       sync.Mutex
	closed   bool
	pending  int              // connections waiting for their auth message
	sessions map[string]*pair // session ID → its peers; no empty pairs
	// revoked holds recent revocations, each with when it was made and
	// until when it is remembered.
	revoked map[revocation]revoked

	// poll holds idle connections; nil where there is no epoll (each
	// then keeps a goroutine in a read).
	poll      *poller
	closePoll sync.Once
}

// pair is one session's peers; either may be nil.
type pair struct {
	viewer, agent *peer
}

// New returns a relay. It panics if o.Verifier is nil: a relay that cannot
// check tokens is a programming error, not a runtime condition.
func New(o Options) *Server {
	if o.Verifier == nil {
		panic("signal.New: Options.Verifier is nil")
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.RatePerSecond <= 0 {
		o.RatePerSecond = DefaultRatePerSecond
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.PongTimeout <= 0 {
		o.PongTimeout = DefaultPongTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.AuthTimeout <= 0 {
		o.AuthTimeout = DefaultAuthTimeout
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:     o,
		log:      log,
		ctx:      ctx,
		cancel:   cancel,
		sessions: make(map[string]*pair),
		revoked:  make(map[revocation]revoked),
	}
	pl, err := newPoller()
	if err != nil {
		log.Warn("signal: no poller; each connection keeps a goroutine", "err", err)
	} else {
		s.poll = pl
		pl.start(s.ready)
	}
	return s
}

// Close closes every connection with 1001 (going away) and waits for all
// of their goroutines. Later connections are refused. It is safe to call
// more than once.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, pr := range s.sessions {
		for _, p := range []*peer{pr.viewer, pr.agent} {
			if p != nil {
				p.requestClose(ws.StatusGoingAway, "server shutting down")
			}
		}
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if s.poll != nil {
		s.closePoll.Do(s.poll.close)
	}
}

// Stats counts the sessions with at least one peer, and the connected
// viewers and agents.
func (s *Server) Stats() (sessions, viewers, agents int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.sessions {
		if p.viewer != nil {
			viewers++
		}
		if p.agent != nil {
			agents++
		}
	}
	return len(s.sessions), viewers, agents
}

// What hold found.
const (
	held = iota
	holdClosed
	holdFull
)

// hold counts a connection about to be upgraded in s.wg, so that Close
// waits for it, and, if it will authenticate by its first message
// (pending), among those waiting to; unless the server is closed or
// MaxPending are waiting already. The connection's goroutine calls
// s.wg.Done when it ends, and releasePending once it authenticated.
func (s *Server) hold(pending bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return holdClosed
	case pending && s.pending >= s.opts.MaxPending:
		return holdFull
	}
	if pending {
		s.pending++
	}
	s.wg.Add(1)
	return held
}

func (s *Server) releasePending() {
	s.mu.Lock()
	s.pending--
	s.mu.Unlock()
}

// join registers p as its session's peer of its role, replacing (and
// closing with 4409) any older one, and tells both sides when the pair is
// complete. It reports false if the server is closed. A peer revoked
// between the token check and here joins only to be closed with 4403 at
// once, under the same lock revoke takes, so no revoked peer is ever
// relayed to.
func (s *Server) join(p *peer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if r, ok := s.revokedLocked(p.role, p.session, p.subject, p.grant, p.issued); ok {
		p.requestClose(closeRevoked, r.reason())
		return true
	}
	pr := s.sessions[p.session]
	if pr == nil {
		pr = &pair{}
		s.sessions[p.session] = pr
	}
	var old, other *peer
	if p.role == RoleViewer {
		old, pr.viewer, other = pr.viewer, p, pr.agent
	} else {
		old, pr.agent, other = pr.agent, p, pr.viewer
	}
	if old != nil {
		old.requestClose(closeReplaced, "replaced by a newer "+p.role)
	}
	if other != nil {
		viewer, agent := pr.viewer, pr.agent
		// Sent under mu so that notifications and relayed messages reach
		// each peer in the order the relay saw them.
		agent.enqueue(relayMsg{Type: typeViewerJoined}.encode())
		viewer.enqueue(relayMsg{Type: typeAgentReady}.encode())
	}
	return true
}

// leave removes p from its session unless it was already replaced, and
// tells the other peer.
func (s *Server) leave(p *peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr := s.sessions[p.session]
	if pr == nil {
		return
	}
	var other *peer
	switch {
	case pr.viewer == p:
		pr.viewer, other = nil, pr.agent
	case pr.agent == p:
		pr.agent, other = nil, pr.viewer
	default:
		return // replaced: the newer peer now holds the slot
	}
	if other != nil {
		other.enqueue(relayMsg{Type: typePeerLeft, Role: p.role}.encode())
	}
	if pr.viewer == nil && pr.agent == nil {
		delete(s.sessions, p.session)
	}
}

// relay sends b to p's other peer. It reports false if there is none.
func (s *Server) relay(p *peer, b []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr := s.sessions[p.session]
	if pr == nil {
		return false
	}
	var other *peer
	switch {
	case pr.viewer == p:
		other = pr.agent
	case pr.agent == p:
		other = pr.viewer
	}
	if other == nil {
		return false
	}
	other.enqueue(b)
	return true
}
