package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// The fuzz targets check the parsers' invariants on arbitrary input. Their
// seed corpora live in testdata/fuzz/<FuzzName>/ and run as ordinary tests
// under `go test`; `go test -fuzz` explores from there.

func FuzzParseToken(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedToken) || !tokenErrRE.MatchString(err.Error()) {
				t.Fatalf("unexpected error %q", err)
			}
			if tok != (Token{}) {
				t.Fatalf("non-zero token %+v with an error", tok)
			}
			return
		}
		// Accepted input has exactly one spelling.
		if got := tok.String(); got != s {
			t.Fatalf("String() = %q, want the input %q", got, s)
		}
		again, err := ParseToken(tok.String())
		if err != nil || again != tok {
			t.Fatalf("re-parse = %+v, %v", again, err)
		}
		if !VerifyTokenHash(tok, tok.Hash()) {
			t.Fatal("a parsed token does not verify against its own hash")
		}
	})
}

func FuzzParseJoinToken(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		j, err := ParseJoinToken(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedToken) || !joinTokenErrRE.MatchString(err.Error()) {
				t.Fatalf("unexpected error %q", err)
			}
			if j != (JoinToken{}) {
				t.Fatalf("non-zero join token %+v with an error", j)
			}
			return
		}
		if got := j.String(); got != strings.TrimSpace(s) {
			t.Fatalf("String() = %q, want the trimmed input %q", got, strings.TrimSpace(s))
		}
		again, err := ParseJoinToken(j.String())
		if err != nil || again != j {
			t.Fatalf("re-parse = %+v, %v", again, err)
		}
		if _, err := NewJoinToken(j.CAFingerprint); err != nil {
			t.Fatalf("parsed fingerprint refused by NewJoinToken: %v", err)
		}
	})
}

// fuzzKey and fuzzNow are fixed so the committed seeds, signed with them,
// stay valid and the fuzzer starts from tokens that pass.
var (
	fuzzKey = []byte("airlock fuzz key, 32+ bytes long, not a secret")
	fuzzNow = time.Unix(1_700_000_000, 0)
)

func FuzzSignerVerify(f *testing.F) {
	s := mustSigner(f, fuzzKey, fuzzNow)
	stranger := mustSigner(f, otherKey, fuzzNow)
	f.Fuzz(func(t *testing.T, token, audience string) {
		c, err := s.Verify(token, audience)
		if err != nil {
			if !errors.Is(err, ErrTokenInvalid) && !errors.Is(err, ErrTokenExpired) && !errors.Is(err, ErrTokenAudience) {
				t.Fatalf("error %v wraps none of the sentinels", err)
			}
			if c != (Claims{}) {
				t.Fatalf("claims %+v returned with an error", c)
			}
			return
		}
		// Success requires the MAC. Recompute it independently of
		// mac: the token must be exactly payload "." (key ID || MAC(key
		// ID, payload)), or a v1 token: payload "." MAC(payload).
		p, m, _ := strings.Cut(token, ".")
		id := keyID(fuzzKey)
		h := hmac.New(sha256.New, fuzzKey)
		h.Write([]byte(macContext + string(id) + "." + p))
		want := base64.RawURLEncoding.EncodeToString(append(id, h.Sum(nil)...))
		h1 := hmac.New(sha256.New, fuzzKey)
		h1.Write([]byte(macContextV1 + p))
		wantV1 := base64.RawURLEncoding.EncodeToString(h1.Sum(nil))
		if m != want && m != wantV1 {
			t.Fatalf("accepted token whose MAC part %q is neither the MAC %q nor the v1 MAC %q", m, want, wantV1)
		}
		if c.Audience != audience || audience == "" {
			t.Fatalf("accepted audience %q for %q", c.Audience, audience)
		}
		if c.Expires <= fuzzNow.Unix() || c.IssuedAt > fuzzNow.Add(iatLeeway).Unix() {
			t.Fatalf("accepted claims outside their validity: %+v", c)
		}
		if _, err := stranger.Verify(token, audience); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("a signer with another key accepted the token: %v", err)
		}
	})
}
