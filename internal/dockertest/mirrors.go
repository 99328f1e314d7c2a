package dockertest

import (
	"context"
	"net"
	"net/netip"
	"slices"
)

// mirrors are the services this machine reaches by name: its module proxy
// and package mirrors, which may sit at any address, documentation ranges
// such as TEST-NET-3 included.
var mirrors = []string{"proxy.golang.org", "sum.golang.org", "deb.debian.org", "security.debian.org", "registry.npmjs.org"}

// MirrorAt returns the name of a service this machine reaches at addr,
// if any: a test or benchmark must not route such an address elsewhere.
func MirrorAt(ctx context.Context, addr netip.Addr) (string, bool) {
	for _, name := range mirrors {
		addrs, _ := net.DefaultResolver.LookupNetIP(ctx, "ip", name)
		if slices.Contains(addrs, addr) {
			return name, true
		}
	}
	return "", false
}
