package netpolicy

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func testRules() *Rules {
	return &Rules{
		Pool:      netip.MustParsePrefix("10.213.0.0/16"),
		HostTCP:   []PortRange{{8443, 8443}},
		HostUDP:   []PortRange{{3478, 3478}, {49160, 49200}},
		ProxyPort: 3128,
		DNSPort:   5353,
		Remote:    []Endpoint{{"udp", netip.MustParsePrefix("203.0.113.5/32"), PortRange{3478, 3478}}},
	}
}

func TestRender(t *testing.T) {
	script, err := testRules().Render()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"add element inet airlock deny4 { 0.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, 168.63.129.16/32, 100.100.100.200/32, 224.0.0.0/4, 240.0.0.0/4, 10.213.0.0/16 }",
		"add element inet airlock host_tcp { 8443 }",
		"add element inet airlock host_udp { 3478, 49160-49200 }",
		"add element inet airlock proxy_tcp { 3128 }",
		"add element inet airlock remote { 203.0.113.5/32 . udp . 3478 }",
		`add rule inet airlock input iifname != { "als*", "alh*" } accept`,
		"add rule inet airlock input counter reject with icmpx admin-prohibited",
		`add rule inet airlock forward oifname { "als*", "alh*", "docker*", "br-*" } counter reject with icmpx admin-prohibited`,
		`add rule inet airlock forward iifname "alh*" counter reject with icmpx admin-prohibited`,
		"flush chain inet airlock forward",
		`add rule inet airlock input iifname "alh*" udp dport @resolver accept`,
		`add rule inet airlock dns iifname "alh*" udp dport 53 redirect to :5353`,
		`add rule inet airlock dns iifname "alh*" tcp dport 53 redirect to :5353`,
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	// A node opens nothing it was not told to, and never removes another
	// node's elements.
	bare := &Rules{Pool: netip.MustParsePrefix("10.213.0.0/16")}
	script, _ = bare.Render()
	// Without a resolver of its own, a node leaves another's redirect be.
	if strings.Contains(script, "redirect") || strings.Contains(script, "flush chain inet airlock dns") {
		t.Errorf("a node without a resolver rewrites the DNS chain:\n%s", script)
	}
	for _, never := range []string{"host_tcp {", "delete table", "delete element", "flush set", "flush table"} {
		if strings.Contains(script, "add element inet airlock "+never) || strings.Contains(script, never) && never != "host_tcp {" {
			t.Errorf("bare script has %q:\n%s", never, script)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Rules)
	}{
		{"no-pool", func(r *Rules) { r.Pool = netip.Prefix{} }},
		{"v6-pool", func(r *Rules) { r.Pool = netip.MustParsePrefix("fd00::/64") }},
		{"port-zero", func(r *Rules) { r.HostTCP = []PortRange{{0, 0}} }},
		{"range-backwards", func(r *Rules) { r.HostUDP = []PortRange{{10, 5}} }},
		{"remote-proto", func(r *Rules) { r.Remote[0].Proto = "sctp" }},
		{"deny-v6", func(r *Rules) { r.Deny = []netip.Prefix{netip.MustParsePrefix("::1/128")} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testRules()
			tc.edit(r)
			if _, err := r.Render(); err == nil {
				t.Fatal("rendered")
			}
		})
	}
}

func TestParse(t *testing.T) {
	tcp, udp, err := ParsePorts("tcp:8443, udp:3478,udp:49160-49200")
	if err != nil || len(tcp) != 1 || tcp[0] != (PortRange{8443, 8443}) || len(udp) != 2 || udp[1] != (PortRange{49160, 49200}) {
		t.Fatalf("ParsePorts: %v %v %v", tcp, udp, err)
	}
	for _, bad := range []string{"8443", "sctp:1", "tcp:0", "tcp:70000", "udp:5-4", "tcp:x"} {
		if _, _, err := ParsePorts(bad); err == nil {
			t.Errorf("ParsePorts(%q) accepted", bad)
		}
	}
	eps, err := ParseEndpoints("tcp:203.0.113.5:8443,udp:198.51.100.0/24:3478-3479")
	if err != nil || len(eps) != 2 || eps[1].Prefix.Bits() != 24 || eps[1].Ports.Last != 3479 {
		t.Fatalf("ParseEndpoints: %v %v", eps, err)
	}
	for _, bad := range []string{"tcp:203.0.113.5", "tcp:[::1]:80", "icmp:1.2.3.4:1", "tcp:host:80"} {
		if _, err := ParseEndpoints(bad); err == nil {
			t.Errorf("ParseEndpoints(%q) accepted", bad)
		}
	}
}

// inNetns returns a Runner that runs nft in a network namespace of the
// test's own, so the kernel checks the script without touching this
// host's rules, and a function that lists the table there.
func inNetns(t *testing.T) (Runner, func() string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatal("nft is not installed (apt-get install nftables): the session network rules need it")
	}
	name := "airlock-nft-" + strings.ReplaceAll(t.Name(), "/", "-")
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	run := func(ctx context.Context, stdin string, args ...string) error {
		cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", name, "nft"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("nft %v: %w: %s", args, err, out)
		}
		return nil
	}
	list := func() string {
		out, err := exec.Command("ip", "netns", "exec", name, "nft", "list", "table", "inet", Table).CombinedOutput()
		if err != nil {
			t.Fatal(err, string(out))
		}
		return string(out)
	}
	return run, list
}

func TestApplyTwiceAndTwoNodes(t *testing.T) {
	ns, listTable := inNetns(t)
	ctx := context.Background()
	a := testRules()
	b := &Rules{Pool: a.Pool, HostTCP: []PortRange{{9443, 9443}}}
	for _, r := range []*Rules{a, a, b} {
		if err := r.Apply(ctx, ns); err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
	list := listTable()
	for _, want := range []string{"8443", "9443", "49160-49200", "redirect to :5353"} {
		if !strings.Contains(list, want) {
			t.Errorf("after both nodes applied, the table lacks %s:\n%s", want, list)
		}
	}
	if n := strings.Count(list, "counter packets 0 bytes 0 reject with icmpx admin-prohibited\n"); n != 4 {
		t.Errorf("%d counted rejects, want 4 (rules duplicated by a re-apply?):\n%s", n, list)
	}
}
