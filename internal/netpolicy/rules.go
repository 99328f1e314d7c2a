package netpolicy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// Table is the nftables table that holds every rule of this package.
const Table = "airlock"

// AlwaysDeny lists the IPv4 destinations no session reaches, whatever its
// level or its workspace's egress policy (airlock.NeverReachable's IPv4
// part). Sessions have no IPv6 at all.
var AlwaysDeny = func() []netip.Prefix {
	var v4 []netip.Prefix
	for _, p := range airlock.NeverReachable() {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		}
	}
	return v4
}()

// PortRange is a range of ports, First to Last inclusive.
type PortRange struct{ First, Last uint16 }

func (r PortRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// Endpoint is a destination off this host that hardened sessions may
// reach directly: a remote infra server's API or TURN.
type Endpoint struct {
	Proto  string // "tcp" or "udp"
	Prefix netip.Prefix
	Ports  PortRange
}

// Rules is what the host enforces for session networks.
type Rules struct {
	// Pool is the session address pool: no session reaches another.
	Pool netip.Prefix
	// HostTCP and HostUDP are the ports of this host's own addresses that
	// sessions may reach: the infra API, TURN and its relay ports when
	// they run here. Every other port of every host address is closed to
	// sessions.
	HostTCP, HostUDP []PortRange
	// ProxyPort is the node's egress proxy (0: none), open to hardened
	// sessions only.
	ProxyPort uint16
	// DNSPort is the node's resolver for hardened sessions (0: none).
	// Their DNS, to whatever address they send it (Docker's embedded
	// resolver forwards to the gateway), is redirected to it, so the only
	// names a hardened session resolves are those its policy allows.
	// Without one they get no DNS at all.
	DNSPort uint16
	// Remote are destinations off this host hardened sessions may reach
	// without the proxy (a remote infra server). Standard sessions reach
	// anything outside AlwaysDeny, the pool and this host.
	Remote []Endpoint
	// Deny adds destinations to AlwaysDeny.
	Deny []netip.Prefix
}

// Validate checks the rules can be rendered.
func (r *Rules) Validate() error {
	if !r.Pool.IsValid() || !r.Pool.Addr().Is4() {
		return fmt.Errorf("host rules: session address pool %v is not an IPv4 prefix", r.Pool)
	}
	for _, pr := range slices.Concat(r.HostTCP, r.HostUDP) {
		if pr.First == 0 || pr.Last < pr.First {
			return fmt.Errorf("host rules: port range %s is not valid", pr)
		}
	}
	for _, e := range r.Remote {
		if e.Proto != "tcp" && e.Proto != "udp" {
			return fmt.Errorf("host rules: remote endpoint protocol %q is not tcp or udp", e.Proto)
		}
		if !e.Prefix.IsValid() || !e.Prefix.Addr().Is4() || e.Ports.First == 0 || e.Ports.Last < e.Ports.First {
			return fmt.Errorf("host rules: remote endpoint %s %v:%s is not an IPv4 address and port range", e.Proto, e.Prefix, e.Ports)
		}
	}
	for _, p := range r.Deny {
		if !p.IsValid() || !p.Addr().Is4() {
			return fmt.Errorf("host rules: denied prefix %v is not IPv4", p)
		}
	}
	return nil
}

func set[T fmt.Stringer](items []T) string {
	s := make([]string, len(items))
	for i, x := range items {
		s[i] = x.String()
	}
	return "{ " + strings.Join(s, ", ") + " }"
}

// Render returns the nftables script that installs the rules as one
// transaction, so there is no moment without them. Several nodes may
// share a host (and its Docker engine): the ports and prefixes each one
// opens or denies are added to named sets, never removed by another, and
// the chains, the same for all, are flushed and rewritten.
func (r *Rules) Render() (string, error) {
	if err := r.Validate(); err != nil {
		return "", err
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	t := "inet " + Table
	w("add table %s", t)
	addSet := func(name, typ string, elems string) {
		w("add set %s %s { type %s; flags interval; auto-merge; }", t, name, typ)
		if elems != "" {
			w("add element %s %s %s", t, name, elems)
		}
	}
	addSet("deny4", "ipv4_addr", set(slices.Concat(AlwaysDeny, r.Deny, []netip.Prefix{r.Pool.Masked()})))
	ports := func(p []PortRange) string {
		if len(p) == 0 {
			return ""
		}
		return set(p)
	}
	addSet("host_tcp", "inet_service", ports(r.HostTCP))
	addSet("host_udp", "inet_service", ports(r.HostUDP))
	var proxy []PortRange
	if r.ProxyPort != 0 {
		proxy = []PortRange{{r.ProxyPort, r.ProxyPort}}
	}
	addSet("proxy_tcp", "inet_service", ports(proxy))
	var resolver []PortRange
	if r.DNSPort != 0 {
		resolver = []PortRange{{r.DNSPort, r.DNSPort}}
	}
	addSet("resolver", "inet_service", ports(resolver))
	var remote []string
	for _, e := range r.Remote {
		remote = append(remote, fmt.Sprintf("%s . %s . %s", e.Prefix.Masked(), e.Proto, e.Ports))
	}
	w("add set %s remote { type ipv4_addr . inet_proto . inet_service; flags interval; }", t)
	if len(remote) > 0 {
		w("add element %s remote { %s }", t, strings.Join(remote, ", "))
	}
	chain := func(name, hook string, rules ...string) {
		w("add chain %s %s { %s; policy accept; }", t, name, hook)
		w("flush chain %s %s", t, name)
		for _, rule := range rules {
			w("add rule %s %s %s", t, name, rule)
		}
	}
	// Refused at once rather than dropped: a browser shows its error page
	// instead of waiting out a timeout, and nothing is answered either way.
	const reject = "counter reject with icmpx admin-prohibited"
	sessions := fmt.Sprintf(`{ "%s*", "%s*" }`, bridgeStandard, bridgeHardened)
	notSession := "iifname != " + sessions + " accept"
	hardened := fmt.Sprintf(`iifname "%s*"`, bridgeHardened)
	// Traffic from a session bridge to an address of this host.
	chain("input", "type filter hook input priority filter - 10",
		notSession,
		"ct state established,related accept",
		"meta nfproto ipv6 drop",
		"tcp dport @host_tcp accept",
		"udp dport @host_udp accept",
		hardened+" tcp dport @proxy_tcp accept",
		hardened+" udp dport @resolver accept",
		hardened+" tcp dport @resolver accept",
		reject)
	// Traffic from a session bridge routed elsewhere. Other bridges are
	// other sessions or other containers of this host.
	chain("forward", "type filter hook forward priority filter - 10",
		notSession,
		"meta nfproto ipv6 drop",
		"ip daddr @deny4 "+reject,
		fmt.Sprintf(`oifname { "%s*", "%s*", "docker*", "br-*" } %s`, bridgeStandard, bridgeHardened, reject),
		"ct state established,related accept",
		hardened+" ip daddr . meta l4proto . th dport @remote accept",
		hardened+" "+reject)
	// Hardened sessions get no DNS but what the node's resolver answers.
	// Docker's embedded resolver (127.0.0.11 in the container) forwards
	// from the container's namespace to the servers the node gave it, so
	// its queries come this way too. Without a redirect, a query to this
	// host or beyond is refused by input or forward above. A node without
	// a resolver leaves the chain to one that has one; nodes sharing a
	// host must give their resolvers the same port, since the chain is the
	// last one's.
	const dns = "type nat hook prerouting priority dstnat - 10"
	if r.DNSPort == 0 {
		w("add chain %s dns { %s; policy accept; }", t, dns)
	} else {
		to := fmt.Sprintf("redirect to :%d", r.DNSPort)
		chain("dns", dns, hardened+" udp dport 53 "+to, hardened+" tcp dport 53 "+to)
	}
	// The chain of earlier versions, which dropped hardened DNS.
	w("add chain %s prerouting { type filter hook prerouting priority raw; policy accept; }", t)
	w("delete chain %s prerouting", t)
	return b.String(), nil
}

// Runner runs nft with args and the script on stdin. The default runs the
// nft binary; tests run it in a network namespace of their own.
type Runner func(ctx context.Context, stdin string, args ...string) error

// ExecNft runs the nft binary.
func ExecNft(ctx context.Context, stdin string, args ...string) error {
	path, err := exec.LookPath("nft")
	if err != nil {
		return errors.New("nft is not installed: session networks need nftables rules on the host (apt-get install nftables)")
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// Apply installs the rules, replacing any earlier version of the table.
func (r *Rules) Apply(ctx context.Context, run Runner) error {
	script, err := r.Render()
	if err != nil {
		return err
	}
	if run == nil {
		run = ExecNft
	}
	if err := run(ctx, script, "-f", "-"); err != nil {
		return fmt.Errorf("install the session network rules: %w", err)
	}
	return nil
}

// Remove deletes the table (the node's own teardown; a running node keeps
// its rules in place even after it exits, so sessions stay contained).
func Remove(ctx context.Context, run Runner) error {
	if run == nil {
		run = ExecNft
	}
	return run(ctx, fmt.Sprintf("table inet %s\ndelete table inet %s\n", Table, Table), "-f", "-")
}
