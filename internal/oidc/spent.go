package oidc

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// SpentStates records which login states were used, so each is used once:
// Finish spends a state before it exchanges the code, and a second Finish of
// the same state fails with ErrStateReplayed. The sealed state itself cannot
// enforce this (a copy of the cookie opens as well as the original), so the
// one piece of server-side memory in a login is this record of spent states,
// and it needs keeping only until the state would expire anyway.
//
// One process uses MemorySpent. Several api processes behind one gateway
// need a shared record; on the store that is a table keyed by id with an
// expiry, an INSERT that fails on a duplicate key meaning "replayed", and a
// periodic DELETE of the expired rows.
type SpentStates interface {
	// Spend records id as used until expires. It returns an error wrapping
	// ErrStateReplayed when id was already spent, and any other error when it
	// could not tell (the login then fails: unknown means no).
	Spend(ctx context.Context, id string, expires time.Time) error
}

// MemorySpent is a SpentStates for one process. It forgets a state once the
// state has expired, so it holds at most the logins of one StateTTL.
type MemorySpent struct {
	now func() time.Time

	mu    sync.Mutex           // guards the fields below
	spent map[string]time.Time // id -> when it may be forgotten
	next  time.Time            // when to sweep expired ids next
}

var _ SpentStates = (*MemorySpent)(nil)

// NewMemorySpent returns an empty MemorySpent reading the time from now
// (time.Now when nil).
func NewMemorySpent(now func() time.Time) *MemorySpent {
	if now == nil {
		now = time.Now
	}
	return &MemorySpent{now: now, spent: make(map[string]time.Time)}
}

// Spend implements SpentStates.
func (m *MemorySpent) Spend(_ context.Context, id string, expires time.Time) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	// Sweep at most once a minute: each sweep walks the whole map.
	if !now.Before(m.next) {
		for k, exp := range m.spent {
			if now.After(exp) {
				delete(m.spent, k)
			}
		}
		m.next = now.Add(time.Minute)
	}
	if _, ok := m.spent[id]; ok {
		return fmt.Errorf("%w: this login's callback was already used; begin a new login", ErrStateReplayed)
	}
	m.spent[id] = expires
	return nil
}

// Len returns how many spent states are remembered.
func (m *MemorySpent) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.spent)
}
