package egress

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"code.dny.dev/ssrf"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// Reasons a destination is refused: the values of the reason label of
// airlock_egress_refused_total, and of Refusal.Reason.
const (
	ReasonUnknownSession = "unknown_session"      // the source address is no hardened session's
	ReasonInvalidPolicy  = "invalid_policy"       // the session's policy does not compile
	ReasonBadRequest     = "bad_request"          // the request names no usable destination
	ReasonDomainRule     = "domain_rule"          // a deny Domain rule matched the name
	ReasonCIDRRule       = "cidr_rule"            // a deny CIDR rule matched the address
	ReasonAlwaysDenied   = "always_denied"        // the address is one no rule can open
	ReasonSpecialRange   = "special_range"        // a private or special-purpose address no rule allowed
	ReasonTooMany        = "too_many_connections" // the session holds as many connections as it may
)

// alwaysDenied are addresses no egress rule can open
// (airlock.NeverReachable).
var alwaysDenied = airlock.NeverReachable()

// nat64 is the well-known NAT64 prefix: an address in it carries an IPv4
// address in its last 32 bits, which a NAT64 gateway connects to, so that
// IPv4 address is checked against the always-denied set too.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// AlwaysDenied returns the built-in always-denied prefixes (a copy), for
// operators and host firewall rules that must agree with the proxy.
func AlwaysDenied() []netip.Prefix { return slices.Clone(alwaysDenied) }

// Refusal is a destination the policy refused: Reason is one of the
// Reason constants, Message says what was refused and why, for the client
// and the log.
type Refusal struct {
	Reason  string
	Message string
}

func (r *Refusal) Error() string { return r.Message }

func refuse(reason, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

type rule struct {
	allow  bool
	domain string // "", "*", "example.com" or ".example.com" (for *.example.com)
	prefix netip.Prefix
	ports  []uint16
	index  int
}

func (r rule) matchesPort(port uint16) bool {
	return len(r.ports) == 0 || slices.Contains(r.ports, port)
}

// Policy is a compiled airlock.EgressPolicy and the always-denied set it
// is checked with; see airlock.EgressPolicy for the semantics. It is safe
// for concurrent use.
type Policy struct {
	names []rule
	cidrs []rule
	deny  []netip.Prefix
}

// Compile validates p and prepares it for checks; extraDeny is added to
// the built-in always-denied set.
func Compile(p airlock.EgressPolicy, extraDeny []netip.Prefix) (*Policy, error) {
	return compile(p, slices.Concat(alwaysDenied, extraDeny))
}

func compile(p airlock.EgressPolicy, deny []netip.Prefix) (*Policy, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c := &Policy{deny: deny}
	for i, r := range p.Rules {
		cr := rule{allow: r.Action == airlock.EgressAllow, ports: r.Ports, index: i}
		if r.Domain != "" {
			cr.domain = r.Domain
			if r.Domain != "*" {
				cr.domain = strings.TrimPrefix(r.Domain, "*") // "*.example.com" -> ".example.com"
			}
			c.names = append(c.names, cr)
			continue
		}
		pfx, err := airlock.ParseEgressCIDR(r.CIDR)
		if err != nil {
			return nil, fmt.Errorf("egress policy rules[%d]: %w", i, err)
		}
		cr.prefix = pfx
		c.cidrs = append(c.cidrs, cr)
	}
	return c, nil
}

// normalizeName lowercases a DNS name and drops its trailing dot, the
// form rules are written in.
func normalizeName(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".")
}

func (r rule) matchesName(name string, literal bool) bool {
	switch {
	case r.domain == "*":
		return true
	case literal:
		return false
	case strings.HasPrefix(r.domain, "."):
		return strings.HasSuffix(name, r.domain)
	default:
		return name == r.domain
	}
}

// isLiteral reports whether name is an address literal rather than a name.
func isLiteral(name string) bool {
	_, err := netip.ParseAddr(name)
	return err == nil
}

// CheckName is the name check: the first Domain rule matching name and
// port decides, and a name no rule matches is allowed. An address literal
// is matched only by "*".
func (p *Policy) CheckName(name string, port uint16) *Refusal {
	name = normalizeName(name)
	literal := isLiteral(name)
	for _, r := range p.names {
		if r.matchesName(name, literal) && r.matchesPort(port) {
			if r.allow {
				return nil
			}
			return refuse(ReasonDomainRule, "%s is denied by egress rule %d", hostPort(name, port), r.index)
		}
	}
	return nil
}

// NameAllowedSomePort reports whether the name check allows name on at
// least one port: what the DNS resolver answers for.
func (p *Policy) NameAllowedSomePort(name string) *Refusal {
	name = normalizeName(name)
	literal := isLiteral(name)
	var matching []rule
	for _, r := range p.names {
		if r.matchesName(name, literal) {
			matching = append(matching, r)
		}
	}
	if ok, by := someAllowed(matching, true); !ok {
		return refuse(ReasonDomainRule, "%s is denied by egress rule %d", name, by)
	}
	return nil
}

