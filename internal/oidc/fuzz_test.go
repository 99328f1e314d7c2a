package oidc

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// The fuzz targets cover what reads untrusted input: the sealed state (from
// a cookie), the groups claim and the discovery document (from the
// provider). Their seed corpora live in testdata/fuzz/<FuzzName>/ and run as
// ordinary tests under `go test`; `go test -fuzz` explores from there.

func FuzzOpenState(f *testing.F) {
	s := testSealer(f)
	f.Add(s.Seal(goodState()))
	f.Fuzz(func(t *testing.T, text string) {
		ls, err := s.Open(text)
		if err != nil {
			if !errors.Is(err, ErrStateUnknown) {
				t.Fatalf("error %v does not wrap ErrStateUnknown", err)
			}
			if ls != (LoginState{}) {
				t.Fatalf("non-zero state %+v with an error", ls)
			}
			if len(text) > 40 && strings.Contains(err.Error(), text) {
				t.Fatalf("the error repeats the sealed state")
			}
			return
		}
		// Only a state sealed under the key opens, and it is well formed.
		if err := ls.check(); err != nil {
			t.Fatalf("Open accepted an ill-formed state: %v", err)
		}
		again, err := s.Open(s.Seal(ls))
		if err != nil || again != ls {
			t.Fatalf("reseal = %+v, %v; want %+v", again, err, ls)
		}
	})
}

func FuzzParseGroups(f *testing.F) {
	f.Add([]byte(`["a","b"]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		groups, present, err := parseGroups("groups", raw)
		if err != nil {
			if !errors.Is(err, ErrClaims) {
				t.Fatalf("error %v does not wrap ErrClaims", err)
			}
			if groups != nil || present {
				t.Fatalf("groups %q present %v with an error", groups, present)
			}
			return
		}
		if !present {
			if groups != nil {
				t.Fatalf("groups %q without the claim", groups)
			}
			return
		}
		if groups == nil || len(groups) > maxGroups {
			t.Fatalf("present with %d groups (nil %v)", len(groups), groups == nil)
		}
		seen := map[string]bool{}
		for _, g := range groups {
			if g == "" || len(g) > maxGroupNameLen || !utf8.ValidString(g) || seen[g] {
				t.Fatalf("bad or repeated name %q in %q", g, groups)
			}
			seen[g] = true
		}
		// Whatever was accepted was valid JSON of the accepted kinds, and
		// says the same groups again.
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("accepted invalid JSON %q", raw)
		}
		var want []string
		switch x := v.(type) {
		case string:
			want = []string{x}
		case []any:
			for _, e := range x {
				if s := e.(string); !slices.Contains(want, s) {
					want = append(want, s)
				}
			}
			if want == nil {
				want = []string{}
			}
		default:
			t.Fatalf("accepted a %T", v)
		}
		if !slices.Equal(groups, want) {
			t.Fatalf("groups %q, want %q", groups, want)
		}
	})
}

func FuzzParseDiscovery(f *testing.F) {
	const iss = "https://idp.test"
	f.Add([]byte(`{"issuer":"https://idp.test","authorization_endpoint":"https://idp.test/a","token_endpoint":"https://idp.test/t","jwks_uri":"https://idp.test/k"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := parseDiscovery(body, iss, "the document")
		if err != nil {
			if !errors.Is(err, ErrDiscovery) && !errors.Is(err, ErrIssuerMismatch) {
				t.Fatalf("error %v wraps neither ErrDiscovery nor ErrIssuerMismatch", err)
			}
			if d != nil {
				t.Fatal("a document with an error")
			}
			return
		}
		if d.Issuer != iss || d.AuthorizationEndpoint == "" || d.TokenEndpoint == "" || d.JWKSURI == "" {
			t.Fatalf("accepted %+v", d)
		}
		if len(d.CodeChallengeMethods) > 0 && !slices.Contains(d.CodeChallengeMethods, "S256") {
			t.Fatalf("accepted PKCE methods %q", d.CodeChallengeMethods)
		}
	})
}
