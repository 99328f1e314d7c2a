package dockertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"
)

// RoutedSite is a web server's address for sessions, which cannot reach
// this host's own: an address of TEST-NET-3 (203.0.113.0/24) made an
// address of a network namespace of the caller's own, routed from this
// host over a veth pair, with a listener on its port 80. A standard
// session reaches it over the host's route like any web server; a
// hardened one only through the node's egress proxy, whose policy
// refuses special-purpose ranges unless the workspace allows the address
// by CIDR.
type RoutedSite struct {
	Addr           netip.Addr
	Listener       net.Listener
	ns             string
	hostIf         string
	routed, linked bool
}

// SiteAddrs are candidates for a RoutedSite: 203.0.113.first up to
// (not including) .last.
func SiteAddrs(first, last byte) (as []netip.Addr) {
	for i := first; i < last; i++ {
		as = append(as, netip.AddrFrom4([4]byte{203, 0, 113, i}))
	}
	return as
}

// Candidates for the veth pair's transit subnets: the first not already
// used on this machine is taken, so two runs do not collide.
var (
	transitCandidates = func() (ps []netip.Prefix) {
		for i := 200; i < 250; i++ {
			ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 254, byte(i), 0}), 30))
		}
		return ps
	}()
)

// StartRoutedSite takes the first of candidates that this machine neither
// uses, routes nor reaches a mirror at, makes the namespace, the veth pair
// and the route, and opens a listener on port 80 of the address inside the
// namespace. On failure it removes what it made; on success Close does.
func StartRoutedSite(ctx context.Context, candidates []netip.Addr) (_ *RoutedSite, err error) {
	addr, err := freeAddr(ctx, candidates)
	if err != nil {
		return nil, fmt.Errorf("routed site address: %w", err)
	}
	var transit netip.Prefix
	for _, p := range transitCandidates {
		if reason, ferr := isFree(ctx, p.Addr().Next()); ferr == nil && reason == "" && !usedPrefix(ctx, p) {
			transit = p
			break
		}
	}
	if !transit.IsValid() {
		return nil, errors.New("routed site: every transit subnet 10.254.200-249.0/30 is in use on this machine")
	}
	id := fmt.Sprintf("%06x", time.Now().UnixNano()&0xffffff)
	r := &RoutedSite{Addr: addr, ns: "bst-" + id, hostIf: "bsth" + id}
	defer func() {
		if err != nil {
			err = errors.Join(err, r.Close())
		}
	}()
	nsIf := "bstn" + id
	hostSide := transit.Addr().Next()
	nsSide := hostSide.Next()
	steps := [][]string{
		{"netns", "add", r.ns},
		{"link", "add", r.hostIf, "type", "veth", "peer", "name", nsIf},
		{"link", "set", nsIf, "netns", r.ns},
		{"addr", "add", netip.PrefixFrom(hostSide, transit.Bits()).String(), "dev", r.hostIf},
		{"link", "set", r.hostIf, "up"},
		{"-n", r.ns, "addr", "add", netip.PrefixFrom(nsSide, transit.Bits()).String(), "dev", nsIf},
		{"-n", r.ns, "addr", "add", netip.PrefixFrom(addr, 32).String(), "dev", nsIf},
		{"-n", r.ns, "link", "set", nsIf, "up"},
		{"-n", r.ns, "link", "set", "lo", "up"},
		{"-n", r.ns, "route", "add", "default", "via", hostSide.String()},
		{"route", "add", netip.PrefixFrom(addr, 32).String(), "via", nsSide.String(), "dev", r.hostIf},
	}
	for i, s := range steps {
		if err := ipCmd(ctx, s...); err != nil {
			return nil, fmt.Errorf("routed site: %w", err)
		}
		// Mark what exists as soon as it does, so close removes it.
		switch i {
		case 1:
			r.linked = true
		case len(steps) - 1:
			r.routed = true
		}
	}
	if err := r.Check(ctx); err != nil {
		return nil, fmt.Errorf("routed site: %w", err)
	}
	if r.Listener, err = ListenInNetns("/var/run/netns/"+r.ns, netip.AddrPortFrom(addr, 80).String()); err != nil {
		return nil, fmt.Errorf("routed site: %w", err)
	}
	return r, nil
}

// Check says whether the route to the site still goes over the veth pair
// (something else on the machine may have removed it).
func (r *RoutedSite) Check(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "ip", "-o", "route", "get", r.Addr.String()).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "dev "+r.hostIf+" ") {
		return fmt.Errorf("the route to %s does not go over this run's veth %s (removed by something else on this machine?): %s", r.Addr, r.hostIf, strings.TrimSpace(string(out)))
	}
	return nil
}

// Close removes the route, the veth pair (both ends) and the namespace.
// The listener is the caller's to close.
func (r *RoutedSite) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	// The route goes with the veth pair; removed first, it cannot
	// outlive a failure to remove the pair. Already gone is fine.
	if r.routed && r.Check(ctx) == nil {
		err = errors.Join(err, ipCmd(ctx, "route", "del", netip.PrefixFrom(r.Addr, 32).String(), "dev", r.hostIf))
	}
	if r.linked {
		err = errors.Join(err, ipCmd(ctx, "link", "del", r.hostIf))
	}
	if _, serr := os.Stat("/var/run/netns/" + r.ns); serr == nil {
		err = errors.Join(err, ipCmd(ctx, "netns", "del", r.ns))
	}
	return err
}

func ipCmd(ctx context.Context, args ...string) error {
	if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// freeAddr is the first of as that is free (see isFree).
func freeAddr(ctx context.Context, as []netip.Addr) (netip.Addr, error) {
	var why []string
	for _, a := range as {
		reason, err := isFree(ctx, a)
		if err != nil {
			return netip.Addr{}, err
		}
		if reason == "" {
			return a, nil
		}
		why = append(why, reason)
	}
	return netip.Addr{}, fmt.Errorf("no free address: %s", strings.Join(why, "; "))
}

// isFree says why this machine uses a itself or routes it anywhere but by
// its default route; "" when it does neither.
func isFree(ctx context.Context, a netip.Addr) (string, error) {
	out, err := exec.CommandContext(ctx, "ip", "-o", "route", "get", a.String()).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ip route get %s: %w: %s", a, err, out)
	}
	if s := string(out); strings.Contains(s, " dev lo ") || strings.HasPrefix(s, "local ") {
		return a.String() + " is this machine's", nil
	}
	if name, ok := MirrorAt(ctx, a); ok {
		return a.String() + " is " + name + ", which this machine uses", nil
	}
	// Any route but the default one that covers a is someone's.
	match, err := exec.CommandContext(ctx, "ip", "-o", "route", "show", "match", a.String()).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ip route show match %s: %w: %s", a, err, match)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(match)), "\n") {
		if line != "" && !strings.HasPrefix(line, "default ") {
			return a.String() + " is routed already (" + line + ")", nil
		}
	}
	return "", nil
}

// usedPrefix reports whether an address of this machine is in p.
func usedPrefix(ctx context.Context, p netip.Prefix) bool {
	out, err := exec.CommandContext(ctx, "ip", "-o", "addr", "show", "to", p.String()).CombinedOutput()
	return err != nil || strings.TrimSpace(string(out)) != ""
}
