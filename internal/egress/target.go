package egress

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// target is the destination of one proxy request.
type target struct {
	host string     // a normalized name (lowercase, no trailing dot), or the address literal
	addr netip.Addr // the address when host is a literal; zero for a name
	port uint16
}

func (t target) String() string { return hostPort(t.host, t.port) }

// parseTarget takes the destination from a proxy request's method and
// request target (RFC 9112 3.2): the authority ("host:port") of a CONNECT,
// or the absolute URI ("http://host[:port]/...") of any other method. It
// refuses what a browser's proxy client never sends: another scheme (an
// https URL goes through CONNECT), userinfo, a missing port on CONNECT, an
// address with a zone, and names that are not host names.
func parseTarget(method, requestTarget string) (target, *Refusal) {
	if method == "CONNECT" {
		return parseAuthority(requestTarget)
	}
	if !strings.HasPrefix(strings.ToLower(requestTarget), "http://") {
		if strings.HasPrefix(strings.ToLower(requestTarget), "https://") {
			return target{}, refuse(ReasonBadRequest, "%s %q: an https URL is reached through a CONNECT tunnel, not sent to the proxy", method, requestTarget)
		}
		return target{}, refuse(ReasonBadRequest, "%s %q: this is an egress proxy; the request target must be an absolute http:// URL or, with CONNECT, host:port", method, requestTarget)
	}
	u, err := url.ParseRequestURI(requestTarget)
	if err != nil {
		return target{}, refuse(ReasonBadRequest, "%s %q: the URL does not parse: %v", method, requestTarget, err)
	}
	if u.Scheme != "http" || u.Opaque != "" {
		return target{}, refuse(ReasonBadRequest, "%s %q: the request target must be an absolute http:// URL", method, requestTarget)
	}
	if u.User != nil {
		return target{}, refuse(ReasonBadRequest, "%s %q: the URL carries userinfo, which is not forwarded", method, requestTarget)
	}
	if u.Host == "" {
		return target{}, refuse(ReasonBadRequest, "%s %q: the URL names no host", method, requestTarget)
	}
	port := uint16(80)
	if p := u.Port(); p != "" {
		var r *Refusal
		if port, r = parsePort(p, requestTarget); r != nil {
			return target{}, r
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return target{}, refuse(ReasonBadRequest, "%q has an empty port", requestTarget)
	}
	return parseHost(u.Hostname(), port, requestTarget)
}

// parseAuthority parses a CONNECT authority: host:port, with an IPv6
// address in brackets.
func parseAuthority(authority string) (target, *Refusal) {
	host, p, err := net.SplitHostPort(authority)
	if err != nil {
		return target{}, refuse(ReasonBadRequest, "CONNECT %q: the target must be host:port: %v", authority, err)
	}
	port, r := parsePort(p, authority)
	if r != nil {
		return target{}, r
	}
	t, r := parseHost(host, port, authority)
	if r != nil {
		return target{}, r
	}
	// Brackets hold an IPv6 address and only that (RFC 3986 3.2.2);
	// SplitHostPort already refuses an IPv6 address without them.
	if strings.HasPrefix(authority, "[") && !(t.addr.IsValid() && strings.Contains(host, ":")) {
		return target{}, refuse(ReasonBadRequest, "CONNECT %q: an IPv6 address is written in brackets, and nothing else is", authority)
	}
	return t, nil
}

func parsePort(p, in string) (uint16, *Refusal) {
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 || p[0] < '0' || p[0] > '9' {
		return 0, refuse(ReasonBadRequest, "%q: port %q is not a number from 1 to 65535", in, p)
	}
	return uint16(n), nil
}

// parseHost accepts an address literal without a zone, or a host name:
// labels of letters, digits, hyphens and underscores, at most 63
// characters each and 253 in all, the last not all digits (so "127.1"
// and "2130706433", which some resolvers read as addresses, are refused
// rather than looked up as names).
func parseHost(host string, port uint16, in string) (target, *Refusal) {
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return target{}, refuse(ReasonBadRequest, "%q: an address with a zone is not a destination", in)
		}
		return target{host: a.Unmap().String(), addr: a.Unmap(), port: port}, nil
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if name == "" || len(name) > maxNameLen {
		return target{}, refuse(ReasonBadRequest, "%q: the host name is empty or longer than %d characters", in, maxNameLen)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return target{}, refuse(ReasonBadRequest, "%q: host name label %q is empty or longer than 63 characters", in, l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return target{}, refuse(ReasonBadRequest, "%q: host name label %q has the character %q; a host name has only letters, digits, hyphens and underscores", in, l, c)
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return target{}, refuse(ReasonBadRequest, "%q: %q is neither an IP address nor a host name (its last label is a number)", in, host)
	}
	return target{host: name, port: port}, nil
}
