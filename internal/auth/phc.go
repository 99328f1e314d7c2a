package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// maxEncodedHashLen bounds the stored string before it is split. The longest
// hash this package accepts is about 110 bytes.
const maxEncodedHashLen = 256

// phcHash is a decoded "$argon2id$v=19$m=..,t=..,p=..$salt$key" string.
type phcHash struct {
	params PasswordParams
	salt   []byte
	key    []byte
}

// encode returns the PHC string format used by the reference implementation
// and libsodium, so hashes stay portable if they ever leave Airlock.
func (h phcHash) encode() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.params.Memory, h.params.Time, h.params.Threads,
		base64.RawStdEncoding.EncodeToString(h.salt),
		base64.RawStdEncoding.EncodeToString(h.key))
}

// decodePHC parses encoded strictly: only argon2id version 19, parameters
// in the order m, t, p as canonical decimals within the limits of validate,
// and a 16-byte salt and 32-byte key in unpadded standard base64. Errors wrap
// ErrMalformedHash.
func decodePHC(encoded string) (phcHash, error) {
	h, err := parsePHC(encoded)
	if err != nil {
		return phcHash{}, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	return h, nil
}

func parsePHC(encoded string) (phcHash, error) {
	if len(encoded) > maxEncodedHashLen {
		return phcHash{}, fmt.Errorf("longer than %d bytes", maxEncodedHashLen)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return phcHash{}, errors.New("want $argon2id$v=..$m=..,t=..,p=..$salt$hash")
	}
	if parts[1] != "argon2id" {
		return phcHash{}, errors.New("unsupported algorithm, want argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return phcHash{}, fmt.Errorf("unsupported argon2 version, want v=%d", argon2.Version)
	}
	var h phcHash
	var err error
	if h.params, err = parsePHCParams(parts[3]); err != nil {
		return phcHash{}, err
	}
	if err := h.params.validate(); err != nil {
		return phcHash{}, fmt.Errorf("parameters: %w", err)
	}
	var ok bool
	if h.salt, ok = decodeCanonical(base64.RawStdEncoding, parts[4]); !ok || len(h.salt) != saltLen {
		return phcHash{}, fmt.Errorf("salt is not %d bytes of unpadded base64", saltLen)
	}
	if h.key, ok = decodeCanonical(base64.RawStdEncoding, parts[5]); !ok || len(h.key) != keyLen {
		return phcHash{}, fmt.Errorf("hash is not %d bytes of unpadded base64", keyLen)
	}
	return h, nil
}

// parsePHCParams parses "m=<KiB>,t=<passes>,p=<lanes>". Other orders and
// extra fields (such as keyid or data) are refused: this package never
// writes them, so their presence means the hash came from somewhere else.
func parsePHCParams(s string) (PasswordParams, error) {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return PasswordParams{}, errors.New("parameters: want m=N,t=N,p=N")
	}
	m, err := phcUint(fields[0], "m=", 32)
	if err != nil {
		return PasswordParams{}, err
	}
	t, err := phcUint(fields[1], "t=", 32)
	if err != nil {
		return PasswordParams{}, err
	}
	p, err := phcUint(fields[2], "p=", 8)
	if err != nil {
		return PasswordParams{}, err
	}
	return PasswordParams{Memory: uint32(m), Time: uint32(t), Threads: uint8(p)}, nil
}

// phcUint parses field as prefix followed by a canonical decimal (no sign,
// no leading zeros) that fits in bits.
func phcUint(field, prefix string, bits int) (uint64, error) {
	name := strings.TrimSuffix(prefix, "=")
	digits, ok := strings.CutPrefix(field, prefix)
	if !ok {
		return 0, fmt.Errorf("parameters: want %s in this position", prefix)
	}
	v, err := strconv.ParseUint(digits, 10, bits)
	if err != nil || strconv.FormatUint(v, 10) != digits {
		return 0, fmt.Errorf("parameters: %s is not a decimal that fits in %d bits", name, bits)
	}
	return v, nil
}
