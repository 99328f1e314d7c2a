package turn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// Defaults applied by NewServer to zero Config fields.
const (
	DefaultRealm        = "airlock"
	DefaultRelayPortMin = 49160
	DefaultRelayPortMax = 49200
	// DefaultMaxPerUser and DefaultMaxPerSession bound allocations: a
	// viewer's browser makes one or two per connection (UDP and TCP), so
	// four per session leaves room for a reconnect while the old
	// allocations time out.
	DefaultMaxPerUser    = 10
	DefaultMaxPerSession = 4
	// DefaultSweepEvery is how often the allocations of ended sessions are
	// looked for and closed.
	DefaultSweepEvery = 5 * time.Second
	// MinSecretLen is the shortest shared secret accepted: 256 bits, so the
	// HMAC key is not the weak point.
	MinSecretLen = 32
)

// Configuration errors.
var (
	ErrNoListener   = errors.New("turn: need a UDP or a TCP listener")
	ErrShortSecret  = fmt.Errorf("turn: secret shorter than %d bytes", MinSecretLen)
	ErrNoPublicIP   = errors.New("turn: PublicIP must be an IPv4 address")
	ErrBadPortRange = errors.New("turn: RelayPortMin must not exceed RelayPortMax")
	ErrBadRelayBind = errors.New("turn: RelayBindIP must be an IPv4 address")
	ErrNoSession    = errors.New("turn: Session is required: the server must know which sessions are live")
	ErrBadQuota     = errors.New("turn: allocation quotas must be positive")
	ErrBadNetwork   = errors.New("turn: peer network is not a valid prefix")
)

// SessionInfo is what the server needs to know of a session.
type SessionInfo struct {
	// Live is false once the session has ended (or never existed): its
	// credentials are refused and its allocations closed.
	Live bool
	// Peers are the addresses of the session's own container, the only
	// peers its viewers may relay to; nil when not known, in which case
	// any address of the session networks will do.
	Peers []netip.Addr
}

// Config configures a Server. Zero values of optional fields take the
// defaults stated next to them.
type Config struct {
	// Realm is the STUN realm sent to clients. Default "airlock".
	Realm string
	// Secret is the TURN REST shared secret (coturn's static-auth-secret),
	// at least MinSecretLen bytes. Required.
	Secret []byte
	// PublicIP is the relay address advertised in allocations: the address
	// browsers can reach the TURN host on. Required; IPv4 only, because
	// pion allocates udp4 relays.
	PublicIP net.IP
	// RelayBindIP is where relay sockets bind. Default 0.0.0.0, which also
	// works behind 1:1 NAT where PublicIP is not a local address.
	RelayBindIP net.IP
	// RelayPortMin and RelayPortMax bound the relay ports (inclusive).
	// Default 49160-49200.
	//
	// TURN allocates one relay socket per allocation, on the TURN host, so
	// this range must be reachable from browsers as well as the listening
	// port (3478): a browser sends media to its relayed address, which is
	// PublicIP:port in this range. What Airlock saves is on the other side:
	// the session containers need no published ports at all, because their
	// candidates are only ever reached through the relay. Each allocation
	// uses one port, so the range caps concurrent relayed browser sessions.
	RelayPortMin, RelayPortMax uint16
	// PeerNetworks are the session networks of this deployment: the only
	// places a client may relay to (checked on CreatePermission and
	// ChannelBind). Empty refuses every peer. Loopback, link-local and
	// metadata addresses, the TURN host's own addresses and each network's
	// gateway, network and broadcast addresses stay refused inside them.
	PeerNetworks []netip.Prefix
	// Session tells whether a session is live and which addresses its
	// container has. Required. It is asked only for requests that passed
	// authentication, and every SweepEvery for each session holding
	// allocations; an error refuses the request at hand.
	Session func(ctx context.Context, id string) (SessionInfo, error)
	// MaxPerUser and MaxPerSession bound the allocations a user, and a
	// session, hold at once; the next Allocate is refused with 486.
	// Defaults DefaultMaxPerUser and DefaultMaxPerSession.
	MaxPerUser, MaxPerSession int
	// SweepEvery is how often allocations of ended sessions are closed.
	// Default DefaultSweepEvery.
	SweepEvery time.Duration
	// Logger receives pion's logs and every refusal with its reason.
	// Default discards.
	Logger *slog.Logger
	// Now is the clock used to check credential expiry. Default time.Now.
	Now func() time.Time

	// alwaysDeny and hostAddrs default to alwaysDenied and the host's
	// interface addresses; tests that relay real packets to a loopback
	// peer replace them, since loopback is the only place they may send.
	alwaysDeny []netip.Prefix
	hostAddrs  func() ([]netip.Addr, error)
}

// withDefaults validates c and returns a copy with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if len(c.Secret) < MinSecretLen {
		return c, ErrShortSecret
	}
	if c.PublicIP.To4() == nil {
		return c, ErrNoPublicIP
	}
	if c.Session == nil {
		return c, ErrNoSession
	}
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	if c.RelayBindIP == nil {
		c.RelayBindIP = net.IPv4zero
	}
	if c.RelayBindIP.To4() == nil {
		return c, ErrBadRelayBind
	}
	if c.RelayPortMin == 0 && c.RelayPortMax == 0 {
		c.RelayPortMin, c.RelayPortMax = DefaultRelayPortMin, DefaultRelayPortMax
	}
	if c.RelayPortMin == 0 || c.RelayPortMax == 0 || c.RelayPortMin > c.RelayPortMax {
		return c, fmt.Errorf("%w: %d-%d", ErrBadPortRange, c.RelayPortMin, c.RelayPortMax)
	}
	if c.MaxPerUser == 0 {
		c.MaxPerUser = DefaultMaxPerUser
	}
	if c.MaxPerSession == 0 {
		c.MaxPerSession = DefaultMaxPerSession
	}
	if c.MaxPerUser < 0 || c.MaxPerSession < 0 {
		return c, fmt.Errorf("%w: %d per user, %d per session", ErrBadQuota, c.MaxPerUser, c.MaxPerSession)
	}
	for _, n := range c.PeerNetworks {
		if !n.IsValid() {
			return c, fmt.Errorf("%w: %v", ErrBadNetwork, n)
		}
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = DefaultSweepEvery
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.alwaysDeny == nil {
		c.alwaysDeny = alwaysDenied
	}
	if c.hostAddrs == nil {
		c.hostAddrs = localAddrs
	}
	// Own copies, so a caller mutating its slices cannot change a running
	// server's secret, addresses or networks.
	c.Secret = append([]byte(nil), c.Secret...)
	c.PublicIP = append(net.IP(nil), c.PublicIP.To4()...)
	c.RelayBindIP = append(net.IP(nil), c.RelayBindIP.To4()...)
	c.PeerNetworks = append([]netip.Prefix(nil), c.PeerNetworks...)
	return c, nil
}

// RelayPorts parses a relay port range "MIN-MAX" (inclusive), as the
// --turn-relay-ports flag takes it.
func RelayPorts(s string) (lo, hi uint16, err error) {
	var a, b int
	if n, err := fmt.Sscanf(s, "%d-%d", &a, &b); err != nil || n != 2 || fmt.Sprintf("%d-%d", a, b) != s {
		return 0, 0, fmt.Errorf("relay port range %q is not MIN-MAX, e.g. 49160-49200", s)
	}
	if a < 1024 || b > 65535 || a > b {
		return 0, 0, fmt.Errorf("relay port range %q must lie within 1024-65535 with MIN <= MAX", s)
	}
	return uint16(a), uint16(b), nil
}
