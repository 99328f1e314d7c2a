package airlock

import (
	"context"
	"slices"
	"time"
)

// JoinToken is an admin's permission for provision nodes to enroll: for how
// long, how many times, and what a node enrolled with it may be trusted
// with. Only the hash of its secret is kept.
type JoinToken struct {
	ID         string
	SecretHash []byte
	CreatedBy  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	// Uses is how many enrollments the token was created for, UsesLeft
	// how many remain.
	Uses, UsesLeft int
	// MaxCapacity caps the capacity a node enrolled with it may advertise.
	MaxCapacity int
	// Isolation lists the levels a node enrolled with it may advertise.
	Isolation []Isolation
}

// Expired reports whether the token can no longer be used at now.
func (t *JoinToken) Expired(now time.Time) bool { return !now.Before(t.ExpiresAt) }

// Allows reports whether a node enrolled with t may advertise level i.
func (t *JoinToken) Allows(i Isolation) bool { return slices.Contains(t.Isolation, i) }

// JoinTokens keeps join tokens and enrolls nodes with them.
type JoinTokens interface {
	CreateJoinToken(ctx context.Context, t *JoinToken) error
	// JoinTokenByHash returns the token whose secret hashes to hash,
	// expired and used-up ones included; ENOTFOUND if none.
	JoinTokenByHash(ctx context.Context, hash []byte) (*JoinToken, error)
	ListJoinTokens(ctx context.Context) ([]*JoinToken, error)
	DeleteJoinToken(ctx context.Context, id string) error
	// EnrollNode takes one use of the token whose secret hashes to hash and
	// stores n, both or neither: a token with no use left or expired at now
	// is EUNAUTHORIZED, and a node that cannot be stored (a taken name)
	// gives its use back. Concurrent calls never take more uses than the
	// token has.
	EnrollNode(ctx context.Context, hash []byte, now time.Time, n *Node) error
}
