package turn

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/turn/v4"
)

// Server is a running STUN/TURN server. Close stops it.
type Server struct {
	pion    *turn.Server
	tcp     []*trackingListener // TCP and TLS listeners
	log     *slog.Logger
	cfg     Config
	allocs  *tracker
	peers   *peerPolicy
	stop    context.CancelFunc
	ctx     context.Context
	sweeper sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// callTimeout bounds one Session call, so a slow store cannot stall
// pion's read loop for long.
const callTimeout = 5 * time.Second

// NewServer starts serving STUN and TURN on udp and on each stream
// listener in tcp (plain TCP, and TLS for turns: when the caller wraps one
// with tls.NewListener); udp may be nil and nil listeners are skipped, but
// one listener is needed. The caller opens the listeners (and so picks the
// ports, normally 3478 for UDP and TCP, 443 or 5349 for TLS); the Server
// takes them over and closes them in Close, since pion's server has no
// other way to stop its read loops.
func NewServer(cfg Config, udp net.PacketConn, tcp ...net.Listener) (*Server, error) {
	var streams []net.Listener
	for _, l := range tcp {
		if l != nil {
			streams = append(streams, l)
		}
	}
	if udp == nil && len(streams) == 0 {
		return nil, ErrNoListener
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	host, err := cfg.hostAddrs()
	if err != nil {
		return nil, fmt.Errorf("turn: the host's own addresses, which relays must not reach: %w", err)
	}
	for _, ip := range []net.IP{cfg.PublicIP, cfg.RelayBindIP} {
		if a, ok := netip.AddrFromSlice(ip); ok && !a.IsUnspecified() {
			host = append(host, a)
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{
		log: cfg.Logger, cfg: cfg, ctx: ctx, stop: stop,
		allocs: newTracker(cfg.MaxPerUser, cfg.MaxPerSession),
		peers:  newPeerPolicy(cfg.PeerNetworks, cfg.alwaysDeny, host),
	}

	// One generator per listener: pion validates each (filling in its Net
	// and random source) and they must not share that state across
	// allocation managers.
	relay := func() turn.RelayAddressGenerator {
		return &relayGenerator{t: s.allocs, RelayAddressGeneratorPortRange: turn.RelayAddressGeneratorPortRange{
			RelayAddress: cfg.PublicIP,
			Address:      cfg.RelayBindIP.String(),
			MinPort:      cfg.RelayPortMin,
			MaxPort:      cfg.RelayPortMax,
		}}
	}

	pcfg := turn.ServerConfig{
		Realm:         cfg.Realm,
		AuthHandler:   s.authHandler,
		QuotaHandler:  s.quotaHandler,
		EventHandler:  s.events(),
		LoggerFactory: slogFactory{cfg.Logger},
	}
	if udp != nil {
		pcfg.PacketConnConfigs = []turn.PacketConnConfig{{
			PacketConn:            udp,
			RelayAddressGenerator: relay(),
			PermissionHandler:     s.permissionHandler,
		}}
	}
	for _, l := range streams {
		tl := newTrackingListener(l)
		s.tcp = append(s.tcp, tl)
		pcfg.ListenerConfigs = append(pcfg.ListenerConfigs, turn.ListenerConfig{
			Listener:              tl,
			RelayAddressGenerator: relay(),
			PermissionHandler:     s.permissionHandler,
		})
	}

	s.pion, err = turn.NewServer(pcfg)
	if err != nil {
		stop()
		return nil, fmt.Errorf("turn: start server: %w", err)
	}
	s.sweeper.Go(s.sweepLoop)
	return s, nil
}

// authHandler checks TURN REST credentials: the username must be
// "<expiry>:<session>:<user>" and not expired; the key returned is derived
// from the HMAC password, and pion verifies the request's
// MESSAGE-INTEGRITY with it, so a wrong password fails there. It does not
// ask whether the session is live: pion calls it before checking the
// password, so anyone could make it query the store. The quota and
// permission handlers, which run after, do.
func (s *Server) authHandler(username, realm string, src net.Addr) ([]byte, bool) {
	if _, err := checkUsername(username, s.cfg.Now()); err != nil {
		// Warn, not error: this is a client mistake or a probe, and the
		// client only ever sees a 401.
		s.log.Warn("turn: refused credentials", "src", src.String(), "username", username, "err", err)
		return nil, false
	}
	return turn.GenerateAuthKey(username, realm, restPassword(s.cfg.Secret, username)), true
}

// session asks the infra about a session, within callTimeout.
func (s *Server) session(id string) (SessionInfo, error) {
	ctx, cancel := context.WithTimeout(s.ctx, callTimeout)
	defer cancel()
	info, err := s.cfg.Session(ctx, id)
	if err != nil {
		return SessionInfo{}, fmt.Errorf("look up session %s: %w", id, err)
	}
	return info, nil
}

// quotaHandler runs on every authenticated Allocate: it refuses ended
// sessions and full quotas (pion answers 486 Allocation Quota Reached).
func (s *Server) quotaHandler(username, _ string, src net.Addr) bool {
	u, err := parseUsername(username)
	if err == nil {
		var info SessionInfo
		if info, err = s.session(u.Session); err == nil && !info.Live {
			err = fmt.Errorf("session %s is not live", u.Session)
		}
	}
	if err == nil {
		err = s.allocs.reserve(clientKey(src), u.Session, u.User, s.cfg.Now())
	}
	if err != nil {
		s.log.Warn("turn: refused allocation", "src", src.String(), "username", username, "reason", err)
		return false
	}
	return true
}

// permissionHandler applies the peer rule to every CreatePermission and
// ChannelBind, for the session of the client's allocation (not the
// username of the request, which pion does not compare with the
// allocation's). Without it pion admits every peer, which would let any
// holder of credentials send UDP from the TURN host anywhere.
func (s *Server) permissionHandler(client net.Addr, peer net.IP) bool {
	a, ok := s.allocs.lookup(clientKey(client))
	var err error
	switch {
	case !ok:
		err = fmt.Errorf("client has no allocation")
	case a.closing:
		err = fmt.Errorf("session %s has ended", a.session)
	default:
		var info SessionInfo
		if info, err = s.session(a.session); err == nil {
			if !info.Live {
				err = fmt.Errorf("session %s is not live", a.session)
			} else {
				err = s.peers.check(peer, info.Peers)
			}
		}
	}
	if err != nil {
		s.log.Warn("turn: refused relay to peer", "client", client.String(), "peer", peer.String(),
			"session", a.session, "user", a.user, "reason", err)
		return false
	}
	return true
}

// events keeps the tracker in step with pion's allocations.
func (s *Server) events() turn.EventHandler {
	return turn.EventHandler{
		OnAllocationCreated: func(src, _ net.Addr, _, username, _ string, relay net.Addr, _ int) {
			u, err := parseUsername(username)
			if err != nil {
				// Unreachable: the auth handler admitted it.
				s.log.Error("turn: allocation with an unparsable username", "src", src.String(), "err", err)
				return
			}
			s.allocs.created(clientKey(src), u, relay)
			s.log.Info("turn: allocation", "src", src.String(), "relay", relay.String(), "session", u.Session, "user", u.User)
		},
		OnAllocationDeleted: func(src, _ net.Addr, _, _, _ string) {
			s.allocs.deleted(clientKey(src))
		},
		OnAllocationError: func(src, _ net.Addr, _, _ string) {
			// A failed request frees the quota slot it may hold.
			s.allocs.unreserve(clientKey(src))
		},
	}
}

// EndSession closes the allocations of a session at once and returns how
// many it closed. Their clients' later requests fail: Allocate and
// CreatePermission ask whether the session is live.
func (s *Server) EndSession(id string) int {
	relays := s.allocs.closeSession(id)
	for _, rc := range relays {
		// Closing the relay socket ends pion's read loop for it, which
		// deletes the allocation. An error means it was already closed.
		_ = rc.Close()
	}
	if len(relays) > 0 {
		s.log.Info("turn: closed the allocations of an ended session", "session", id, "allocations", len(relays))
	}
	return len(relays)
}

// Sweep asks about every session holding allocations and closes those of
// sessions no longer live. A session whose state cannot be had is left
// for the next sweep: new permissions are refused meanwhile.
func (s *Server) Sweep() {
	for _, id := range s.allocs.sessions() {
		info, err := s.session(id)
		if err != nil {
			s.log.Warn("turn: sweep", "session", id, "err", err)
			continue
		}
		if !info.Live {
			s.EndSession(id)
		}
	}
}

func (s *Server) sweepLoop() {
	t := time.NewTicker(s.cfg.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

// Close stops the server: it closes the listeners, every accepted TCP
// connection (pion leaves those open) and, through pion, every allocation's
// relay socket. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		s.sweeper.Wait()
		err := s.pion.Close()
		for _, tl := range s.tcp {
			// Listener already closed by pion; this closes accepted conns.
			tl.closeConns()
		}
		if err != nil {
			s.closeErr = fmt.Errorf("turn: close: %w", err)
		}
	})
	return s.closeErr
}

// trackingListener remembers accepted connections so Close can end them:
// pion's Server.Close only closes the listener, leaving each TCP client's
// read loop (and its allocation) running until the client hangs up.
type trackingListener struct {
	net.Listener

	// mu guards the following fields.
	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

func newTrackingListener(l net.Listener) *trackingListener {
	return &trackingListener{Listener: l, conns: make(map[*trackedConn]struct{})}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		// Raced with Close: refuse rather than leak.
		_ = c.Close()
		return nil, net.ErrClosed
	}
	l.conns[tc] = struct{}{}
	return tc, nil
}

func (l *trackingListener) closeConns() {
	l.mu.Lock()
	l.closed = true
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	for c := range conns {
		// Shutting down: a conn that fails to close has nothing left to
		// flush, and pion's read loop exits either way.
		_ = c.Conn.Close()
	}
}

func (l *trackingListener) forget(c *trackedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

type trackedConn struct {
	net.Conn
	l *trackingListener
}

func (c *trackedConn) Close() error {
	c.l.forget(c)
	return c.Conn.Close()
}
