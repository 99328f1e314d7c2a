package airlock

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// Bounds of an egress policy: a policy is stored with its workspace and
// checked on every connection and DNS query of a session, so its size is
// capped well above what a hand-written policy needs.
const (
	MaxEgressRules      = 256
	MaxEgressRulePorts  = 64
	MaxEgressPolicySize = 256 << 10 // bytes of JSON
	maxDomainLen        = 253
	maxLabelLen         = 63
)

// Actions of an egress rule.
const (
	EgressAllow = "allow"
	EgressDeny  = "deny"
)

// EgressRule is one rule of a workspace's egress policy. Exactly one of
// Domain and CIDR is set.
//
// A Domain rule matches a destination's name: "example.com" that name
// only, "*.example.com" every name below it (a.example.com,
// a.b.example.com) but not example.com itself, and "*" every name and
// every IP literal (a destination given as an address, which no other
// Domain rule matches). A CIDR rule matches the destination's address:
// "10.1.0.0/16", "2001:db8::/32", or a single address. Either matches only
// the listed Ports, or every port when Ports is empty.
type EgressRule struct {
	Action string   `json:"action" yaml:"action"`                     // "allow" or "deny"
	Domain string   `json:"domain,omitempty" yaml:"domain,omitempty"` // "example.com", "*.example.com" (subdomains only, not the apex), or "*" (every name, and IP literals)
	CIDR   string   `json:"cidr,omitempty" yaml:"cidr,omitempty"`     // "10.1.0.0/16", "2001:db8::/32", or a single address
	Ports  []uint16 `json:"ports,omitempty" yaml:"ports,omitempty"`   // empty: every port
}

// EgressPolicy is a hardened workspace's egress policy. A destination is a
// name (as the session asked for it, or the address literal), an address
// and a port; it is allowed only if both checks below allow it.
//
// Name check: the first Domain rule, in order, that matches the name and
// the port decides; when none matches, the name is allowed.
//
// Address check: an address in the always-denied set is refused whatever
// the rules say (loopback, unspecified, link-local 169.254/16 and
// fe80::/10, multicast, the cloud metadata addresses 169.254.169.254,
// fd00:ec2::254, 168.63.129.16 and 100.100.100.200, and the prefixes the
// node adds, such as its session address pool). Otherwise the first CIDR
// rule, in order, that matches the address and the port decides. When none
// matches, an address in an IANA special-purpose or private range is
// refused and any other is allowed.
//
// So the empty policy lets a session reach the public internet and
// nothing private; {"action":"deny","domain":"*"} after the allowed names
// makes an allow list; {"action":"allow","cidr":"10.1.0.0/16","ports":[443]}
// opens one private range on one port.
type EgressPolicy struct {
	// The yaml tags are for the files operators write (workspace
	// catalogs, airlock workspace --egress-file): the same names as JSON.
	Rules []EgressRule `json:"rules,omitempty" yaml:"rules,omitempty"`
}

// Validate reports the first rule that is malformed, by index, and why.
func (p EgressPolicy) Validate() error {
	if len(p.Rules) > MaxEgressRules {
		return Errorf(EINVALID, "egress policy has %d rules; at most %d are allowed", len(p.Rules), MaxEgressRules)
	}
	for i, r := range p.Rules {
		if err := r.validate(); err != nil {
			return Errorf(EINVALID, "egress policy rules[%d]: %s", i, err)
		}
	}
	return nil
}

func (r EgressRule) validate() error {
	if r.Action != EgressAllow && r.Action != EgressDeny {
		return fmt.Errorf("action %q is not %q or %q", r.Action, EgressAllow, EgressDeny)
	}
	switch {
	case r.Domain == "" && r.CIDR == "":
		return errors.New("a rule needs a domain or a cidr")
	case r.Domain != "" && r.CIDR != "":
		return errors.New("a rule has a domain or a cidr, not both; split it in two rules")
	case r.Domain != "":
		if err := validateEgressDomain(r.Domain); err != nil {
			return err
		}
	default:
		if _, err := ParseEgressCIDR(r.CIDR); err != nil {
			return err
		}
	}
	if len(r.Ports) > MaxEgressRulePorts {
		return fmt.Errorf("%d ports; at most %d per rule", len(r.Ports), MaxEgressRulePorts)
	}
	for _, p := range r.Ports {
		if p == 0 {
			return errors.New("port 0 is not a port; leave ports out to match every port")
		}
	}
	return nil
}

