package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// ParseEgressRule parses the short form of an egress rule that
// `airlock workspace --allow` and `--deny` take: a domain or a CIDR, then
// optionally ':' and a comma-separated list of ports.
//
//	*.example.com           every name below example.com, every port
//	example.com:443,8443    example.com on two ports
//	10.0.0.0/8              a range, every port
//	10.0.0.0/8:22           a range on one port
//	2001:db8::/32           an IPv6 range (no ports: its colons would be read as one)
//	[2001:db8::/32]:443     an IPv6 range or address with ports
//
// action is airlock.EgressAllow or airlock.EgressDeny.
func ParseEgressRule(action, s string) (airlock.EgressRule, error) {
	r := airlock.EgressRule{Action: action}
	if s == "" {
		return r, errors.New("empty rule: give a domain (*.example.com) or a CIDR (10.0.0.0/8), optionally with :PORT,PORT")
	}
	if strings.TrimSpace(s) != s || strings.ContainsAny(s, " \t") {
		return r, fmt.Errorf("rule %q has spaces: write DOMAIN[:PORTS] or CIDR[:PORTS] with ports separated by commas only", s)
	}
	if strings.Contains(s, "://") {
		return r, fmt.Errorf("rule %q is a URL: give the domain alone (example.com) and the port after ':' (example.com:443)", s)
	}
	target, ports, err := splitRule(s)
	if err != nil {
		return r, err
	}
	if ports != "" || strings.HasSuffix(s, ":") {
		if r.Ports, err = parsePorts(s, ports); err != nil {
			return r, err
		}
	}
	if isAddressLike(target) {
		if _, err := airlock.ParseEgressCIDR(target); err != nil {
			return r, fmt.Errorf("rule %q: %v", s, err)
		}
		r.CIDR = target
	} else {
		r.Domain = target
	}
	if err := r.Validate(); err != nil {
		return r, fmt.Errorf("rule %q: %s", s, airlock.ErrorMessage(err))
	}
	return r, nil
}

// splitRule separates a rule's target from its ports.
func splitRule(s string) (target, ports string, err error) {
	if rest, ok := strings.CutPrefix(s, "["); ok {
		inner, after, ok := strings.Cut(rest, "]")
		if !ok {
			return "", "", fmt.Errorf("rule %q opens [ without closing it: write [2001:db8::/32]:443", s)
		}
		if after == "" {
			return inner, "", nil
		}
		p, ok := strings.CutPrefix(after, ":")
		if !ok {
			return "", "", fmt.Errorf("rule %q: after ] comes :PORTS or nothing", s)
		}
		return inner, p, nil
	}
	// A bare IPv6 address or prefix: its colons are not a port separator.
	if _, err := netip.ParsePrefix(s); err == nil {
		return s, "", nil
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return s, "", nil
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, "", nil
	}
	target, ports = s[:i], s[i+1:]
	if strings.Contains(target, ":") {
		return "", "", fmt.Errorf("rule %q: an IPv6 address or range with ports is written in brackets, e.g. [2001:db8::/32]:443", s)
	}
	if target == "" {
		return "", "", fmt.Errorf("rule %q has ports but no domain or CIDR before the ':'", s)
	}
	return target, ports, nil
}

// isAddressLike reports whether a rule's target is meant as an address
// or a prefix rather than a name: it has a '/' or a ':', or it parses as
// an address. A name with only digits and dots ("10.0.0") is taken as a
// mistyped address, which ParseEgressCIDR then refuses, rather than a
// domain the proxy would never see.
func isAddressLike(t string) bool {
	if strings.ContainsAny(t, "/:") {
		return true
	}
	if _, err := netip.ParseAddr(t); err == nil {
		return true
	}
	return strings.Trim(t, "0123456789.") == ""
}

// parsePorts parses "443,8443": decimal ports 1-65535, each once.
func parsePorts(rule, list string) ([]uint16, error) {
	if list == "" {
		return nil, fmt.Errorf("rule %q ends with ':' but lists no port; leave out the ':' to match every port", rule)
	}
	var out []uint16
	for _, f := range strings.Split(list, ",") {
		if f == "" {
			return nil, fmt.Errorf("rule %q: empty port in %q; separate ports with single commas", rule, list)
		}
		if strings.Contains(f, "-") {
			return nil, fmt.Errorf("rule %q: port ranges (%s) are not supported; list each port", rule, f)
		}
		n, err := strconv.ParseUint(f, 10, 16)
		if err != nil || n == 0 || f[0] == '+' {
			return nil, fmt.Errorf("rule %q: port %q is not a number from 1 to 65535", rule, f)
		}
		if slices.Contains(out, uint16(n)) {
			return nil, fmt.Errorf("rule %q: port %d is listed twice", rule, n)
		}
		out = append(out, uint16(n))
	}
	return out, nil
}

// ReadEgressFile reads an egress policy from a file of JSON (if it starts
// with '{') or YAML, refusing unknown fields, and validates it.
//
//	rules:
//	  - action: allow
//	    domain: "*.example.com"
//	    ports: [443]
//	  - action: deny
//	    cidr: 10.0.0.0/8
func ReadEgressFile(path string) (airlock.EgressPolicy, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return airlock.EgressPolicy{}, fmt.Errorf("egress file: %w", err)
	}
	p, err := ParseEgressFile(raw)
	if err != nil {
		return airlock.EgressPolicy{}, fmt.Errorf("egress file %s: %w", path, err)
	}
	return p, nil
}

// ParseEgressFile is ReadEgressFile on the file's contents.
func ParseEgressFile(raw []byte) (airlock.EgressPolicy, error) {
	if len(raw) > airlock.MaxEgressPolicySize {
		return airlock.EgressPolicy{}, fmt.Errorf("%d bytes; an egress policy is at most %d", len(raw), airlock.MaxEgressPolicySize)
	}
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
		p, err := airlock.ParseEgressPolicy(t)
		if err != nil {
			return p, errors.New(airlock.ErrorMessage(err))
		}
		return p, nil
	}
	var p airlock.EgressPolicy
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return p, errors.New(`empty: write "rules:" and a list of rules, or {"rules":[]} for the empty policy`)
		}
		hint := ""
		if bytes.Contains(raw, []byte(": *")) || bytes.Contains(raw, []byte("- *")) {
			hint = `; a value starting with * is a YAML alias: quote domains like "*.example.com"`
		}
		return p, fmt.Errorf("not an egress policy in YAML or JSON: %v%s", err, hint)
	}
	if err := p.Validate(); err != nil {
		return p, errors.New(airlock.ErrorMessage(err))
	}
	return p, nil
}
