package dockertest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"
)

// NAT is a home network behind a router, made of two network namespaces
// of the caller's own: a viewer namespace on a private LAN, and a router
// namespace between it and this host that masquerades the LAN as a home
// router does. The viewer has a route to the server's address alone, and
// the router knows no other destination, so nothing the viewer sends
// leaves this machine: the server's address must be one of this host's.
type NAT struct {
	// Viewer is the viewer namespace's path, for nsenter --net= or
	// DialInNetns.
	Viewer string
	// ViewerAddr is the viewer's LAN address; RouterAddr the router's
	// address on this host's side, the one the server sees.
	ViewerAddr, RouterAddr netip.Addr
	server                 netip.Addr
	viewerNS, routerNS     string
	hostIf                 string
	linked                 bool
}

// lanCandidates are the private LANs a NAT may use: the first that this
// machine has no address in is taken.
var lanCandidates = func() (ps []netip.Prefix) {
	for i := 200; i < 250; i++ {
		ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(i), 0}), 24))
	}
	return ps
}()

// StartNAT builds the two namespaces, their veth pairs and the router's
// masquerade, with the viewer's one route going to server (an address of
// this host). On failure it removes what it made; on success Close does.
func StartNAT(ctx context.Context, server netip.Addr) (_ *NAT, err error) {
	if out, err := exec.CommandContext(ctx, "ip", "-o", "route", "get", server.String()).CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "local ") {
		return nil, fmt.Errorf("nat: the server's address %s is not this machine's, so the viewer's packets would leave it: %s", server, strings.TrimSpace(string(out)))
	}
	var transit, lan netip.Prefix
	for _, p := range transitCandidates {
		if reason, ferr := isFree(ctx, p.Addr().Next()); ferr == nil && reason == "" && !usedPrefix(ctx, p) {
			transit = p
			break
		}
	}
	for _, p := range lanCandidates {
		if reason, ferr := isFree(ctx, p.Addr().Next()); ferr == nil && reason == "" && !usedPrefix(ctx, p) {
			lan = p
			break
		}
	}
	if !transit.IsValid() || !lan.IsValid() {
		return nil, errors.New("nat: every transit subnet 10.254.200-249.0/30 or LAN 192.168.200-249.0/24 is in use on this machine")
	}
	id := fmt.Sprintf("%06x", time.Now().UnixNano()&0xffffff)
	n := &NAT{server: server, viewerNS: "natv-" + id, routerNS: "natr-" + id, hostIf: "nath" + id}
	n.Viewer = "/var/run/netns/" + n.viewerNS
	defer func() {
		if err != nil {
			err = errors.Join(err, n.Close())
		}
	}()
	hostSide := transit.Addr().Next()
	n.RouterAddr = hostSide.Next()
	routerLAN := lan.Addr().Next()
	n.ViewerAddr = routerLAN.Next()
	wan, lanIf, viewerIf := "natw"+id, "natl"+id, "natv"+id
	steps := [][]string{
		{"netns", "add", n.routerNS},
		{"netns", "add", n.viewerNS},
		{"link", "add", n.hostIf, "type", "veth", "peer", "name", wan},
		{"link", "set", wan, "netns", n.routerNS},
		{"addr", "add", netip.PrefixFrom(hostSide, transit.Bits()).String(), "dev", n.hostIf},
		{"link", "set", n.hostIf, "up"},
		{"-n", n.routerNS, "addr", "add", netip.PrefixFrom(n.RouterAddr, transit.Bits()).String(), "dev", wan},
		{"-n", n.routerNS, "link", "set", wan, "up"},
		{"-n", n.routerNS, "link", "set", "lo", "up"},
		{"-n", n.routerNS, "link", "add", lanIf, "type", "veth", "peer", "name", viewerIf},
		{"-n", n.routerNS, "link", "set", viewerIf, "netns", n.viewerNS},
		{"-n", n.routerNS, "addr", "add", netip.PrefixFrom(routerLAN, lan.Bits()).String(), "dev", lanIf},
		{"-n", n.routerNS, "link", "set", lanIf, "up"},
		{"-n", n.routerNS, "route", "add", netip.PrefixFrom(server, 32).String(), "via", hostSide.String(), "dev", wan},
		{"-n", n.viewerNS, "addr", "add", netip.PrefixFrom(n.ViewerAddr, lan.Bits()).String(), "dev", viewerIf},
		{"-n", n.viewerNS, "link", "set", viewerIf, "up"},
		{"-n", n.viewerNS, "link", "set", "lo", "up"},
		{"-n", n.viewerNS, "route", "add", netip.PrefixFrom(server, 32).String(), "via", routerLAN.String(), "dev", viewerIf},
	}
	for i, s := range steps {
		if err := ipCmd(ctx, s...); err != nil {
			return nil, fmt.Errorf("nat: %w", err)
		}
		if i == 2 {
			n.linked = true
		}
	}
	if err := n.router(ctx, "sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
		return nil, fmt.Errorf("nat: %w", err)
	}
	// The router's own table: a home router's masquerade, and a forward
	// chain that Block fills.
	ruleset := fmt.Sprintf(`table ip airlocktest-nat {
	chain post { type nat hook postrouting priority srcnat; oifname %q masquerade; }
	chain pass { type filter hook forward priority filter; policy accept; }
}
`, wan)
	if err := n.nft(ctx, ruleset); err != nil {
		return nil, fmt.Errorf("nat: %w", err)
	}
	return n, nil
}

// AllowOnly makes the router pass only TCP to the server's ports given
// (and the answers): a network that lets only HTTPS out. No ports: all
// is allowed again.
func (n *NAT) AllowOnly(ctx context.Context, tcpPorts ...int) error {
	rules := "flush chain ip airlocktest-nat pass\n"
	if len(tcpPorts) > 0 {
		ports := make([]string, len(tcpPorts))
		for i, p := range tcpPorts {
			ports[i] = fmt.Sprint(p)
		}
		rules += fmt.Sprintf(`add rule ip airlocktest-nat pass ct state established,related accept
add rule ip airlocktest-nat pass ip daddr %s tcp dport { %s } accept
add rule ip airlocktest-nat pass drop
`, n.server, strings.Join(ports, ", "))
	}
	if err := n.nft(ctx, rules); err != nil {
		return fmt.Errorf("nat: allow only tcp %v: %w", tcpPorts, err)
	}
	return nil
}

func (n *NAT) nft(ctx context.Context, rules string) error {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.routerNS, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in %s: %w: %s", n.routerNS, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (n *NAT) router(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.routerNS}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s in %s: %w: %s", strings.Join(args, " "), n.routerNS, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Close removes the veth pairs and both namespaces (the LAN pair goes
// with the router's namespace).
func (n *NAT) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if n.linked {
		if _, lerr := exec.CommandContext(ctx, "ip", "link", "show", n.hostIf).CombinedOutput(); lerr == nil {
			err = errors.Join(err, ipCmd(ctx, "link", "del", n.hostIf))
		}
	}
	for _, ns := range []string{n.routerNS, n.viewerNS} {
		if _, serr := os.Stat("/var/run/netns/" + ns); serr == nil {
			err = errors.Join(err, ipCmd(ctx, "netns", "del", ns))
		}
	}
	return err
}
