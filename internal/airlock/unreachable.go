package airlock

import (
	"net/netip"
	"slices"
)

// neverReachable are the destinations no session reaches and no
// configuration or egress rule can open: this host's "this network",
// loopback and link-local services, the cloud metadata endpoints
// (169.254.169.254 lies in 169.254/16; AWS's IPv6 one is fd00:ec2::254,
// Azure's wire server 168.63.129.16, Alibaba's 100.100.100.200),
// multicast, the reserved 240/4 (with broadcast) and the unspecified
// addresses. The node's host rules, its egress proxy and resolver, and
// TURN's peer rule all refuse them.
var neverReachable = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("168.63.129.16/32"),
	netip.MustParsePrefix("100.100.100.200/32"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
	netip.MustParsePrefix("ff00::/8"),
}

// NeverReachable returns the destinations no session may reach (a copy).
func NeverReachable() []netip.Prefix { return slices.Clone(neverReachable) }
