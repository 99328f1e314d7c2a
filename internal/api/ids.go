package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sync"

	"github.com/airlock-rbi/airlock/internal/auth"
)

// newID returns a random 128-bit identifier in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}

// dummy is a password hash to verify against when a user does not exist.
type dummy struct {
	once sync.Once
	hash string
}

func (s *Server) dummyHash() string {
	s.dummy.once.Do(func() {
		s.dummy.hash, _ = auth.HashPassword("not-a-real-password", s.pw)
	})
	return s.dummy.hash
}

func sha256Sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func constantTimeEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
