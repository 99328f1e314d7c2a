// Package hostaddr finds the address at which containers on a Docker
// bridge network reach the Docker host: where a server on that host must
// listen for its session containers, and where a test serves pages to
// them.
//
// `docker network inspect` is no help on its own: a freshly started
// dockerd (Debian's 20.10 after its network state was deleted) lists the
// default bridge's subnet but no gateway. The bridge interface's own
// address always is the answer, and dockerd gives that interface the
// subnet's first host when it picks the address itself.
package hostaddr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/docker/docker/api/types/network"
)

// bridgeNameOption is the driver option naming a bridge network's Linux
// interface (docker0 for the default bridge).
const bridgeNameOption = "com.docker.network.bridge.name"

// Inspector is what Bridge needs of a Docker client.
type Inspector interface {
	NetworkInspect(ctx context.Context, id string, opts network.InspectOptions) (network.Inspect, error)
}

// InterfaceAddrs lists the addresses of a local network interface by
// name; net.InterfaceByName's in production.
type InterfaceAddrs func(name string) ([]netip.Prefix, error)

// Bridge returns the host's IPv4 address on the Docker bridge network
// name ("bridge" is Docker's default), as containers on it reach the
// host. It is meant for a daemon on this host: the bridge interface's
// address when this host has that interface, else the gateway dockerd
// lists, else the subnet's first host.
func Bridge(ctx context.Context, docker Inspector, name string) (netip.Addr, error) {
	nw, err := docker.NetworkInspect(ctx, name, network.InspectOptions{})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("inspect Docker network %s: %w", name, err)
	}
	return FromNetwork(nw, LocalInterfaceAddrs)
}

// FromNetwork is Bridge on an inspected network, with the interface
// lookup passed in.
func FromNetwork(nw network.Inspect, ifaddrs InterfaceAddrs) (netip.Addr, error) {
	var subnets []netip.Prefix
	for _, c := range nw.IPAM.Config {
		if p, err := netip.ParsePrefix(c.Subnet); err == nil && p.Addr().Is4() {
			subnets = append(subnets, p.Masked())
		}
	}
	if len(subnets) == 0 {
		return netip.Addr{}, fmt.Errorf("network %s has no IPv4 subnet", nw.Name)
	}
	// The interface's address is what the host really answers on; it must
	// lie in one of the network's subnets to be this network's.
	if dev := nw.Options[bridgeNameOption]; dev != "" && ifaddrs != nil {
		if addrs, err := ifaddrs(dev); err == nil {
			for _, a := range addrs {
				for _, s := range subnets {
					if a.Addr().Is4() && s.Contains(a.Addr()) {
						return a.Addr(), nil
					}
				}
			}
		}
	}
	for _, c := range nw.IPAM.Config {
		if a, err := netip.ParseAddr(c.Gateway); err == nil && a.Is4() {
			return a, nil
		}
	}
	first := subnets[0].Addr().Next()
	if !subnets[0].Contains(first) {
		return netip.Addr{}, fmt.Errorf("network %s: subnet %s has no host address", nw.Name, subnets[0])
	}
	return first, nil
}

// LocalInterfaceAddrs lists the addresses of this host's interface name.
func LocalInterfaceAddrs(name string) ([]netip.Prefix, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil, fmt.Errorf("addresses of %s: %w", name, err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		addr, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ones, _ := n.Mask.Size()
		out = append(out, netip.PrefixFrom(addr.Unmap(), ones))
	}
	if len(out) == 0 {
		return nil, errors.New("interface " + name + " has no address")
	}
	return out, nil
}

// IsLoopback reports whether a listen address (host:port) only accepts
// connections from this host's loopback: containers cannot reach it.
// An empty host, 0.0.0.0 and :: listen everywhere and are not loopback;
// so is a name, which is judged by what it resolves to by the caller.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = listen
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
