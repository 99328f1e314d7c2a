package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
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
	// versioned.
	macContext = "airlock-signed-token-v1."
	nonceBytes = 16
)

// Claims are the contents of a signed token. Times are Unix seconds.
type Claims struct {
	Subject  string `json:"sub"`
	Session  string `json:"sid"`
	Role     string `json:"role"`
	Audience string `json:"aud"`
	Expires  int64  `json:"exp"`
	IssuedAt int64  `json:"iat"`
	Nonce    string `json:"n"`
}

// Signer makes and checks short-lived tokens that services verify without a
// database: "<base64url(JSON claims)>.<base64url(HMAC-SHA256)>". It is safe
// for concurrent use; it holds nothing that changes after NewSigner.
type Signer struct {
	key []byte
	now func() time.Time
}

// NewSigner returns a Signer keyed with key, which must be at least 32
// bytes and is copied. now is the clock; nil means time.Now.
func NewSigner(key []byte, now func() time.Time) (*Signer, error) {
	if len(key) < minSignerKeyLen {
		return nil, fmt.Errorf("new signer: key is %d bytes, want at least %d", len(key), minSignerKeyLen)
	}
	if now == nil {
		now = time.Now
	}
	return &Signer{key: bytes.Clone(key), now: now}, nil
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
	token := p + "." + base64.RawURLEncoding.EncodeToString(s.mac(p))
	if len(token) > maxSignedTokenLen {
		return "", fmt.Errorf("sign token: claims too large, token would be %d bytes, limit %d", len(token), maxSignedTokenLen)
	}
	return token, nil
}

// mac is the HMAC over the encoded payload, so that Verify can check it
// before decoding anything.
func (s *Signer) mac(encodedPayload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(macContext))
	m.Write([]byte(encodedPayload))
	return m.Sum(nil)
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
	mac, ok := decodeCanonical(base64.RawURLEncoding, m)
	if !ok || !hmac.Equal(mac, s.mac(p)) {
		return Claims{}, fmt.Errorf("verify token: %w: bad signature", ErrTokenInvalid)
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
	now := s.now()
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
