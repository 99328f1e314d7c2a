package auth

import (
	"regexp"
	"strconv"
)

// The parse errors are built from fixed phrases and numbers only. Tests and
// fuzz targets match them against these patterns to show that no part of
// the input, which may be a secret, ever appears in an error.
var (
	tokenErrRE = regexp.MustCompile(`^parse token: malformed token: (` +
		`empty|\d+ bytes long, want 69|\d+ underscore-separated parts, want 3|unknown kind|` +
		`id is not 12 lowercase base32 characters|secret is not 52 lowercase base32 characters|` +
		`secret is not canonically encoded)$`)
	joinTokenErrRE = regexp.MustCompile(`^parse join token: malformed token: (` +
		`empty|longer than 4096 bytes|\d+ dash-separated parts, want 4|does not start with ALJT-|` +
		`unsupported version, want 1|CA fingerprint is not sha256: followed by 64 lowercase hex digits|` +
		`secret is not 32 lowercase base32 characters)$`)
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
