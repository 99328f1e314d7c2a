package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// TokenKind says what a bearer token is for. It is the token's visible
// prefix, so a leaked token can be recognized by secret scanners and a
// token of one kind is never accepted where another is expected.
type TokenKind string

// The kinds of bearer token.
const (
	KindAPI      TokenKind = "alk" // API token for the CLI and automation
	KindWeb      TokenKind = "als" // browser session cookie
	KindAgent    TokenKind = "ala" // agent credential
	KindRegister TokenKind = "alr" // one-time registration token of a session container
)

// known reports whether k is one of the kinds above. Unknown kinds are
// refused everywhere rather than treated as some default.
func (k TokenKind) known() bool {
	switch k {
	case KindAPI, KindWeb, KindAgent, KindRegister:
		return true
	}
	return false
}

// Token field sizes. The ID is a lookup key, not a secret: 60 random bits
// make collisions between live tokens negligible without making it long.
// The secret is 32 random bytes, 52 base32 characters.
const (
	tokenIDLen       = 12
	tokenSecretBytes = 32
	tokenSecretLen   = (tokenSecretBytes*8 + 4) / 5 // 52
	tokenLen         = 3 + 1 + tokenIDLen + 1 + tokenSecretLen
)

// ErrMalformedToken is returned, wrapped with what was wrong, by ParseToken
// and ParseJoinToken.
var ErrMalformedToken = errors.New("malformed token")

// Token is an opaque bearer secret: an API token, web session cookie, agent
// credential or registration token. Its text form is
// "<kind>_<id>_<secret>". The server stores the ID in clear to find the
// record and only Hash() of the whole token, so a database leak yields no
// usable credential.
type Token struct {
	Kind   TokenKind
	ID     string // 12 lowercase base32 characters, the lookup key
	Secret string // 32 random bytes in lowercase unpadded base32
}

// NewToken returns a fresh random token of kind.
func NewToken(kind TokenKind) (Token, error) {
	if !kind.known() {
		return Token{}, errors.New("new token: unknown kind")
	}
	return Token{
		Kind:   kind,
		ID:     randomString(tokenIDLen, base32Alphabet),
		Secret: lowerBase32.EncodeToString(randomBytes(tokenSecretBytes)),
	}, nil
}

// String returns the token's text form, secret included: it is what the
// holder presents. Log t itself through slog (see LogValue), not this.
func (t Token) String() string {
	return string(t.Kind) + "_" + t.ID + "_" + t.Secret
}

// LogValue keeps the secret out of structured logs: it records only the
// kind and the ID, which together identify the token's record.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", string(t.Kind)), slog.String("id", t.ID))
}

var _ slog.LogValuer = Token{}

// ParseToken parses the text form of a bearer token. It is strict: the kind
// must be known, the ID and secret must have their exact lengths in
// lowercase base32, and the secret must be the canonical encoding of 32
// bytes, so String() gives back exactly s. Nothing is trimmed, since
// headers and cookies carry tokens verbatim. Errors wrap ErrMalformedToken
// and never quote s.
func ParseToken(s string) (Token, error) {
	t, err := parseToken(s)
	if err != nil {
		return Token{}, fmt.Errorf("parse token: %w: %w", ErrMalformedToken, err)
	}
	return t, nil
}

func parseToken(s string) (Token, error) {
	if s == "" {
		return Token{}, errors.New("empty")
	}
	// Checked before splitting so an attacker's megabyte of underscores
	// costs nothing.
	if len(s) != tokenLen {
		return Token{}, fmt.Errorf("%d bytes long, want %d", len(s), tokenLen)
	}
	parts := strings.Split(s, "_")
	if len(parts) != 3 {
		return Token{}, fmt.Errorf("%d underscore-separated parts, want 3", len(parts))
	}
	t := Token{Kind: TokenKind(parts[0]), ID: parts[1], Secret: parts[2]}
	if err := t.validate(); err != nil {
		return Token{}, err
	}
	return t, nil
}

// validate checks every field of t as ParseToken would.
func (t Token) validate() error {
	if !t.Kind.known() {
		return errors.New("unknown kind")
	}
	if len(t.ID) != tokenIDLen || !inAlphabet(t.ID, base32Alphabet) {
		return fmt.Errorf("id is not %d lowercase base32 characters", tokenIDLen)
	}
	if len(t.Secret) != tokenSecretLen || !inAlphabet(t.Secret, base32Alphabet) {
		return fmt.Errorf("secret is not %d lowercase base32 characters", tokenSecretLen)
	}
	if b, ok := decodeCanonical(lowerBase32, t.Secret); !ok || len(b) != tokenSecretBytes {
		// The last character of 32 bytes in base32 carries one data bit and
		// four zero bits; any other value there is not our encoding.
		return errors.New("secret is not canonically encoded")
	}
	return nil
}

// Hash returns what the store keeps for t: SHA-256 over kind, ID and secret
// separated by "|". A fast hash is enough because the secret has 256 bits
// of entropy, so there is nothing to brute-force; including kind and ID
// binds the secret to its record. Stored hashes depend on this exact input,
// so it must never change.
func (t Token) Hash() []byte {
	sum := sha256.Sum256([]byte(string(t.Kind) + "|" + t.ID + "|" + t.Secret))
	return sum[:]
}

// VerifyTokenHash reports whether stored is t.Hash(), comparing in constant
// time. A token that ParseToken would refuse never verifies.
func VerifyTokenHash(t Token, stored []byte) bool {
	if t.validate() != nil {
		return false
	}
	return subtle.ConstantTimeCompare(t.Hash(), stored) == 1
}
