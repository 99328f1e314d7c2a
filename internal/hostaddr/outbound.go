package hostaddr

import (
	"fmt"
	"net"
	"net/netip"
)

// outboundProbe is a TEST-NET-2 address (RFC 5737): routed by the default
// route like any address of the internet, and never sent a packet, since a
// UDP "connection" only asks the kernel for a route.
const outboundProbe = "198.51.100.1:9"

// Outbound is this host's IPv4 source address on its default route: the
// address viewers elsewhere reach it by, unless it sits behind NAT.
func Outbound() (netip.Addr, error) {
	c, err := net.Dial("udp4", outboundProbe)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("this host's outbound address (no default route?): %w", err)
	}
	defer c.Close()
	a, ok := netip.AddrFromSlice(c.LocalAddr().(*net.UDPAddr).IP)
	if !ok || !a.Unmap().Is4() || a.IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("this host's outbound address: the kernel chose %v", c.LocalAddr())
	}
	return a.Unmap(), nil
}
