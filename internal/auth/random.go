package auth

import "crypto/rand"

// randomBytes returns n bytes from crypto/rand. Since Go 1.24 rand.Read never
// returns an error (the runtime aborts the program if the kernel's generator
// fails), so there is no failure for callers to handle.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// randomString returns n characters drawn uniformly from alphabet, whose
// length must divide 256 so that reducing a random byte modulo it is
// unbiased. Callers pass package constants, so a bad length is a bug here.
func randomString(n int, alphabet string) string {
	if 256%len(alphabet) != 0 {
		panic("auth: alphabet length must divide 256")
	}
	b := randomBytes(n)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
