package egress

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

func allowDomain(d string, ports ...uint16) airlock.EgressRule {
	return airlock.EgressRule{Action: airlock.EgressAllow, Domain: d, Ports: ports}
}
func denyDomain(d string, ports ...uint16) airlock.EgressRule {
	return airlock.EgressRule{Action: airlock.EgressDeny, Domain: d, Ports: ports}
}
func allowCIDR(c string, ports ...uint16) airlock.EgressRule {
	return airlock.EgressRule{Action: airlock.EgressAllow, CIDR: c, Ports: ports}
}
func denyCIDR(c string, ports ...uint16) airlock.EgressRule {
	return airlock.EgressRule{Action: airlock.EgressDeny, CIDR: c, Ports: ports}
}

func mustCompile(t *testing.T, extra []netip.Prefix, rules ...airlock.EgressRule) *Policy {
	t.Helper()
	p, err := Compile(airlock.EgressPolicy{Rules: rules}, extra)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

// public is an address outside every special range (TEST-NET addresses
// are themselves special), used only as a value to decide on.
const public = "93.184.215.14"

func TestPolicyCheck(t *testing.T) {
	pool := []netip.Prefix{netip.MustParsePrefix("100.80.0.0/16")}
	for _, tc := range []struct {
		name   string
		rules  []airlock.EgressRule
		extra  []netip.Prefix
		host   string
		addr   string
		port   uint16
		reason string // "" allowed
		msg    string
	}{
		// Name check.
		{name: "no rules, public", host: "example.com", addr: public, port: 443},
		{name: "no domain rule matches: allowed", rules: []airlock.EgressRule{denyDomain("other.com")}, host: "example.com", addr: public, port: 443},
		{name: "exact deny", rules: []airlock.EgressRule{denyDomain("example.com")}, host: "example.com", addr: public, port: 443, reason: ReasonDomainRule, msg: "example.com:443 is denied by egress rule 0"},
		{name: "name is case-insensitive, trailing dot", rules: []airlock.EgressRule{denyDomain("example.com")}, host: "EXAMPLE.com.", addr: public, port: 443, reason: ReasonDomainRule},
		{name: "first match decides: allow before deny", rules: []airlock.EgressRule{allowDomain("example.com"), denyDomain("*")}, host: "example.com", addr: public, port: 443},
		{name: "first match decides: deny before allow", rules: []airlock.EgressRule{denyDomain("example.com"), allowDomain("example.com")}, host: "example.com", addr: public, port: 443, reason: ReasonDomainRule},
		{name: "allow list refuses the rest", rules: []airlock.EgressRule{allowDomain("example.com"), denyDomain("*")}, host: "evil.com", addr: public, port: 443, reason: ReasonDomainRule, msg: "rule 1"},
		{name: "wildcard matches a subdomain", rules: []airlock.EgressRule{denyDomain("*.example.com")}, host: "a.example.com", addr: public, port: 443, reason: ReasonDomainRule},
		{name: "wildcard matches a deeper subdomain", rules: []airlock.EgressRule{denyDomain("*.example.com")}, host: "a.b.example.com", addr: public, port: 443, reason: ReasonDomainRule},
		{name: "wildcard does not match the apex", rules: []airlock.EgressRule{denyDomain("*.example.com")}, host: "example.com", addr: public, port: 443},
		{name: "wildcard does not match a longer label", rules: []airlock.EgressRule{denyDomain("*.example.com")}, host: "badexample.com", addr: public, port: 443},
		{name: "domain rule port matches", rules: []airlock.EgressRule{denyDomain("example.com", 80)}, host: "example.com", addr: public, port: 80, reason: ReasonDomainRule},
		{name: "domain rule port does not match", rules: []airlock.EgressRule{denyDomain("example.com", 80)}, host: "example.com", addr: public, port: 443},
		{name: "star matches an IP literal", rules: []airlock.EgressRule{denyDomain("*")}, host: public, addr: public, port: 443, reason: ReasonDomainRule},
		{name: "a named rule does not match an IP literal", rules: []airlock.EgressRule{allowDomain("example.com"), denyDomain("93.184.215.14.example.com")}, host: public, addr: public, port: 443},
		// Address check: always denied.
		{name: "loopback", host: "localhost", addr: "127.0.0.1", port: 80, reason: ReasonAlwaysDenied, msg: "127.0.0.1:80 is in 127.0.0.0/8"},
		{name: "metadata even if allowed", rules: []airlock.EgressRule{allowCIDR("0.0.0.0/0")}, host: "m", addr: "169.254.169.254", port: 80, reason: ReasonAlwaysDenied},
		{name: "link-local even if allowed", rules: []airlock.EgressRule{allowCIDR("169.254.0.0/16")}, host: "m", addr: "169.254.77.77", port: 80, reason: ReasonAlwaysDenied},
		{name: "azure wire server", rules: []airlock.EgressRule{allowCIDR("168.63.129.16")}, host: "m", addr: "168.63.129.16", port: 80, reason: ReasonAlwaysDenied},
		{name: "alibaba metadata", rules: []airlock.EgressRule{allowCIDR("100.64.0.0/10")}, host: "m", addr: "100.100.100.200", port: 80, reason: ReasonAlwaysDenied},
		{name: "aws v6 metadata", rules: []airlock.EgressRule{allowCIDR("fd00::/8")}, host: "m", addr: "fd00:ec2::254", port: 80, reason: ReasonAlwaysDenied},
		{name: "v6 link-local", rules: []airlock.EgressRule{allowCIDR("fe80::/10")}, host: "m", addr: "fe80::1", port: 80, reason: ReasonAlwaysDenied},
		{name: "v6 loopback", rules: []airlock.EgressRule{allowCIDR("::1")}, host: "m", addr: "::1", port: 80, reason: ReasonAlwaysDenied},
		{name: "unspecified", rules: []airlock.EgressRule{allowCIDR("0.0.0.0/0")}, host: "m", addr: "0.0.0.0", port: 80, reason: ReasonAlwaysDenied},
		{name: "multicast", rules: []airlock.EgressRule{allowCIDR("224.0.0.0/4")}, host: "m", addr: "239.1.2.3", port: 80, reason: ReasonAlwaysDenied},
		{name: "v6 multicast", rules: []airlock.EgressRule{allowCIDR("ff00::/8")}, host: "m", addr: "ff02::1", port: 80, reason: ReasonAlwaysDenied},
		{name: "IPv4-mapped loopback", rules: []airlock.EgressRule{allowCIDR("::/0")}, host: "m", addr: "::ffff:127.0.0.1", port: 80, reason: ReasonAlwaysDenied},
		{name: "NAT64 of loopback", rules: []airlock.EgressRule{allowCIDR("64:ff9b::/96")}, host: "m", addr: "64:ff9b::7f00:1", port: 80, reason: ReasonAlwaysDenied},
		{name: "NAT64 of public, allowed by rule", rules: []airlock.EgressRule{allowCIDR("64:ff9b::/96")}, host: "m", addr: "64:ff9b::5db8:d70e", port: 80},
		{name: "node's extra prefix", rules: []airlock.EgressRule{allowCIDR("100.64.0.0/10")}, extra: pool, host: "s", addr: "100.80.3.4", port: 443, reason: ReasonAlwaysDenied, msg: "100.80.0.0/16"},
		{name: "extra prefix does not cover others", rules: []airlock.EgressRule{allowCIDR("100.64.0.0/10")}, extra: pool, host: "s", addr: "100.81.3.4", port: 443},
		// Address check: CIDR rules.
		{name: "allow opens a private range", rules: []airlock.EgressRule{allowCIDR("10.1.0.0/16")}, host: "intranet", addr: "10.1.2.3", port: 443},
		{name: "allow opens a private range on its port", rules: []airlock.EgressRule{allowCIDR("10.1.0.0/16", 443)}, host: "intranet", addr: "10.1.2.3", port: 443},
		{name: "allow on another port leaves the default", rules: []airlock.EgressRule{allowCIDR("10.1.0.0/16", 443)}, host: "intranet", addr: "10.1.2.3", port: 22, reason: ReasonSpecialRange},
		{name: "deny a public range", rules: []airlock.EgressRule{denyCIDR("93.184.0.0/16")}, host: "example.com", addr: public, port: 443, reason: ReasonCIDRRule, msg: "93.184.215.14:443 is denied by egress rule 0"},
		{name: "deny a single address", rules: []airlock.EgressRule{denyCIDR(public)}, host: "example.com", addr: public, port: 443, reason: ReasonCIDRRule},
		{name: "first CIDR match decides", rules: []airlock.EgressRule{denyCIDR("10.1.2.0/24"), allowCIDR("10.1.0.0/16")}, host: "i", addr: "10.1.2.3", port: 443, reason: ReasonCIDRRule},
		{name: "first CIDR match decides, allow first", rules: []airlock.EgressRule{allowCIDR("10.1.2.0/24"), denyCIDR("10.1.0.0/16")}, host: "i", addr: "10.1.2.3", port: 443},
		{name: "mapped address matches the v4 rule", rules: []airlock.EgressRule{allowCIDR("10.1.0.0/16")}, host: "i", addr: "::ffff:10.1.2.3", port: 443},
		{name: "v6 rule", rules: []airlock.EgressRule{allowCIDR("fc00::/7")}, host: "i", addr: "fd12::1", port: 443},
		// Address check: special-purpose ranges by default.
		{name: "private 10/8", host: "i", addr: "10.0.0.5", port: 443, reason: ReasonSpecialRange, msg: "10.0.0.5:443 is in a private or special-purpose range (10.0.0.0/8)"},
		{name: "private 172.16/12", host: "i", addr: "172.17.0.1", port: 443, reason: ReasonSpecialRange},
		{name: "private 192.168/16", host: "i", addr: "192.168.1.1", port: 443, reason: ReasonSpecialRange},
		{name: "shared 100.64/10", host: "i", addr: "100.64.0.1", port: 443, reason: ReasonSpecialRange},
		{name: "documentation", host: "i", addr: "192.0.2.1", port: 443, reason: ReasonSpecialRange},
		{name: "benchmarking", host: "i", addr: "198.18.0.1", port: 443, reason: ReasonSpecialRange},
		{name: "reserved 240/4", host: "i", addr: "240.0.0.1", port: 443, reason: ReasonAlwaysDenied},
		{name: "v6 unique local", host: "i", addr: "fd12::1", port: 443, reason: ReasonSpecialRange, msg: "outside IPv6 global unicast"},
		{name: "v6 documentation", host: "i", addr: "2001:db8::1", port: 443, reason: ReasonSpecialRange, msg: "2001:db8::/32"},
		{name: "v6 6to4", host: "i", addr: "2002:a00:1::1", port: 443, reason: ReasonSpecialRange},
		{name: "v6 public", host: "i", addr: "2606:2800:220:1:248:1893:25c8:1946", port: 443},
		// Both checks.
		{name: "name allowed, address denied", rules: []airlock.EgressRule{allowDomain("example.com")}, host: "example.com", addr: "10.0.0.1", port: 443, reason: ReasonSpecialRange},
		{name: "address allowed, name denied", rules: []airlock.EgressRule{denyDomain("example.com"), allowCIDR("10.0.0.0/8")}, host: "example.com", addr: "10.0.0.1", port: 443, reason: ReasonDomainRule},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, tc.extra, tc.rules...)
			r := p.Check(tc.host, netip.MustParseAddr(tc.addr), tc.port)
			switch {
			case tc.reason == "" && r != nil:
				t.Fatalf("refused (%s): %s; want allowed", r.Reason, r.Message)
			case tc.reason != "" && r == nil:
				t.Fatalf("allowed; want refused for %s", tc.reason)
			case r != nil && (r.Reason != tc.reason || !strings.Contains(r.Message, tc.msg)):
				t.Fatalf("refused (%s): %q; want %s with %q", r.Reason, r.Message, tc.reason, tc.msg)
			}
		})
	}
}

