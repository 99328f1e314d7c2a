package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"
)

// Sentinel errors of Signer.Verify, for callers to decide on. Each is
// wrapped with a short reason meant for the operator's log.
var (
	ErrTokenInvalid  = errors.New("token invalid")
	ErrTokenExpired  = errors.New("token expired")
	ErrTokenAudience = errors.New("token for another audience")
)

const (
	// minSignerKeyLen matches SHA-256's output: with a shorter key the key,
	// not the MAC, would be the easiest thing to guess.
	minSignerKeyLen = 32
	// maxSignedTokenLen bounds what Verify will MAC, so garbage of any size
	// costs the same. Sign refuses to produce anything longer.
	maxSignedTokenLen = 4096
	// iatLeeway tolerates clocks of different hosts that disagree a little
	// about when a token was issued. Expiry gets no leeway: a token's
	// lifetime is chosen by the issuer and should not silently grow.
	iatLeeway = 30 * time.Second
	// macContext is prefixed to every MAC input so a key shared with
	// another HMAC use (such as TURN credentials) cannot be made to
	// produce or accept tokens of this format, and the format can be
	// versioned. v2 MACs also cover the key ID; v1 (tokens signed before
	// keys had IDs) is only verified, never produced.
	macContext   = "airlock-signed-token-v2."
	macContextV1 = "airlock-signed-token-v1."
	nonceBytes   = 16
	// keyIDLen is the key ID's size at the head of the signature. It only
	// picks the key to check with; it is not secret and adds no strength.
	keyIDLen = 4
)

// Claims are the contents of a signed token. Times are Unix seconds.
type Claims struct {
	Subject string `json:"sub"`
	Session string `json:"sid"`
	Role    string `json:"role"`
	// Grant is the sign-in (web session or API token ID) the token was
	// minted under, so revoking that sign-in can revoke the token.
	Grant    string `json:"gid,omitempty"`
	Audience string `json:"aud"`
	Expires  int64  `json:"exp"`
	IssuedAt int64  `json:"iat"`
	Nonce    string `json:"n"`
}

// SigningKey is one key of a Signer's key ring.
type SigningKey struct {
	// Key is the HMAC key, at least 32 bytes.
	Key []byte
	// NotAfter is zero for a current key. A retired key (kept after a
	// rotation so tokens it signed stay good for their lifetime) has the
	// instant from which tokens it signed are refused.
	NotAfter time.Time
}

// KeyID names key in tokens and logs: 8 hex characters derived from the
// key. It is a hash of 256 random bits and gives nothing away.
func KeyID(key []byte) string {
	return hex.EncodeToString(keyID(key))
}

func keyID(key []byte) []byte {
	sum := sha256.Sum256(append([]byte("airlock-signing-key-id."), key...))
	return sum[:keyIDLen]
}

// ring is an immutable set of keys; Signer swaps whole rings.
type ring struct {
	sign ringKey            // the newest current key
	all  map[string]ringKey // by KeyID, sign included
}

type ringKey struct {
	id       []byte
	key      []byte
	notAfter time.Time // zero: current
}

// Signer makes and checks short-lived tokens that services verify without a
// database: "<base64url(JSON claims)>.<base64url(key ID || HMAC-SHA256)>".
// It signs with its newest current key and verifies with any key of its
// ring that is still accepted. It is safe for concurrent use; SetKeys
// replaces the ring atomically.
type Signer struct {
	keys atomic.Pointer[ring]
	now  func() time.Time
}

// NewSigner returns a Signer with the one key key, which must be at least
// 32 bytes and is copied. now is the clock; nil means time.Now.
func NewSigner(key []byte, now func() time.Time) (*Signer, error) {
	return NewSignerKeys([]SigningKey{{Key: key}}, now)
}

// NewSignerKeys returns a Signer with the key ring keys (see SetKeys).
func NewSignerKeys(keys []SigningKey, now func() time.Time) (*Signer, error) {
	if now == nil {
		now = time.Now
	}
	s := &Signer{now: now}
	if err := s.SetKeys(keys); err != nil {
		return nil, fmt.Errorf("new signer: %w", err)
	}
	return s, nil
}

// SetKeys replaces the key ring. At least one key must be current (zero
// NotAfter); the last current one signs. Keys are copied, and two keys
// with the same KeyID are refused so that an ID names one key.
func (s *Signer) SetKeys(keys []SigningKey) error {
	r := &ring{all: make(map[string]ringKey, len(keys))}
	found := false
	for i, k := range keys {
		if len(k.Key) < minSignerKeyLen {
			return fmt.Errorf("signing key %d is %d bytes, want at least %d", i, len(k.Key), minSignerKeyLen)
		}
		rk := ringKey{id: keyID(k.Key), key: bytes.Clone(k.Key), notAfter: k.NotAfter}
		id := string(rk.id)
		if _, dup := r.all[id]; dup {
			return fmt.Errorf("signing key %d has the same key ID %s as another", i, KeyID(k.Key))
		}
		r.all[id] = rk
		if k.NotAfter.IsZero() {
			r.sign, found = rk, true
		}
	}
	if !found {
		return errors.New("no current signing key (every key is retired)")
	}
	s.keys.Store(r)
	return nil
}

// SigningKeyID is the KeyID of the key Sign uses now.
func (s *Signer) SigningKeyID() string {
	return hex.EncodeToString(s.keys.Load().sign.id)
}

