package turn

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestPeerPolicy(t *testing.T) {
	p := newPeerPolicy(
		[]netip.Prefix{netip.MustParsePrefix("172.17.0.0/16"), netip.MustParsePrefix("10.88.0.0/24"),
			netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("fd12::/64")},
		alwaysDenied,
		[]netip.Addr{netip.MustParseAddr("172.17.42.1"), netip.MustParseAddr("10.88.0.77")},
	)
	own := []netip.Addr{netip.MustParseAddr("172.17.0.5")}
	tests := []struct {
		name   string
		peer   string
		own    []netip.Addr
		reason string // "" allowed
	}{
		{"ok/session network, container unknown", "172.17.0.2", nil, ""},
		{"ok/second network", "10.88.0.9", nil, ""},
		{"ok/ipv6 session network", "fd12::5", nil, ""},
		{"ok/the session's own container", "172.17.0.5", own, ""},
		{"ok/ipv4-mapped form of the container", "::ffff:172.17.0.5", own, ""},
		{"fail/another container of the network", "172.17.0.6", own, "not the session's container"},
		{"fail/10/8 outside the networks", "10.0.0.1", nil, "outside the session networks"},
		{"fail/192.168/16", "192.168.1.1", nil, "outside the session networks"},
		{"fail/100.64/10", "100.64.0.1", nil, "outside the session networks"},
		{"fail/public address", "203.0.113.7", nil, "outside the session networks"},
		{"fail/docker gateway", "172.17.0.1", nil, "gateway"},
		{"fail/network address", "172.17.0.0", nil, "gateway"},
		{"fail/broadcast", "172.17.255.255", nil, "gateway"},
		{"fail/host's own address inside a network", "172.17.42.1", nil, "own address"},
		{"fail/host's own address as the container", "10.88.0.77", []netip.Addr{netip.MustParseAddr("10.88.0.77")}, "own address"},
		{"fail/loopback even when listed", "127.0.0.1", nil, "never relayed to"},
		{"fail/loopback elsewhere in 127/8", "127.3.2.1", nil, "never relayed to"},
		{"fail/metadata", "169.254.169.254", nil, "never relayed to"},
		{"fail/azure wire server", "168.63.129.16", nil, "never relayed to"},
		{"fail/aws ipv6 metadata", "fd00:ec2::254", nil, "never relayed to"},
		{"fail/ipv6 loopback", "::1", nil, "never relayed to"},
		{"fail/ipv6 link-local", "fe80::1", nil, "never relayed to"},
		{"fail/unspecified", "0.0.0.0", nil, "never relayed to"},
		{"fail/multicast", "239.1.2.3", nil, "never relayed to"},
		{"fail/limited broadcast", "255.255.255.255", nil, "never relayed to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.check(net.ParseIP(tt.peer), tt.own)
			switch {
			case tt.reason == "" && err != nil:
				t.Fatalf("check(%s) = %v, want allowed", tt.peer, err)
			case tt.reason != "" && err == nil:
				t.Fatalf("check(%s) allowed, want refused (%s)", tt.peer, tt.reason)
			case tt.reason != "" && !strings.Contains(err.Error(), tt.reason):
				t.Fatalf("check(%s) = %v, want a reason saying %q", tt.peer, err, tt.reason)
			}
		})
	}
}

func TestPeerPolicyDeniesByDefault(t *testing.T) {
	p := newPeerPolicy(nil, alwaysDenied, nil)
	for _, peer := range []string{"172.17.0.2", "10.0.0.1", "203.0.113.7", "2001:db8::1"} {
		if err := p.check(net.ParseIP(peer), nil); err == nil {
			t.Errorf("check(%s) allowed with no session networks", peer)
		}
	}
	if err := p.check(nil, nil); err == nil {
		t.Error("check(nil) allowed")
	}
}

func TestRelayPorts(t *testing.T) {
	tests := []struct {
		in     string
		lo, hi uint16
		ok     bool
	}{
		{"49160-49200", 49160, 49200, true},
		{"50000-50000", 50000, 50000, true},
		{"49200-49160", 0, 0, false},
		{"80-90", 0, 0, false},
		{"49160-70000", 0, 0, false},
		{"49160", 0, 0, false},
		{"49160-49200x", 0, 0, false},
		{" 49160-49200", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		lo, hi, err := RelayPorts(tt.in)
		if (err == nil) != tt.ok || lo != tt.lo || hi != tt.hi {
			t.Errorf("RelayPorts(%q) = %d, %d, %v; want %d, %d, ok %v", tt.in, lo, hi, err, tt.lo, tt.hi, tt.ok)
		}
	}
}
