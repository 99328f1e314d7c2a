package egress

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// Session is a hardened session as the egress proxy and resolver see it.
// A nil Policy means the session's policy did not compile: everything it
// asks for is refused (invalid_policy).
type Session struct {
	ID     string
	Policy *Policy
}

// Sessions finds the session a connection or query comes from by its
// source address.
type Sessions interface {
	Lookup(ctx context.Context, src netip.Addr) (Session, bool)
}

// Resolver is the upstream lookup (net.Resolver satisfies it).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configure a Proxy and a DNS.
type Options struct {
	Sessions   Sessions
	Resolver   Resolver              // nil: net.DefaultResolver
	Logger     *slog.Logger          // nil: slog.Default()
	Registerer prometheus.Registerer // nil: no metrics
	// Dial connects to the address the policy checked; nil: a net.Dialer
	// with a timeout. Tests map addresses with it.
	Dial func(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, error)
	// OnRefused is given each refusal, besides the log, for the node to
	// report to the audit log; it must not block (the node's reporter
	// queues or drops). Optional.
	OnRefused func(airlock.NodeEvent)
	// MaxConnsPerSession bounds the upstream connections (tunnels and
	// plain-HTTP requests in flight) one session holds at once; 0:
	// DefaultMaxConnsPerSession.
	MaxConnsPerSession int
}

// Defaults and bounds.
const (
	// DefaultMaxConnsPerSession is well above what a browser opens (Chromium
	// keeps at most 6 connections per host and 256 in all per profile).
	DefaultMaxConnsPerSession = 256
	dialTimeout               = 10 * time.Second
	resolveTimeout            = 5 * time.Second
	headerTimeout             = 10 * time.Second
	// maxNameLen is the longest DNS name, in presentation form without the
	// trailing dot (RFC 1035 2.3.4).
	maxNameLen = 253
)

func (o Options) withDefaults() (Options, error) {
	if o.Sessions == nil {
		return o, errors.New("egress: Options.Sessions is required: without it no connection can be attributed to a session")
	}
	if o.MaxConnsPerSession < 0 {
		return o, errors.New("egress: Options.MaxConnsPerSession is negative")
	}
	if o.MaxConnsPerSession == 0 {
		o.MaxConnsPerSession = DefaultMaxConnsPerSession
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.OnRefused == nil {
		o.OnRefused = func(airlock.NodeEvent) {}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Dial == nil {
		d := &net.Dialer{Timeout: dialTimeout}
		o.Dial = func(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, error) {
			return d.DialContext(ctx, network, addr.String())
		}
	}
	return o, nil
}

// lookup finds the session src belongs to, or the refusal to answer.
func lookup(ctx context.Context, s Sessions, src netip.Addr) (Session, *Refusal) {
	sess, ok := s.Lookup(ctx, src.Unmap())
	if !ok {
		return sess, refuse(ReasonUnknownSession, "%s is not the address of a hardened session", src.Unmap())
	}
	if sess.Policy == nil {
		return sess, refuse(ReasonInvalidPolicy, "the egress policy of session %s did not compile; everything is refused until it is fixed", sess.ID)
	}
	return sess, nil
}

// addrOf is the IP address of a net.Addr from a listener.
func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// addrString is a source address for a report; empty when unknown.
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
