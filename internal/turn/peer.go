package turn

import "net"

// DefaultAllowPeer is the peer filter used when Config.AllowPeer is nil.
//
// It refuses addresses that only make sense on the TURN host itself or on
// its link: loopback (the host's own services), link-local (cloud metadata
// at 169.254.169.254, IPv6 fe80::/10), unspecified, multicast and the IPv4
// limited broadcast. Private ranges stay allowed on purpose: session
// containers sit on private Docker networks and their host candidates are
// exactly the peers browsers relay to. Operators who run other services on
// those networks should pass a tighter AllowPeer.
func DefaultAllowPeer(ip net.IP) bool {
	if ip == nil || len(ip) != net.IPv4len && len(ip) != net.IPv6len {
		return false // unknown means no
	}
	switch {
	case ip.IsLoopback(),
		ip.IsLinkLocalUnicast(),
		ip.IsLinkLocalMulticast(),
		ip.IsInterfaceLocalMulticast(),
		ip.IsMulticast(),
		ip.IsUnspecified(),
		ip.Equal(net.IPv4bcast):
		return false
	}
	return true
}