// CheckAddr is the address check: always-denied first, then the first
// CIDR rule matching addr and port, then the special-purpose ranges.
func (p *Policy) CheckAddr(addr netip.Addr, port uint16) *Refusal {
	addr = addr.Unmap().WithZone("")
	if r := p.alwaysDenied(addr, port); r != nil {
		return r
	}
	for _, r := range p.cidrs {
		if r.prefix.Contains(addr) && r.matchesPort(port) {
			if r.allow {
				return nil
			}
			return refuse(ReasonCIDRRule, "%s is denied by egress rule %d", hostPort(addr.String(), port), r.index)
		}
	}
	return specialRange(addr, port)
}

// AddrAllowedSomePort reports whether the address check allows addr on at
// least one port: the addresses the DNS resolver returns.
func (p *Policy) AddrAllowedSomePort(addr netip.Addr) *Refusal {
	addr = addr.Unmap().WithZone("")
	if r := p.alwaysDenied(addr, 0); r != nil {
		return r
	}
	var matching []rule
	for _, r := range p.cidrs {
		if r.prefix.Contains(addr) {
			matching = append(matching, r)
		}
	}
	special := specialRange(addr, 0)
	ok, by := someAllowed(matching, special == nil)
	switch {
	case ok:
		return nil
	case by >= 0:
		return refuse(ReasonCIDRRule, "%s is denied by egress rule %d", addr, by)
	default:
		return special
	}
}

// someAllowed reports whether, walking rules (all of which match the
// destination but for the port) in order, some port ends up allowed; ports
// no rule decides get fallback. A rule with ports decides only those the
// rules before it left open. When none is allowed, by is the index of the
// rule that denied every port still open, or -1 when the fallback did.
func someAllowed(rules []rule, fallback bool) (ok bool, by int) {
	decided := map[uint16]bool{}
	for _, r := range rules {
		if len(r.ports) == 0 {
			// Decides every port still open; at most MaxEgressRules x
			// MaxEgressRulePorts ports are decided before, far from all.
			return r.allow, r.index
		}
		for _, port := range r.ports {
			if decided[port] {
				continue
			}
			if r.allow {
				return true, r.index
			}
			decided[port] = true
		}
	}
	return fallback, -1
}

func (p *Policy) alwaysDenied(addr netip.Addr, port uint16) *Refusal {
	check := []netip.Addr{addr}
	if nat64.Contains(addr) {
		b := addr.As16()
		check = append(check, netip.AddrFrom4([4]byte(b[12:])))
	}
	for _, a := range check {
		for _, pfx := range p.deny {
			if pfx.Contains(a) {
				return refuse(ReasonAlwaysDenied, "%s is in %s, which is never reachable from a session", hostPort(addr.String(), port), pfx)
			}
		}
	}
	return nil
}

// specialRange refuses an address in the IANA special-purpose registries
// (https://www.iana.org/assignments/iana-ipv4-special-registry and
// iana-ipv6-special-registry) or a private range, as code.dny.dev/ssrf
// generates them from those registries: for IPv6, everything outside
// global unicast 2000::/3 (which covers fc00::/7, unique local) and the
// special prefixes inside it.
func specialRange(addr netip.Addr, port uint16) *Refusal {
	if addr.Is4() {
		for _, pfx := range ssrf.IPv4DeniedPrefixes {
			if pfx.Contains(addr) {
				return refuse(ReasonSpecialRange, "%s is in a private or special-purpose range (%s)", hostPort(addr.String(), port), pfx)
			}
		}
		return nil
	}
	if !ssrf.IPv6GlobalUnicast.Contains(addr) {
		return refuse(ReasonSpecialRange, "%s is outside IPv6 global unicast (%s), in a private or special-purpose range", hostPort(addr.String(), port), ssrf.IPv6GlobalUnicast)
	}
	for _, pfx := range ssrf.IPv6DeniedPrefixes {
		if pfx.Contains(addr) {
			return refuse(ReasonSpecialRange, "%s is in a special-purpose range (%s)", hostPort(addr.String(), port), pfx)
		}
	}
	return nil
}

// Check is both checks for one destination: name (the name asked for, or
// the address literal), the address it resolved to and the port.
func (p *Policy) Check(name string, addr netip.Addr, port uint16) *Refusal {
	if r := p.CheckName(name, port); r != nil {
		return r
	}
	return p.CheckAddr(addr, port)
}

// hostPort formats a destination for messages; port 0 means "any port"
// and is left out.
func hostPort(host string, port uint16) string {
	if port == 0 {
		return host
	}
	if strings.Contains(host, ":") {
		return fmt.Sprintf("[%s]:%d", host, port)
	}
	return fmt.Sprintf("%s:%d", host, port)
}
