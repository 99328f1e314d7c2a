package turn

import (
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/pion/turn/v4"
)

// Server is a running STUN/TURN server. Close stops it.
type Server struct {
	pion *turn.Server
	tcp  *trackingListener // nil without a TCP listener
	log  *slog.Logger

	closeOnce sync.Once
	closeErr  error
}

// NewServer starts serving STUN and TURN on udp and tcp; either may be nil,
// not both. The caller opens the listeners (and so picks the port, normally
// 3478 for both); the Server takes them over and closes them in Close, since
// pion's server has no other way to stop its read loops.
func NewServer(cfg Config, udp net.PacketConn, tcp net.Listener) (*Server, error) {
	if udp == nil && tcp == nil {
		return nil, ErrNoListener
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{log: cfg.Logger}

	// One generator per listener: pion validates each (filling in its Net
	// and random source) and they must not share that state across
	// allocation managers.
	relay := func() turn.RelayAddressGenerator {
		return &turn.RelayAddressGeneratorPortRange{
			RelayAddress: cfg.PublicIP,
			Address:      cfg.RelayBindIP.String(),
			MinPort:      cfg.RelayPortMin,
			MaxPort:      cfg.RelayPortMax,
		}
	}
	perm := s.permissionHandler(cfg.AllowPeer)

	pcfg := turn.ServerConfig{
		Realm:         cfg.Realm,
		AuthHandler:   s.authHandler(cfg),
		LoggerFactory: slogFactory{cfg.Logger},
	}
	if udp != nil {
		pcfg.PacketConnConfigs = []turn.PacketConnConfig{{
			PacketConn:            udp,
			RelayAddressGenerator: relay(),
			PermissionHandler:     perm,
		}}
	}
	if tcp != nil {
		s.tcp = newTrackingListener(tcp)
		pcfg.ListenerConfigs = []turn.ListenerConfig{{
			Listener:              s.tcp,
			RelayAddressGenerator: relay(),
			PermissionHandler:     perm,
		}}
	}

	s.pion, err = turn.NewServer(pcfg)
	if err != nil {
		return nil, fmt.Errorf("turn: start server: %w", err)
	}
	return s, nil
}

// authHandler checks TURN REST credentials: the username must be
// "<expiry>:<user>" and not expired; the key returned is derived from the
// HMAC password, and pion verifies the request's MESSAGE-INTEGRITY with it,
// so a wrong password fails there.
func (s *Server) authHandler(cfg Config) turn.AuthHandler {
	return func(username, realm string, src net.Addr) ([]byte, bool) {
		if err := checkUsername(username, cfg.Now()); err != nil {
			// Warn, not error: this is a client mistake or a probe, and the
			// client only ever sees a 401.
			s.log.Warn("turn: refused credentials", "src", src.String(), "username", username, "err", err)
			return nil, false
		}
		return turn.GenerateAuthKey(username, realm, restPassword(cfg.Secret, username)), true
	}
}

// permissionHandler applies allow to every CreatePermission and ChannelBind.
// Without it pion admits every peer, which would let any holder of
// credentials send UDP from the TURN host to its loopback services.
func (s *Server) permissionHandler(allow func(net.IP) bool) turn.PermissionHandler {
	return func(client net.Addr, peer net.IP) bool {
		if allow(peer) {
			return true
		}
		s.log.Warn("turn: refused relay to peer", "client", client.String(), "peer", peer.String())
		return false
	}
}

// Close stops the server: it closes the listeners, every accepted TCP
// connection (pion leaves those open) and, through pion, every allocation's
// relay socket. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		err := s.pion.Close()
		if s.tcp != nil {
			// Listener already closed by pion; this closes accepted conns.
			s.tcp.closeConns()
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
