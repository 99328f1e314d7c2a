package turn

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Defaults applied by NewServer to zero Config fields.
const (
	DefaultRealm        = "airlock"
	DefaultRelayPortMin = 49160
	DefaultRelayPortMax = 49200
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
)

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
	// AllowPeer decides which peer addresses clients may relay to (checked
	// on CreatePermission and ChannelBind). Default DefaultAllowPeer.
	AllowPeer func(ip net.IP) bool
	// Logger receives pion's logs and authentication failures. Default
	// discards.
	Logger *slog.Logger
	// Now is the clock used to check credential expiry. Default time.Now.
	Now func() time.Time
}

// withDefaults validates c and returns a copy with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if len(c.Secret) < MinSecretLen {
		return c, ErrShortSecret
	}
	if c.PublicIP.To4() == nil {
		return c, ErrNoPublicIP
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
	if c.AllowPeer == nil {
		c.AllowPeer = DefaultAllowPeer
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	// Own copies, so a caller mutating its slices cannot change a running
	// server's secret or addresses.
	c.Secret = append([]byte(nil), c.Secret...)
	c.PublicIP = append(net.IP(nil), c.PublicIP.To4()...)
	c.RelayBindIP = append(net.IP(nil), c.RelayBindIP.To4()...)
	return c, nil
}
