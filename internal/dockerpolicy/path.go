package dockerpolicy

import (
	"net/http"
	"path"
	"regexp"
	"strings"
	"unicode"
)

// versionPrefix is the form dockerd's router accepts ("/v{version:[0-9.]+}").
var versionPrefix = regexp.MustCompile(`^/v[0-9.]+(/|$)`)

// NormalizePath turns a decoded request path into the canonical form the
// route table is written in: dot segments resolved, doubled and trailing
// slashes removed, the API version prefix stripped. Percent-encoding has
// already been decoded by net/http, so "%2e%2e" and "%2F" are judged by
// what they decode to. The node forwards the canonical path it rebuilt, so
// dockerd's own cleaning can never see a different route than the policy.
func NormalizePath(p string) (string, error) {
	if p == "" || p[0] != '/' {
		return "", badRequest("path", "request path %q is not absolute", p)
	}
	if len(p) > 4096 {
		return "", badRequest("path", "request path is longer than 4096 bytes")
	}
	for _, r := range p {
		if r == unicode.ReplacementChar || unicode.IsControl(r) {
			return "", badRequest("path", "request path %q has a control or invalid character", p)
		}
	}
	p = path.Clean(p)
	if m := versionPrefix.FindString(p); m != "" {
		p = path.Clean("/" + strings.TrimPrefix(p, strings.TrimSuffix(m, "/")))
		// dockerd strips one prefix; a second one names no route it serves,
		// and leaving it would make the canonical form not canonical.
		if versionPrefix.MatchString(p) {
			return "", badRequest("path", "request path has more than one API version prefix")
		}
	}
	return p, nil
}

// matchRoute finds the route for method and canonical path p and returns
// the values of its placeholders.
func matchRoute(method, p string) (*route, map[string]string, error) {
	segs := splitPath(p)
	for i := range routes {
		rt := &routes[i]
		if rt.method != method && !(method == http.MethodHead && rt.op == "ping") {
			continue
		}
		if params, ok := rt.match(segs); ok {
			return rt, params, nil
		}
	}
	return nil, nil, refuse("route", "%s %s is not an allowed operation on an Airlock provision node", method, p)
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// match reports whether segs fits the route's pattern. "{x}" matches one
// segment; "{x*}" matches one or more (image names contain slashes).
func (rt *route) match(segs []string) (map[string]string, bool) {
	pat := splitPath(rt.pattern)
	var params map[string]string
	for i, ps := range pat {
		if strings.HasPrefix(ps, "{") && strings.HasSuffix(ps, "*}") {
			rest := len(pat) - i - 1
			n := len(segs) - i - rest
			if n < 1 {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[ps[1:len(ps)-2]] = strings.Join(segs[i:i+n], "/")
			for j := 0; j < rest; j++ {
				if pat[i+1+j] != segs[i+n+j] {
					return nil, false
				}
			}
			return params, true
		}
		if i >= len(segs) {
			return nil, false
		}
		if strings.HasPrefix(ps, "{") {
			if params == nil {
				params = map[string]string{}
			}
			params[ps[1:len(ps)-1]] = segs[i]
			continue
		}
		if ps != segs[i] {
			return nil, false
		}
	}
	return params, len(pat) == len(segs)
}
