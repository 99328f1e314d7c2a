package netpolicy

import (
	"errors"
	"fmt"
	"net/netip"
)

// DefaultPool is the range session subnets are taken from when the
// operator names none. It is outside Docker's default address pools
// (172.17-31/16, 192.168/16), so the two never compete.
var DefaultPool = netip.MustParsePrefix("10.213.0.0/16")

// DefaultSubnetBits is the size of one session's subnet: a /28 holds the
// bridge's own address and the session's container with room to spare,
// and a /16 pool holds 4096 of them.
const DefaultSubnetBits = 28

// Pool hands out session subnets.
type Pool struct {
	prefix netip.Prefix
	bits   int
}

// NewPool returns a pool of /bits subnets of prefix (IPv4 only: session
// networks have no IPv6).
func NewPool(prefix netip.Prefix, bits int) (*Pool, error) {
	prefix = prefix.Masked()
	switch {
	case !prefix.IsValid() || !prefix.Addr().Is4():
		return nil, fmt.Errorf("session address pool %s: give an IPv4 prefix such as %s", prefix, DefaultPool)
	case bits < prefix.Bits() || bits > 29:
		return nil, fmt.Errorf("session subnets of /%d do not fit pool %s: give a size from /%d to /29", bits, prefix, prefix.Bits())
	case bits-prefix.Bits() > 20:
		return nil, fmt.Errorf("session address pool %s in /%d subnets has over a million of them: use a smaller pool or larger subnets", prefix, bits)
	}
	return &Pool{prefix: prefix, bits: bits}, nil
}

// Prefix is the whole pool.
func (p *Pool) Prefix() netip.Prefix { return p.prefix }

// Size is how many subnets the pool holds.
func (p *Pool) Size() int { return 1 << (p.bits - p.prefix.Bits()) }

// ErrExhausted says every subnet of the pool is taken.
var ErrExhausted = errors.New("session address pool exhausted")

// Free returns the first subnet of the pool that overlaps none of used.
func (p *Pool) Free(used []netip.Prefix) (netip.Prefix, error) {
	var inPool []netip.Prefix
	for _, u := range used {
		if u.Overlaps(p.prefix) {
			inPool = append(inPool, u)
		}
	}
	step := uint32(1) << (32 - p.bits)
	base := p.prefix.Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
next:
	for i := 0; i < p.Size(); i++ {
		v := start + uint32(i)*step
		cand := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), p.bits)
		for _, u := range inPool {
			if u.Overlaps(cand) {
				continue next
			}
		}
		return cand, nil
	}
	return netip.Prefix{}, fmt.Errorf("%w: all %d subnets of %s are in use", ErrExhausted, p.Size(), p.prefix)
}

// Gateway is the host's address on a session subnet: its first host.
func Gateway(subnet netip.Prefix) netip.Addr { return subnet.Masked().Addr().Next() }
