package egress

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseTarget feeds the proxy's request-target parsing arbitrary
// methods and targets. Whatever it accepts must be a destination the
// policy can decide on and the proxy can dial: a non-zero port, and a host
// that is either a zone-free, unmapped address literal or a normalized host
// name; and writing that destination back as a CONNECT authority must
// parse to the same destination. A refusal always names its reason.
func FuzzParseTarget(f *testing.F) {
	// The seed corpus is in testdata/fuzz/FuzzParseTarget.
	f.Fuzz(func(t *testing.T, method, requestTarget string) {
		got, ref := parseTarget(method, requestTarget)
		if ref != nil {
			if ref.Reason != ReasonBadRequest || ref.Message == "" {
				t.Fatalf("parseTarget(%q, %q) refused with %+v; want bad_request and a message", method, requestTarget, ref)
			}
			return
		}
		if got.port == 0 {
			t.Fatalf("parseTarget(%q, %q) = %+v: port 0", method, requestTarget, got)
		}
		if got.addr.IsValid() {
			if got.addr.Zone() != "" || got.addr.Is4In6() || got.host != got.addr.String() {
				t.Fatalf("parseTarget(%q, %q) = %+v: the literal is not a plain address", method, requestTarget, got)
			}
		} else {
			if _, err := netip.ParseAddr(got.host); err == nil {
				t.Fatalf("parseTarget(%q, %q) = %+v: an address taken for a name", method, requestTarget, got)
			}
			if got.host == "" || len(got.host) > maxNameLen || got.host != strings.ToLower(got.host) || strings.HasSuffix(got.host, ".") {
				t.Fatalf("parseTarget(%q, %q) = %+v: the name is not normalized", method, requestTarget, got)
			}
			if strings.ContainsAny(got.host, ":/@[]%\\ \t\r\n?#") {
				t.Fatalf("parseTarget(%q, %q) = %+v: the name holds a delimiter", method, requestTarget, got)
			}
		}
		authority := got.host + ":" + strconv.Itoa(int(got.port))
		if got.addr.Is6() {
			authority = "[" + got.host + "]:" + strconv.Itoa(int(got.port))
		}
		again, ref := parseTarget("CONNECT", authority)
		if ref != nil || again != got {
			t.Fatalf("parseTarget(%q, %q) = %+v, but its authority %q parses to %+v, %v", method, requestTarget, got, authority, again, ref)
		}
	})
}
