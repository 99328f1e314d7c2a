package auth

import (
	"crypto/subtle"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// Password length policy, in bytes. The floor is the NIST SP 800-63B minimum
// for user-chosen secrets; the ceiling bounds the work an unauthenticated
// login request can ask for and is far above what any password manager
// generates.
const (
	minPasswordLen = 8
	maxPasswordLen = 1024
)

// Argon2id output sizes. 16 bytes of salt make collisions across a
// deployment's users negligible; a 32-byte key matches SHA-256 strength.
const (
	saltLen = 16
	keyLen  = 32
)

// Limits on argon2id parameters. They apply to the parameters of new hashes
// and, more importantly, to those read back from stored hashes: a hash
// string is data, and one planted with m=4 TiB or t=1e9 would otherwise
// turn each login attempt into a denial of service.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 100
)

// ErrWeakPassword is returned, wrapped with the reason, for a password that
// the policy refuses. The reason is safe to show the user.
var ErrWeakPassword = errors.New("password does not meet the policy")

// ErrMalformedHash is returned, wrapped with the reason, for a stored
// password hash that cannot be read or uses an algorithm, version or
// parameters this package refuses.
var ErrMalformedHash = errors.New("malformed password hash")

// PasswordParams are the argon2id cost parameters.
type PasswordParams struct {
	Memory  uint32 // in KiB
	Time    uint32 // passes over memory
	Threads uint8  // lanes; part of the hash, not just a speed knob
}

// DefaultPasswordParams are the parameters for new password hashes: 64 MiB
// and three passes, RFC 9106's second recommended option, with two lanes
// instead of four: each lane is a thread, and infra servers are often small
// VMs with few cores. Treat it as read-only; it is a variable only because
// Go has no constant structs. Pass a modified copy instead of changing it.
var DefaultPasswordParams = PasswordParams{Memory: 64 * 1024, Time: 3, Threads: 2}

// validate checks p against argon2's own minimums (which golang.org/x/crypto
// would otherwise panic on or silently raise) and against the DoS limits.
func (p PasswordParams) validate() error {
	switch {
	case p.Threads == 0:
		return errors.New("threads must be at least 1")
	case p.Time == 0:
		return errors.New("time must be at least 1")
	case p.Time > maxTime:
		return fmt.Errorf("time %d exceeds the limit of %d", p.Time, maxTime)
	case p.Memory < 8*uint32(p.Threads):
		// RFC 9106 requires at least 8 KiB per lane; below that x/crypto
		// would use more memory than the encoded string says.
		return fmt.Errorf("memory %d KiB is below 8 KiB per thread", p.Memory)
	case p.Memory > maxMemoryKiB:
		return fmt.Errorf("memory %d KiB exceeds the limit of 1 GiB", p.Memory)
	}
	return nil
}

// HashPassword hashes password with argon2id under p and a fresh random
// salt, and returns the PHC string to store. Passwords shorter than 8 or
// longer than 1024 bytes are refused with an error wrapping ErrWeakPassword.
func HashPassword(password string, p PasswordParams) (string, error) {
	if err := checkPasswordPolicy(password); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	if err := p.validate(); err != nil {
		return "", fmt.Errorf("hash password: parameters: %w", err)
	}
	h := phcHash{params: p, salt: randomBytes(saltLen)}
	h.key = argon2.IDKey([]byte(password), h.salt, p.Time, p.Memory, p.Threads, keyLen)
	return h.encode(), nil
}

// checkPasswordPolicy returns the reason a new password is refused. Lengths
// are in bytes because that is what the hash consumes; counting runes would
// let a few multi-byte characters pass as a long password.
func checkPasswordPolicy(password string) error {
	switch {
	case len(password) < minPasswordLen:
		return fmt.Errorf("%w: shorter than %d bytes", ErrWeakPassword, minPasswordLen)
	case len(password) > maxPasswordLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrWeakPassword, maxPasswordLen)
	}
	return nil
}

// VerifyPassword reports whether password matches the PHC string encoded.
// A wrong password is (false, nil); an error means the stored hash itself is
// unusable (it wraps ErrMalformedHash) and should be reported to operators,
// not to the user.
func VerifyPassword(password, encoded string) (bool, error) {
	h, err := decodePHC(encoded)
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	// No stored hash can match a password that HashPassword would have
	// refused as too long, and skipping the work keeps oversized guesses
	// cheap. Short passwords are still checked: the policy may have been
	// looser when the hash was made.
	if len(password) > maxPasswordLen {
		return false, nil
	}
	got := argon2.IDKey([]byte(password), h.salt, h.params.Time, h.params.Memory, h.params.Threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1, nil
}

// NeedsRehash reports whether encoded was made with parameters other than
// p, so the caller should replace it with HashPassword(password, p) after the
// next successful login. An unreadable hash needs rehashing too.
func NeedsRehash(encoded string, p PasswordParams) bool {
	h, err := decodePHC(encoded)
	if err != nil {
		return true
	}
	return h.params != p
}

// generatedPasswordAlphabet is the URL-safe base64 alphabet: 64 symbols, so
// each character carries 6 bits and survives URLs, shells and YAML unquoted
// in most positions.
const generatedPasswordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// GeneratePassword returns a random 20-character password (120 bits) for
// accounts nobody has chosen a password for yet, such as the first admin.
func GeneratePassword() string {
	return randomString(20, generatedPasswordAlphabet)
}
