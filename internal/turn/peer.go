package turn

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// alwaysDenied are peers no configuration can open (airlock.NeverReachable).
var alwaysDenied = airlock.NeverReachable()

// peerPolicy decides which peers a client may relay to. It denies by
// default: a peer must lie in one of the deployment's session networks,
// must be the session's own container when that is known, and is never
// one of the denied addresses, whatever the networks say.
type peerPolicy struct {
	networks []netip.Prefix
	deny     []netip.Prefix
	// denyAddrs are single addresses refused inside the networks: the
	// TURN host's own addresses and each network's gateway (its first
	// host, where Docker puts the bridge's address), network and
	// broadcast addresses.
	denyAddrs map[netip.Addr]struct{}
}

// newPeerPolicy builds the policy for the session networks, refusing
// always as well as the host's own addresses hostAddrs.
func newPeerPolicy(networks []netip.Prefix, always []netip.Prefix, hostAddrs []netip.Addr) *peerPolicy {
	p := &peerPolicy{deny: always, denyAddrs: map[netip.Addr]struct{}{}}
	for _, a := range hostAddrs {
		p.denyAddrs[a.Unmap()] = struct{}{}
	}
	for _, n := range networks {
		n = n.Masked()
		p.networks = append(p.networks, n)
		if n.Addr().Is4() && n.Bits() <= 30 {
			first := n.Addr()
			p.denyAddrs[first] = struct{}{}
			p.denyAddrs[first.Next()] = struct{}{}
			p.denyAddrs[lastAddr(n)] = struct{}{}
		}
	}
	return p
}

// lastAddr is an IPv4 prefix's broadcast address.
func lastAddr(n netip.Prefix) netip.Addr {
	b := n.Addr().As4()
	host := uint32(1)<<(32-n.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// check says why peer is refused for a session whose own addresses are
// own (nil: not known, any address of the session networks will do), or
// nil when it is allowed.
func (p *peerPolicy) check(peer net.IP, own []netip.Addr) error {
	a, ok := netip.AddrFromSlice(peer)
	if !ok {
		return fmt.Errorf("peer %v is not an IP address", peer)
	}
	a = a.Unmap()
	for _, d := range p.deny {
		if d.Contains(a) {
			return fmt.Errorf("peer %s is in %s, never relayed to", a, d)
		}
	}
	if _, ok := p.denyAddrs[a]; ok {
		return fmt.Errorf("peer %s is the TURN host's own address or a session network's gateway", a)
	}
	in := false
	for _, n := range p.networks {
		if n.Contains(a) {
			in = true
			break
		}
	}
	if !in {
		return fmt.Errorf("peer %s is outside the session networks %v", a, p.networks)
	}
	if own == nil {
		return nil
	}
	for _, o := range own {
		if o.Unmap() == a {
			return nil
		}
	}
	return fmt.Errorf("peer %s is not the session's container (%v)", a, own)
}

// localAddrs lists the addresses of this host's interfaces, which a
// relay must never reach: its own services listen there.
func localAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list interface addresses: %w", err)
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}
