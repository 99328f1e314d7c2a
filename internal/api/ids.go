package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
)

// newID returns a random 128-bit identifier in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}

func sha256Sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }
