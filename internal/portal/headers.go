package portal

import (
	"net/http"
	"regexp"
	"strings"
)

// setSecurityHeaders sets the page's own Content-Security-Policy. The
// headers every answer carries (nosniff, framing, referrer, HSTS) are the
// gateway's, set in front of every service.
func setSecurityHeaders(h http.Header, host string) {
	h.Set("Content-Security-Policy", contentSecurityPolicy(host))
}

// contentSecurityPolicy allows only this origin's files: no inline script
// or style, no plugins, no framing, and DOM sinks locked by Trusted Types
// (the portal builds its DOM with textContent, never HTML strings).
//
// connect-src names wss://host beside 'self': CSP Level 3 lets 'self'
// match the same host's wss: URLs, and current browsers do, but older
// ones did not, and the signal relay is a WebSocket on this host. host
// comes from the request, so it is used only when it is a plain host
// name or address with an optional port, which cannot add a directive.
// media-src covers the viewer's video; a MediaStream set as srcObject
// is not fetched, blob: and mediastream: keep older engines working.
func contentSecurityPolicy(host string) string {
	connect := "'self'"
	if len(host) <= 255 && plainHost(host) {
		connect += " wss://" + host
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:", // the remote pointer's cursor image
		"font-src 'self'",
		"media-src 'self' blob: mediastream:",
		"connect-src " + connect,
		"object-src 'none'",
		"worker-src 'none'",
		"frame-src 'none'",
		"frame-ancestors 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"require-trusted-types-for 'script'",
		"trusted-types 'none'",
	}, "; ")
}

// plainHost matches a DNS name, an IPv4 address or a bracketed IPv6
// address, with an optional port, and nothing else.
var plainHost = regexp.MustCompile(`^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`).MatchString
