package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Join token layout: "ALJT-1-<64 hex>-<32 base32>". The version lets the
// format change without old nodes misreading new tokens. The secret is 20
// random bytes, which base32 encodes in exactly 32 characters with no
// leftover bits.
const (
	joinTokenPrefix      = "ALJT"
	joinTokenVersion     = "1"
	joinSecretBytes      = 20
	joinSecretLen        = joinSecretBytes * 8 / 5 // 32
	fingerprintPrefix    = "sha256:"
	fingerprintHexLen    = sha256.Size * 2
	lowerHexAlphabet     = "0123456789abcdef"
	maxJoinTokenInputLen = 4096
)

// JoinToken enrolls a new node, like Docker Swarm's SWMTKN tokens. Besides
// the secret that authorizes the node, it carries the fingerprint of the
// cluster CA so the node can check, before sending the secret anywhere,
// that the server it reached is the one the token came from.
type JoinToken struct {
	CAFingerprint string // "sha256:<64 lowercase hex>" of the CA certificate's DER
	Secret        string // 32 lowercase base32 characters
}

// NewJoinToken returns a join token with a fresh secret pinning the CA
// whose fingerprint is caFingerprint, in the form pki.CA.Fingerprint
// returns.
func NewJoinToken(caFingerprint string) (JoinToken, error) {
	if err := validateFingerprint(caFingerprint); err != nil {
		return JoinToken{}, fmt.Errorf("new join token: %w", err)
	}
	return JoinToken{
		CAFingerprint: caFingerprint,
		Secret:        lowerBase32.EncodeToString(randomBytes(joinSecretBytes)),
	}, nil
}

// validateFingerprint accepts only "sha256:" and 64 lowercase hex digits.
func validateFingerprint(fp string) error {
	h, ok := strings.CutPrefix(fp, fingerprintPrefix)
	if !ok || len(h) != fingerprintHexLen || !inAlphabet(h, lowerHexAlphabet) {
		return fmt.Errorf("CA fingerprint is not %s followed by %d lowercase hex digits", fingerprintPrefix, fingerprintHexLen)
	}
	return nil
}

// String returns the token's text form, secret included.
func (j JoinToken) String() string {
	return joinTokenPrefix + "-" + joinTokenVersion + "-" +
		strings.TrimPrefix(j.CAFingerprint, fingerprintPrefix) + "-" + j.Secret
}

// LogValue keeps the secret out of structured logs.
func (j JoinToken) LogValue() slog.Value {
	return slog.GroupValue(slog.String("ca", j.CAFingerprint))
}

var _ slog.LogValuer = JoinToken{}

// ParseJoinToken parses a join token's text form. Surrounding whitespace is
// trimmed because these tokens are pasted from terminals and files; nothing
// else is forgiven, so String() gives back exactly the trimmed input.
// Errors wrap ErrMalformedToken and never quote s.
func ParseJoinToken(s string) (JoinToken, error) {
	j, err := parseJoinToken(s)
	if err != nil {
		return JoinToken{}, fmt.Errorf("parse join token: %w: %w", ErrMalformedToken, err)
	}
	return j, nil
}

func parseJoinToken(s string) (JoinToken, error) {
	// Bound the trimming work too, not just the parsing.
	if len(s) > maxJoinTokenInputLen {
		return JoinToken{}, fmt.Errorf("longer than %d bytes", maxJoinTokenInputLen)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return JoinToken{}, errors.New("empty")
	}
	parts := strings.Split(s, "-")
	if len(parts) != 4 {
		return JoinToken{}, fmt.Errorf("%d dash-separated parts, want 4", len(parts))
	}
	if parts[0] != joinTokenPrefix {
		return JoinToken{}, fmt.Errorf("does not start with %s-", joinTokenPrefix)
	}
	if parts[1] != joinTokenVersion {
		return JoinToken{}, fmt.Errorf("unsupported version, want %s", joinTokenVersion)
	}
	j := JoinToken{CAFingerprint: fingerprintPrefix + parts[2], Secret: parts[3]}
	if err := validateFingerprint(j.CAFingerprint); err != nil {
		return JoinToken{}, err
	}
	if len(j.Secret) != joinSecretLen || !inAlphabet(j.Secret, base32Alphabet) {
		return JoinToken{}, fmt.Errorf("secret is not %d lowercase base32 characters", joinSecretLen)
	}
	return j, nil
}

// SecretHash returns SHA-256 of the secret, which is what the server
// stores. As with Token.Hash, the secret's 160 random bits make a slow hash
// unnecessary.
func (j JoinToken) SecretHash() []byte {
	sum := sha256.Sum256([]byte(j.Secret))
	return sum[:]
}

// PinsCA reports whether certDER is the CA certificate the token pins. A
// node calls it on the CA presented by the server before trusting that
// server with the secret.
func (j JoinToken) PinsCA(certDER []byte) bool {
	h, ok := strings.CutPrefix(j.CAFingerprint, fingerprintPrefix)
	if !ok {
		return false
	}
	want, err := hex.DecodeString(h)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	got := sha256.Sum256(certDER)
	// The fingerprint is not secret, but constant time costs nothing and
	// leaves no question to review.
	return subtle.ConstantTimeCompare(got[:], want) == 1
}