// Sign returns a token carrying c. It sets c.IssuedAt to now and c.Nonce to
// a fresh random value (so two tokens with the same claims differ and can
// be told apart for replay tracking). c.Audience must be set, so a token
// for one service cannot be replayed at another, and c.Expires must be in
// the future.
func (s *Signer) Sign(c Claims) (string, error) {
	now := s.now().Unix()
	if c.Audience == "" {
		return "", errors.New("sign token: empty audience")
	}
	if c.Expires <= now {
		return "", errors.New("sign token: expiry is not in the future")
	}
	c.IssuedAt = now
	c.Nonce = base64.RawURLEncoding.EncodeToString(randomBytes(nonceBytes))
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	p := base64.RawURLEncoding.EncodeToString(payload)
	k := s.keys.Load().sign
	sig := append(bytes.Clone(k.id), mac(k, p)...)
	token := p + "." + base64.RawURLEncoding.EncodeToString(sig)
	if len(token) > maxSignedTokenLen {
		return "", fmt.Errorf("sign token: claims too large, token would be %d bytes, limit %d", len(token), maxSignedTokenLen)
	}
	return token, nil
}

// mac is the HMAC over the key ID and the encoded payload, so that Verify
// can check it before decoding anything.
func mac(k ringKey, encodedPayload string) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(macContext))
	m.Write(k.id)
	m.Write([]byte("."))
	m.Write([]byte(encodedPayload))
	return m.Sum(nil)
}

// macV1 is the MAC of tokens signed before key IDs, over the payload only.
func macV1(k ringKey, encodedPayload string) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(macContextV1))
	m.Write([]byte(encodedPayload))
	return m.Sum(nil)
}

// checkMAC reports whether sig is a valid signature of p by a key of r
// accepted at now. A signature with a key ID is checked with that key
// alone; one without (v1, signed before keys had IDs) with each accepted
// key, of which there are a handful at most.
func (r *ring) checkMAC(sig []byte, p string, now time.Time) bool {
	accepted := func(k ringKey) bool { return k.notAfter.IsZero() || now.Before(k.notAfter) }
	switch len(sig) {
	case keyIDLen + sha256.Size:
		k, ok := r.all[string(sig[:keyIDLen])]
		return ok && accepted(k) && hmac.Equal(sig[keyIDLen:], mac(k, p))
	case sha256.Size:
		ok := false
		for _, k := range r.all {
			// No early exit, so the time taken says nothing about which
			// key matched.
			if accepted(k) && hmac.Equal(sig, macV1(k, p)) {
				ok = true
			}
		}
		return ok
	}
	return false
}

// Verify checks token and returns its claims. The MAC is checked first, in
// constant time, so no attacker-chosen bytes reach the JSON decoder; then
// the audience must equal audience, the token must not have expired, and it
// must not claim to be issued more than 30 seconds in the future. Errors
// wrap ErrTokenInvalid, ErrTokenAudience or ErrTokenExpired.
func (s *Signer) Verify(token, audience string) (Claims, error) {
	if len(token) > maxSignedTokenLen {
		return Claims{}, fmt.Errorf("verify token: %w: longer than %d bytes", ErrTokenInvalid, maxSignedTokenLen)
	}
	if audience == "" {
		// Sign never makes a token without an audience, so an empty one can
		// only be a caller's mistake; fail closed.
		return Claims{}, fmt.Errorf("verify token: %w: no audience to check against", ErrTokenAudience)
	}
	p, m, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, fmt.Errorf("verify token: %w: no signature", ErrTokenInvalid)
	}
	// decodeCanonical rejects a second ".", and CR/LF that the base64
	// decoder would skip, so each valid token has one spelling.
	now := s.now()
	sig, ok := decodeCanonical(base64.RawURLEncoding, m)
	if !ok || !s.keys.Load().checkMAC(sig, p, now) {
		// A retired key past its time lands here too: to the holder it is
		// a signature this server no longer accepts.
		return Claims{}, fmt.Errorf("verify token: %w: bad signature or retired key", ErrTokenInvalid)
	}
	c, err := decodeClaims(p)
	if err != nil {
		// Only reachable with a valid MAC, i.e. a token this key signed in
		// some other format: still refused.
		return Claims{}, fmt.Errorf("verify token: %w: %w", ErrTokenInvalid, err)
	}
	if c.Audience != audience {
		return Claims{}, fmt.Errorf("verify token: %w", ErrTokenAudience)
	}
	if now.Unix() >= c.Expires {
		return Claims{}, fmt.Errorf("verify token: %w", ErrTokenExpired)
	}
	if c.IssuedAt > now.Add(iatLeeway).Unix() {
		return Claims{}, fmt.Errorf("verify token: %w: issued in the future", ErrTokenInvalid)
	}
	return c, nil
}

// decodeClaims decodes the payload strictly: canonical base64url, one JSON
// object with only known fields, and the fields Sign always sets present.
func decodeClaims(encoded string) (Claims, error) {
	payload, ok := decodeCanonical(base64.RawURLEncoding, encoded)
	if !ok {
		return Claims{}, errors.New("payload is not base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var c Claims
	if err := dec.Decode(&c); err != nil {
		return Claims{}, fmt.Errorf("payload: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Claims{}, errors.New("payload: trailing data")
	}
	if c.IssuedAt == 0 || c.Nonce == "" || c.Audience == "" {
		return Claims{}, errors.New("payload: missing iat, nonce or audience")
	}
	return c, nil
}
