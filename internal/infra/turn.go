package infra

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/api"
	"github.com/airlock-rbi/airlock/internal/pki"
	"github.com/airlock-rbi/airlock/internal/signal"
	"github.com/airlock-rbi/airlock/internal/turn"
)

// turnCredentialTTL: a browser keeps its TURN credentials for the life of
// a connection's ICE restarts and refreshes its allocation with them. The
// TURN server also refuses them as soon as their session is no longer
// ready, so they never outlive it, whatever their expiry says.
const turnCredentialTTL = time.Hour

// startTURN runs the embedded STUN/TURN server when configured, with the
// shared secret of the data directory's turn-secret file (so every api
// process sharing it hands out credentials the one TURN server accepts),
// and returns the api's ICE function, what closes the relays of an ended
// session, and a closer.
func startTURN(ctx context.Context, cfg Config, st airlock.Store, certDir string, log *slog.Logger) (ice api.ICE, endSession func(string), closeTURN func(), err error) {
	if cfg.TURNListen == "" {
		return nil, func(string) {}, func() {}, nil
	}
	tc, err := turnConfig(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	secret, err := readTURNSecret(cfg.DataDir)
	if err != nil {
		return nil, nil, nil, err
	}
	tc.Secret = secret
	tc.Session = sessionInfo(st)
	tc.Logger = log.With("component", "turn")
	host, portStr, err := net.SplitHostPort(cfg.TURNListen)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--turn-listen %q: %w", cfg.TURNListen, err)
	}
	udp, err := listenTURNUDP(host, portStr, tc.PublicIP)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("turn udp listener: %w", err)
	}
	tcp, err := net.Listen("tcp4", net.JoinHostPort(host, portStr))
	if err != nil {
		udp.Close()
		return nil, nil, nil, fmt.Errorf("turn tcp listener: %w", err)
	}
	tlsLn, tlsPort, err := turnTLSListener(cfg.TURNTLSListen, certDir)
	if err != nil {
		udp.Close()
		tcp.Close()
		return nil, nil, nil, err
	}
	srv, err := turn.NewServer(tc, udp, tcp, tlsLn)
	if err != nil {
		udp.Close()
		tcp.Close()
		if tlsLn != nil {
			tlsLn.Close()
		}
		return nil, nil, nil, err
	}
	port, _ := strconv.Atoi(portStr)
	ip := tc.PublicIP.String()
	log.Info("turn listening", "addr", cfg.TURNListen, "tls_addr", cfg.TURNTLSListen, "public_ip", ip,
		"relay_ports", fmt.Sprintf("%d-%d", tc.RelayPortMin, tc.RelayPortMax),
		"relay_ports_count", int(tc.RelayPortMax)-int(tc.RelayPortMin)+1,
		"peer_networks", tc.PeerNetworks, "max_per_user", tc.MaxPerUser, "max_per_session", tc.MaxPerSession)
	ice = func(session, subject, role string, now time.Time) []turn.ICEServer {
		if role != signal.RoleViewer {
			// The agent needs no relay of its own: viewers' relays reach its
			// container directly, and an agent allocation could reach no
			// peer the rule allows (viewers are not in the session
			// networks) while taking a relay port per connection.
			return []turn.ICEServer{turn.STUNServer(ip, port)}
		}
		return turn.ICEServersTLS(ip, port, "", tlsPort, secret, session, subject, turnCredentialTTL, now)
	}
	return ice, func(id string) { srv.EndSession(id) }, func() { srv.Close() }, nil
}

// listenTURNUDP opens TURN's UDP socket. On a wildcard address it binds
// the advertised address instead when that is one of this host's: a
// wildcard UDP socket answers from whichever address the route back
// prefers, and a host with more than one (Docker's bridges, a VPN) would
// then answer a viewer arriving at the advertised address from another,
// which the viewer's NAT drops as a stranger's packet. TCP needs none of
// this: a connection answers from the address it was made to. When the
// advertised address is not this host's (behind a 1:1 NAT), wildcard.
func listenTURNUDP(host, port string, public net.IP) (net.PacketConn, error) {
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		c, err := net.ListenPacket("udp4", net.JoinHostPort(public.String(), port))
		if err == nil || !errors.Is(err, syscall.EADDRNOTAVAIL) {
			return c, err
		}
	}
	return net.ListenPacket("udp4", net.JoinHostPort(host, port))
}