func TestPolicySomePort(t *testing.T) {
	for _, tc := range []struct {
		name        string
		rules       []airlock.EgressRule
		host, addr  string
		nameOK, ok  bool
		nameByIndex string
	}{
		{name: "no rules", host: "example.com", addr: public, nameOK: true, ok: true},
		{name: "deny every port", rules: []airlock.EgressRule{denyDomain("example.com"), denyCIDR(public)}, host: "example.com", addr: public},
		{name: "deny one port leaves others", rules: []airlock.EgressRule{denyDomain("example.com", 80), denyCIDR(public, 80)}, host: "example.com", addr: public, nameOK: true, ok: true},
		{name: "deny 443 then allow 443 and deny all", rules: []airlock.EgressRule{denyDomain("example.com", 443), allowDomain("example.com", 443), denyDomain("*")}, host: "example.com", addr: public, ok: true},
		{name: "allow one port then deny all", rules: []airlock.EgressRule{allowDomain("example.com", 443), denyDomain("*"), allowCIDR("10.0.0.0/8", 443)}, host: "example.com", addr: "10.1.1.1", nameOK: true, ok: true},
		{name: "private range without rule", host: "example.com", addr: "10.1.1.1", nameOK: true},
		{name: "private range, deny one port", rules: []airlock.EgressRule{denyCIDR("10.0.0.0/8", 80)}, host: "example.com", addr: "10.1.1.1", nameOK: true},
		{name: "always denied despite rule", rules: []airlock.EgressRule{allowCIDR("127.0.0.0/8")}, host: "example.com", addr: "127.0.0.1", nameOK: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, nil, tc.rules...)
			if got := p.NameAllowedSomePort(tc.host) == nil; got != tc.nameOK {
				t.Errorf("NameAllowedSomePort(%s) = %v; want %v", tc.host, got, tc.nameOK)
			}
			if got := p.AddrAllowedSomePort(netip.MustParseAddr(tc.addr)) == nil; got != tc.ok {
				t.Errorf("AddrAllowedSomePort(%s) = %v; want %v", tc.addr, got, tc.ok)
			}
		})
	}
}

func TestCompileRefusesInvalid(t *testing.T) {
	_, err := Compile(airlock.EgressPolicy{Rules: []airlock.EgressRule{allowDomain("Bad.example")}}, nil)
	if err == nil || !strings.Contains(err.Error(), "rules[0]") {
		t.Fatalf("Compile: %v; want the rule named", err)
	}
}
