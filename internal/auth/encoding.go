package auth

import (
	"encoding/base32"
	"strings"
)

// base32Alphabet is RFC 4648 base32 in lower case. Lower case because tokens
// end up in URLs, cookies and terminals, where a single case avoids
// ambiguity, and base32 because it has no characters that need escaping.
const base32Alphabet = "abcdefghijklmnopqrstuvwxyz234567"

// lowerBase32 encodes with base32Alphabet and no padding. An *Encoding is
// never modified after construction, so sharing it is safe.
var lowerBase32 = base32.NewEncoding(base32Alphabet).WithPadding(base32.NoPadding)

// inAlphabet reports whether every byte of s is one of alphabet's.
func inAlphabet(s, alphabet string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(alphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// encoding is what base32.Encoding and base64.Encoding have in common.
type encoding interface {
	DecodeString(string) ([]byte, error)
	EncodeToString([]byte) string
}

// decodeCanonical decodes s and reports whether s is exactly the encoding of
// the result. The standard decoders skip CR and LF and (except in Strict
// mode) tolerate nonzero trailing bits, so several strings decode to the
// same bytes; accepting only the canonical one keeps every parser in this
// package one-to-one.
func decodeCanonical(enc encoding, s string) ([]byte, bool) {
	b, err := enc.DecodeString(s)
	if err != nil || enc.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}