// turnTLSListener is the TLS listener of turns: on addr, with the server's
// certificate (renewed in place: read at each handshake), and its port;
// nil and 0 when addr is empty.
func turnTLSListener(addr, certDir string) (net.Listener, int, error) {
	if addr == "" {
		return nil, 0, nil
	}
	tlsCfg, err := pki.PublicServerTLSConfig(certDir, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("turn tls: %w", err)
	}
	// A TURN client shows no client certificate and speaks no ALPN protocol.
	tlsCfg.ClientAuth, tlsCfg.ClientCAs, tlsCfg.NextProtos, tlsCfg.VerifyConnection = tls.NoClientCert, nil, nil, nil
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return nil, 0, fmt.Errorf("turn tls listener (--turn-tls-listen %s): %w", addr, err)
	}
	return tls.NewListener(ln, tlsCfg), ln.Addr().(*net.TCPAddr).Port, nil
}

// turnConfig checks the TURN flags and turns them into the server's
// configuration (without the secret and callbacks).
func turnConfig(cfg Config) (turn.Config, error) {
	var tc turn.Config
	if tc.PublicIP = net.ParseIP(cfg.TURNPublicIP).To4(); tc.PublicIP == nil {
		return tc, fmt.Errorf("--turn-public-ip %q must be the IPv4 address browsers reach this host by", cfg.TURNPublicIP)
	}
	nets, err := ParsePeerNetworks(cfg.TURNPeerNetworks)
	if err != nil {
		return tc, err
	}
	if len(nets) == 0 {
		return tc, fmt.Errorf("--turn-listen needs --turn-peer-networks: the networks the session containers are on " +
			"(e.g. 172.17.0.0/16 for Docker's default bridge: docker network inspect bridge); TURN relays nowhere else")
	}
	tc.PeerNetworks = nets
	// A relay must send to its peer from the address it advertised, or
	// the peer answers the browser's checks with another mapped address
	// and the browser takes its relay for a peer-reflexive candidate.
	// With relay sockets on 0.0.0.0 the kernel picks the source per route:
	// towards a session network that is its own gateway, not the public
	// address. So when the public address is this host's, relays bind to
	// it; behind 1:1 NAT (not local) they stay on 0.0.0.0.
	if isLocalAddr(tc.PublicIP) {
		tc.RelayBindIP = tc.PublicIP
	}
	if cfg.TURNRelayPorts != "" {
		if tc.RelayPortMin, tc.RelayPortMax, err = turn.RelayPorts(cfg.TURNRelayPorts); err != nil {
			return tc, fmt.Errorf("--turn-relay-ports: %w", err)
		}
	}
	if cfg.TURNMaxPerUser < 0 || cfg.TURNMaxPerSession < 0 {
		return tc, fmt.Errorf("--turn-max-per-user %d and --turn-max-per-session %d must be positive (0: the default)",
			cfg.TURNMaxPerUser, cfg.TURNMaxPerSession)
	}
	tc.MaxPerUser, tc.MaxPerSession = cfg.TURNMaxPerUser, cfg.TURNMaxPerSession
	return tc, nil
}

// ParsePeerNetworks parses a comma-separated CIDR list. Networks that
// would open the TURN host itself or its link are refused here, with the
// reason, rather than silently ignored by the server.
func ParsePeerNetworks(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("--turn-peer-networks: %q is not a CIDR such as 172.17.0.0/16: %w", f, err)
		}
		a := p.Masked().Addr()
		switch {
		case p.Bits() == 0:
			return nil, fmt.Errorf("--turn-peer-networks: %s would let TURN relay anywhere; list the session networks", p)
		case a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified():
			return nil, fmt.Errorf("--turn-peer-networks: %s is loopback, link-local, multicast or unspecified, never a session network", p)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// sessionInfo answers the TURN server's questions from the store: a
// session is live while ready, and its container's address, once the
// launcher learnt it, is the only peer its viewers may relay to.
func sessionInfo(st airlock.Store) func(ctx context.Context, id string) (turn.SessionInfo, error) {
	return func(ctx context.Context, id string) (turn.SessionInfo, error) {
		s, err := st.SessionByID(ctx, id)
		if airlock.ErrorCode(err) == airlock.ENOTFOUND {
			return turn.SessionInfo{}, nil
		}
		if err != nil {
			return turn.SessionInfo{}, err
		}
		return turn.SessionInfo{Live: s.State == airlock.SessionReady, Peers: s.ContainerAddrs}, nil
	}
}

// isLocalAddr reports whether ip is an address of one of this host's
// interfaces.
func isLocalAddr(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}
