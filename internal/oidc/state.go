package oidc

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// LoginState is what a login must remember between Begin and Finish. It
// travels sealed (Login.Sealed): the browser holds it, cannot read or change
// it, and gives it back at the callback.
type LoginState struct {
	// State is the OAuth 2.0 state parameter, 256 random bits, which the
	// callback must carry back unchanged.
	State string `json:"s"`
	// Nonce is the OpenID Connect nonce the ID token must carry.
	Nonce string `json:"n"`
	// Verifier is the PKCE code verifier (RFC 7636) of the S256 challenge
	// sent with the authorization request.
	Verifier string `json:"v"`
	// ReturnTo is the local path to send the user to after login.
	ReturnTo string `json:"r"`
	// Expires is when the login stops being accepted, in Unix seconds.
	Expires int64 `json:"e"`
}

// sealedPrefix versions the sealed format, so a change of format is refused
// as unknown rather than misread.
const sealedPrefix = "v1."

// maxSealedLen bounds what Open decodes: a sealed state of the longest
// return path allowed is well under it, and cookies are under 4096 bytes.
const maxSealedLen = 3000

// randomLen is the number of random bytes in a state and a nonce.
const randomLen = 32

// sealer seals and opens login states with AES-256-GCM. The additional data
// binds a sealed state to one provider and client, so a state begun for one
// provider cannot finish at another that shares the key.
type sealer struct {
	aead cipher.AEAD
	ad   []byte
}

func newSealer(key []byte, issuer, clientID string) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: state key: %w", ErrConfig, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: state key: %w", ErrConfig, err)
	}
	ad := []byte("airlock oidc login state v1\x00" + issuer + "\x00" + clientID)
	return &sealer{aead: aead, ad: ad}, nil
}

// Seal returns ls encrypted and authenticated, as URL- and cookie-safe text.
func (s *sealer) Seal(ls LoginState) string {
	plain, err := json.Marshal(ls)
	if err != nil {
		// A struct of strings and an int always marshals.
		panic(fmt.Sprintf("oidc: marshal login state: %v", err))
	}
	nonce := randomBytes(s.aead.NonceSize())
	out := s.aead.Seal(nonce, nonce, plain, s.ad)
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(out)
}

// Open returns the login state sealed in text, or an error wrapping
// ErrStateUnknown that says why it is not one of ours. It checks the form of
// every field, not their meaning: matching the callback's state and the
// expiry are the caller's.
func (s *sealer) Open(text string) (LoginState, error) {
	var zero LoginState
	if text == "" {
		return zero, fmt.Errorf("%w: no login state was kept for this callback (the state cookie is missing: the login was begun in another browser, or it expired)", ErrStateUnknown)
	}
	if len(text) > maxSealedLen {
		return zero, fmt.Errorf("%w: the kept login state is %d bytes, more than %d", ErrStateUnknown, len(text), maxSealedLen)
	}
	rest, ok := strings.CutPrefix(text, sealedPrefix)
	if !ok {
		return zero, fmt.Errorf("%w: the kept login state is not of format %s", ErrStateUnknown, strings.TrimSuffix(sealedPrefix, "."))
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return zero, fmt.Errorf("%w: the kept login state is not base64url: %w", ErrStateUnknown, err)
	}
	ns := s.aead.NonceSize()
	if len(raw) < ns+s.aead.Overhead() {
		return zero, fmt.Errorf("%w: the kept login state is too short (%d bytes)", ErrStateUnknown, len(raw))
	}
	plain, err := s.aead.Open(nil, raw[:ns], raw[ns:], s.ad)
	if err != nil {
		return zero, fmt.Errorf("%w: the kept login state does not open: tampered with, or sealed with another key or for another provider", ErrStateUnknown)
	}
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	var ls LoginState
	if err := dec.Decode(&ls); err != nil {
		return zero, fmt.Errorf("%w: the kept login state does not decode: %w", ErrStateUnknown, err)
	}
	if dec.More() {
		return zero, fmt.Errorf("%w: the kept login state has trailing data", ErrStateUnknown)
	}
	if err := ls.check(); err != nil {
		return zero, fmt.Errorf("%w: %w", ErrStateUnknown, err)
	}
	return ls, nil
}

// check verifies the form of a login state's fields.
func (ls LoginState) check() error {
	for _, f := range []struct{ name, v string }{{"state", ls.State}, {"nonce", ls.Nonce}, {"PKCE verifier", ls.Verifier}} {
		if f.v == "" {
			return fmt.Errorf("the login state has no %s", f.name)
		}
		if !isBase64URL(f.v) || len(f.v) > 128 {
			return fmt.Errorf("the login state's %s is not up to 128 base64url characters", f.name)
		}
	}
	if _, err := checkReturnTo(ls.ReturnTo); err != nil {
		return fmt.Errorf("the login state's return path: %w", err)
	}
	if ls.Expires <= 0 {
		return fmt.Errorf("the login state has no expiry")
	}
	return nil
}

// ExpiresAt is Expires as a time.
func (ls LoginState) ExpiresAt() time.Time { return time.Unix(ls.Expires, 0) }

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// randomBytes returns n bytes from crypto/rand, which never fails (it
// crashes the program when the system's generator is broken).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// randomString returns randomLen random bytes as base64url.
func randomString() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(randomLen))
}