// validateEgressDomain accepts "*", a lowercase host name, or "*." and a
// lowercase host name. Names are ASCII: an internationalized name is
// written in its IDNA form (xn--...), as DNS carries it.
func validateEgressDomain(d string) error {
	if d == "*" {
		return nil
	}
	name := strings.TrimPrefix(d, "*.")
	if len(d) > maxDomainLen {
		return fmt.Errorf("domain is %d characters long; at most %d", len(d), maxDomainLen)
	}
	if strings.HasSuffix(name, ".") {
		return fmt.Errorf("domain %q: write it without the trailing dot", d)
	}
	if strings.Contains(name, "*") {
		return fmt.Errorf("domain %q: a wildcard is only allowed as the whole first label (*.example.com) or alone (*)", d)
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return fmt.Errorf("domain %q is an address; use cidr for addresses", d)
	}
	for _, label := range strings.Split(name, ".") {
		if err := validateLabel(label); err != nil {
			return fmt.Errorf("domain %q: %w", d, err)
		}
	}
	return nil
}

func validateLabel(l string) error {
	if l == "" {
		return errors.New("empty label")
	}
	if len(l) > maxLabelLen {
		return fmt.Errorf("label %q is %d characters long; at most %d", l, len(l), maxLabelLen)
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("label %q starts or ends with a hyphen", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		case c >= 'A' && c <= 'Z':
			return fmt.Errorf("label %q has uppercase letters; write the domain in lowercase", l)
		case c >= 0x80:
			return fmt.Errorf("label %q is not ASCII; write an internationalized name in its IDNA form (xn--...)", l)
		default:
			return fmt.Errorf("label %q has the character %q; a label has only letters, digits and hyphens", l, c)
		}
	}
	return nil
}

// ParseEgressCIDR parses a rule's CIDR: a prefix in canonical form
// ("10.1.0.0/16") or a single address. IPv4 addresses are written as IPv4,
// not IPv4-mapped IPv6, so a rule cannot be written two ways.
func ParseEgressCIDR(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, fmt.Errorf("cidr %q is not a prefix such as 10.1.0.0/16 or 2001:db8::/32", s)
		}
		if p.Masked() != p {
			return p, fmt.Errorf("cidr %q has bits set past the prefix length; did you mean %s?", s, p.Masked())
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return p, fmt.Errorf("cidr %q is not a prefix or an address", s)
		}
		if a.Zone() != "" {
			return p, fmt.Errorf("cidr %q has a zone; zones are not allowed", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		return p, fmt.Errorf("cidr %q is IPv4-mapped IPv6; write the IPv4 form", s)
	}
	return p, nil
}

// ParseEgressPolicy decodes a policy from JSON, refusing unknown fields and
// trailing data, and validates it.
func ParseEgressPolicy(data []byte) (EgressPolicy, error) {
	var p EgressPolicy
	if len(data) > MaxEgressPolicySize {
		return p, Errorf(EINVALID, "egress policy is %d bytes; at most %d", len(data), MaxEgressPolicySize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return EgressPolicy{}, Errorf(EINVALID, "egress policy is not valid JSON of the policy's form: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return EgressPolicy{}, Errorf(EINVALID, "egress policy has data after the policy object")
	}
	if err := p.Validate(); err != nil {
		return EgressPolicy{}, err
	}
	return p, nil
}

// Validate reports why one rule is malformed, for callers that name the
// rule their own way (a command-line flag) rather than by its index.
func (r EgressRule) Validate() error {
	if err := r.validate(); err != nil {
		return Errorf(EINVALID, "%s", err)
	}
	return nil
}
