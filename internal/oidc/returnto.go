package oidc

import (
	"fmt"
	"net/url"
	"strings"
)

// maxReturnToLen bounds the return path, which rides in the sealed state and
// so in a cookie.
const maxReturnToLen = 1024

// checkReturnTo returns p as the local path to send the user to after login
// ("/" when empty), or an error wrapping ErrReturnTo. Only a path on
// Airlock's own origin passes: a return URL taken from a query parameter is
// the classic open redirect. "//host" and "/\host" are refused because
// browsers read both as another host.
func checkReturnTo(p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	if len(p) > maxReturnToLen {
		return "", fmt.Errorf("%w: %d bytes, more than %d", ErrReturnTo, len(p), maxReturnToLen)
	}
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return "", fmt.Errorf("%w: %q does not start with a single /", ErrReturnTo, p)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "", fmt.Errorf("%w: %q has a control character or a backslash", ErrReturnTo, p)
		}
	}
	u, err := url.Parse(p)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrReturnTo, p, err)
	}
	if u.Scheme != "" || u.Host != "" || u.User != nil {
		return "", fmt.Errorf("%w: %q names a scheme or host", ErrReturnTo, p)
	}
	return p, nil
}
