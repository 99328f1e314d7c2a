package oidc

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// testBadTokens is the ID token matrix. Each case says where its token
// comes from:
//   - hydra: Hydra issued and signed it; the login itself was steered (a
//     nonce changed on the way, the clock moved, another client's token);
//   - tampered: Hydra's token with its bytes changed at the front;
//   - self-signed: the test signed it with its own key, which the front
//     publishes in Hydra's JWKS (or, for "unknown key", does not), since
//     Hydra never issues a token with another issuer or several audiences.
//
// The "self-signed, all right" case is the control: the test key's tokens
// are accepted when nothing is wrong, so each self-signed refusal is for
// the reason the case names.
func testBadTokens(t *testing.T, h *hydra) {
	other := newTestKey(t, "not-published")
	cases := []struct {
		name   string
		source string
		// setup runs on the relying party before the login; it may set a
		// tamper, move the clock, or return an edit of the authorization URL.
		setup   func(t *testing.T, r *rp) func(string) string
		opts    []rpOption
		wantErr error
		errText string
	}{
		{
			name: "wrong nonce", source: "hydra",
			setup: func(t *testing.T, r *rp) func(string) string {
				return func(u string) string { return setParam(t, u, "nonce", "a-nonce-of-another-login") }
			},
			wantErr: ErrNonceMismatch, errText: "not the one this login sent",
		},
		{
			name: "expired", source: "hydra, clock moved past its 1h lifetime",
			opts: []rpOption{func(c *Config) { c.StateTTL = 3 * time.Hour }},
			setup: func(t *testing.T, r *rp) func(string) string {
				r.clock.Advance(2 * time.Hour)
				return nil
			},
			wantErr: ErrExpired, errText: "the token expired at",
		},
		{
			name: "wrong audience", source: "hydra, another client's token swapped in",
			setup: func(t *testing.T, r *rp) func(string) string {
				b := h.newRP(t, &behaviour{Subject: "alice", Claims: alice}, false)
				res, err := b.finish(t)
				if err != nil {
					t.Fatalf("the other client's login: %v", err)
				}
				h.setTamper(r.client.ID, func(string) string { return res.IDToken })
				return nil
			},
			wantErr: ErrWrongAudience, errText: "expected audience",
		},
		{
			name: "bad signature", source: "tampered: a bit of the signature flipped",
			setup: tamper(h, func(t *testing.T, raw string) string {
				parts := strings.Split(raw, ".")
				sig, err := base64.RawURLEncoding.DecodeString(parts[2])
				if err != nil {
					t.Fatalf("Hydra's signature is not base64url: %v", err)
				}
				sig[len(sig)/2] ^= 1
				return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
			}),
			wantErr: ErrBadSignature, errText: "failed to verify signature",
		},
		{
			name: "claims changed", source: "tampered: groups rewritten, Hydra's signature kept",
			setup: tamper(h, func(t *testing.T, raw string) string {
				parts := strings.Split(raw, ".")
				c := jwtClaims(t, raw)
				c["groups"] = []string{"admins", "root"}
				return parts[0] + "." + encodeSegment(t, c) + "." + parts[2]
			}),
			wantErr: ErrBadSignature, errText: "failed to verify signature",
		},
		{
			name: "self-signed, all right", source: "self-signed: Hydra's claims re-signed with the test key",
			setup: resign(h, h.key, func(c map[string]any) {}),
		},
		{
			name: "wrong issuer", source: "self-signed",
			setup:   resign(h, h.key, func(c map[string]any) { c["iss"] = "https://idp.evil.test" }),
			wantErr: ErrWrongIssuer, errText: `got "https://idp.evil.test"`,
		},
		{
			name: "several audiences, no authorized party", source: "self-signed",
			setup: func(t *testing.T, r *rp) func(string) string {
				return resign(h, h.key, func(c map[string]any) { c["aud"] = []string{r.client.ID, "another-client"}; delete(c, "azp") })(t, r)
			},
			wantErr: ErrWrongAudience, errText: "authorized party",
		},
		{
			name: "not yet valid", source: "self-signed",
			setup:   resign(h, h.key, func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() }),
			wantErr: ErrNotYetValid, errText: "nbf",
		},
		{
			name: "no nonce", source: "self-signed",
			setup:   resign(h, h.key, func(c map[string]any) { delete(c, "nonce") }),
			wantErr: ErrNonceMismatch, errText: "has no nonce",
		},
		{
			name: "unknown key", source: "self-signed with a key the JWKS does not have",
			setup:   resign(h, other, func(c map[string]any) {}),
			wantErr: ErrBadSignature, errText: "failed to verify signature",
		},
		{
			name: "unsigned", source: `self-made with alg "none"`,
			setup: tamper(h, func(t *testing.T, raw string) string {
				head := encodeSegment(t, map[string]any{"alg": "none", "typ": "JWT"})
				return head + "." + strings.Split(raw, ".")[1] + "."
			}),
			wantErr: ErrBadSignature, errText: "algorithm",
		},
		{
			name: "not a JWT", source: "tampered",
			setup:   tamper(h, func(t *testing.T, raw string) string { return "not-a-token" }),
			wantErr: ErrMalformed, errText: "malformed jwt",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := h.newRP(t, &behaviour{Subject: "alice", Claims: alice}, false, tc.opts...)
			edit := tc.setup(t, r)
			cb, l := r.login(t, nil, "/", edit)
			res, err := r.p.Finish(t.Context(), cb, l.Sealed)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Finish (token: %s): %v", tc.source, err)
				}
				if res.Identity.Subject != "alice" || !res.Identity.GroupsPresent {
					t.Fatalf("identity %+v", res.Identity)
				}
				return
			}
			if err == nil {
				t.Fatalf("Finish accepted the token (%s)", tc.source)
			}
			if !errors.Is(err, tc.wantErr) || !errors.Is(err, ErrIDToken) || !strings.Contains(err.Error(), tc.errText) {
				t.Fatalf("Finish error %v, want %v with %q (token: %s)", err, tc.wantErr, tc.errText, tc.source)
			}
		})
	}
}

