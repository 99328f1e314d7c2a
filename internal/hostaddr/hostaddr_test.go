package hostaddr

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/docker/docker/api/types/network"

	"github.com/airlock-rbi/airlock/internal/dockertest"
)

func TestFromNetwork(t *testing.T) {
	docker0 := map[string]string{bridgeNameOption: "docker0"}
	ifaces := func(m map[string][]string) InterfaceAddrs {
		return func(name string) ([]netip.Prefix, error) {
			list, ok := m[name]
			if !ok {
				return nil, errors.New("no such interface")
			}
			var out []netip.Prefix
			for _, s := range list {
				out = append(out, netip.MustParsePrefix(s))
			}
			return out, nil
		}
	}
	for _, tc := range []struct {
		name    string
		nw      network.Inspect
		ifaddrs InterfaceAddrs
		want    string
		err     string
	}{
		{
			// A freshly started dockerd: the subnet, no gateway.
			name:    "fresh daemon, interface present",
			nw:      network.Inspect{Name: "bridge", Options: docker0, IPAM: network.IPAM{Config: []network.IPAMConfig{{Subnet: "172.17.0.0/16"}}}},
			ifaddrs: ifaces(map[string][]string{"docker0": {"fe80::1/64", "172.17.0.1/16"}}),
			want:    "172.17.0.1",
		},
		{
			name:    "fresh daemon, no interface here",
			nw:      network.Inspect{Name: "bridge", Options: docker0, IPAM: network.IPAM{Config: []network.IPAMConfig{{Subnet: "172.17.0.0/16"}}}},
			ifaddrs: ifaces(nil),
			want:    "172.17.0.1",
		},
		{
			name: "interface address beats the listed gateway",
			nw: network.Inspect{Name: "bridge", Options: docker0, IPAM: network.IPAM{Config: []network.IPAMConfig{
				{Subnet: "10.9.0.0/24", Gateway: "10.9.0.1"}}}},
			ifaddrs: ifaces(map[string][]string{"docker0": {"10.9.0.254/24"}}),
			want:    "10.9.0.254",
		},
		{
			name: "an interface address outside the subnets is not this network's",
			nw: network.Inspect{Name: "bridge", Options: docker0, IPAM: network.IPAM{Config: []network.IPAMConfig{
				{Subnet: "10.9.0.0/24", Gateway: "10.9.0.7"}}}},
			ifaddrs: ifaces(map[string][]string{"docker0": {"192.0.2.1/24"}}),
			want:    "10.9.0.7",
		},
		{
			name: "IPv6 subnet first, then IPv4",
			nw: network.Inspect{Name: "n", IPAM: network.IPAM{Config: []network.IPAMConfig{
				{Subnet: "fd00:1::/64", Gateway: "fd00:1::1"}, {Subnet: "172.30.4.0/22"}}}},
			want: "172.30.4.1",
		},
		{
			name: "unmasked subnet",
			nw:   network.Inspect{Name: "n", IPAM: network.IPAM{Config: []network.IPAMConfig{{Subnet: "172.18.5.9/16"}}}},
			want: "172.18.0.1",
		},
		{
			name: "no IPv4 subnet",
			nw:   network.Inspect{Name: "v6only", IPAM: network.IPAM{Config: []network.IPAMConfig{{Subnet: "fd00:1::/64"}}}},
			err:  "network v6only has no IPv4 subnet",
		},
		{
			name: "a /32 has no host",
			nw:   network.Inspect{Name: "tiny", IPAM: network.IPAM{Config: []network.IPAMConfig{{Subnet: "172.18.0.255/32"}}}},
			err:  "network tiny: subnet 172.18.0.255/32 has no host address",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromNetwork(tc.nw, tc.ifaddrs)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("got %v, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8443": true, "[::1]:8443": true, "localhost:1": true, "127.3.4.5:0": true,
		":8443": false, "0.0.0.0:8443": false, "[::]:8443": false, "172.17.0.1:8443": false, "example.org:8443": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestBridgeOnThisHost asks the real daemon: the address found must be one
// this host answers on.
func TestBridgeOnThisHost(t *testing.T) {
	cli := dockertest.Client(t)
	got, err := Bridge(context.Background(), cli, "bridge")
	if err != nil {
		t.Fatal(err)
	}
	nw, err := cli.NetworkInspect(context.Background(), "bridge", network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := LocalInterfaceAddrs(nw.Options[bridgeNameOption])
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if a.Addr() == got {
			return
		}
	}
	t.Fatalf("Bridge = %s, not an address of %s (%v); the daemon lists %+v", got, nw.Options[bridgeNameOption], addrs, nw.IPAM.Config)
}