// tamper sets the front to rewrite the relying party's ID token with f.
func tamper(h *hydra, f func(t *testing.T, raw string) string) func(*testing.T, *rp) func(string) string {
	return func(t *testing.T, r *rp) func(string) string {
		h.setTamper(r.client.ID, func(raw string) string { return f(t, raw) })
		return nil
	}
}

// resign sets the front to replace the ID token by Hydra's claims, edited,
// signed with key.
func resign(h *hydra, key *testKey, edit func(map[string]any)) func(*testing.T, *rp) func(string) string {
	return tamper(h, func(t *testing.T, raw string) string {
		c := jwtClaims(t, raw)
		edit(c)
		return key.sign(t, c)
	})
}

func setParam(t *testing.T, raw, key, value string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// testBadStates covers the login state and the code: replayed, swapped,
// missing, expired, and a code exchanged twice or with another verifier.
func testBadStates(t *testing.T, h *hydra) {
	claims := map[string]any{"groups": []string{"g"}}
	t.Run("state replayed", func(t *testing.T) {
		t.Parallel()
		r := h.newRP(t, &behaviour{Subject: "erin", Claims: claims}, false)
		cb, l := r.login(t, nil, "/", nil)
		if _, err := r.p.Finish(t.Context(), cb, l.Sealed); err != nil {
			t.Fatalf("first Finish: %v", err)
		}
		_, err := r.p.Finish(t.Context(), cb, l.Sealed)
		wantErr(t, err, ErrStateReplayed, "already used")
	})
	t.Run("state from another login", func(t *testing.T) {
		t.Parallel()
		r := h.newRP(t, &behaviour{Subject: "erin", Claims: claims}, false)
		cb1, _ := r.login(t, nil, "/", nil)
		_, l2 := r.login(t, nil, "/", nil)
		_, err := r.p.Finish(t.Context(), cb1, l2.Sealed)
		wantErr(t, err, ErrStateMismatch, "another login")
	})
	t.Run("state kept in another browser", func(t *testing.T) {
		t.Parallel()
		r := h.newRP(t, &behaviour{Subject: "erin", Claims: claims}, false)
		cb, _ := r.login(t, nil, "/", nil)
		_, err := r.p.Finish(t.Context(), cb, "")
		wantErr(t, err, ErrStateUnknown, "cookie is missing")
	})
	t.Run("state sealed for another provider", func(t *testing.T) {
		t.Parallel()
		key := randomBytes(StateKeySize)
		withKey := func(c *Config) { c.StateKey = key }
		a := h.newRP(t, &behaviour{Subject: "erin", Claims: claims}, false, withKey)
		b := h.newRP(t, &behaviour{Subject: "erin", Claims: claims}, false, withKey)
		cb, _ := b.login(t, nil, "/", nil)
		lb, err := b.p.Begin("/")
		if err != nil {
			t.Fatal(err)
		}
		cb.State = lb.State
		_, err = a.p.Finish(t.Context(), cb, lb.Sealed)
		wantErr(t, err, ErrStateUnknown, "another key or for another provider")
	})
	t.Run("state expired", func(t *testing.T) {
		t.Parallel()
		r := h.newRP(t, &behaviour{Subject: "erin", Claims: claims}, false)
		cb, l := r.login(t, nil, "/", nil)
		r.clock.Advance(DefaultStateTTL + time.Second)
		_, err := r.p.Finish(t.Context(), cb, l.Sealed)
		wantErr(t, err, ErrStateExpired, "more than 10m0s ago")
	})
	t.Run("code used twice", func(t *testing.T) {
		t.Parallel()
		r := h.newRP(t, &behaviour{Subject: "erin", Claims: claims}, false)
		cb, l := r.login(t, nil, "/", nil)
		if _, err := r.p.Finish(t.Context(), cb, l.Sealed); err != nil {
			t.Fatalf("first Finish: %v", err)
		}
		// A fresh, valid state with the spent code: the state passes and
		// Hydra refuses the code.
		l2, err := r.p.Begin("/")
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.p.Finish(t.Context(), Callback{State: l2.State, Code: cb.Code, Issuer: cb.Issuer}, l2.Sealed)
		wantErr(t, err, ErrExchange, "invalid_grant")
	})
	t.Run("code with another PKCE verifier", func(t *testing.T) {
		t.Parallel()
		r := h.newRP(t, &behaviour{Subject: "erin", Claims: claims}, false)
		cb, l := r.login(t, nil, "/", nil)
		ls, err := r.p.sealer.Open(l.Sealed)
		if err != nil {
			t.Fatal(err)
		}
		ls.Verifier = randomString()
		_, err = r.p.Finish(t.Context(), cb, r.p.sealer.Seal(ls))
		wantErr(t, err, ErrExchange, "invalid_grant")
	})
	t.Run("callback from another issuer", func(t *testing.T) {
		t.Parallel()
		r := h.newRP(t, &behaviour{Subject: "erin", Claims: claims}, false)
		cb, l := r.login(t, nil, "/", nil)
		cb.Issuer = "https://idp.evil.test"
		_, err := r.p.Finish(t.Context(), cb, l.Sealed)
		wantErr(t, err, ErrCallback, "mix-up")
	})
}

func wantErr(t *testing.T, err, want error, text string) {
	t.Helper()
	if !errors.Is(err, want) || !strings.Contains(err.Error(), text) {
		t.Fatalf("error %v, want %v with %q", err, want, text)
	}
}
