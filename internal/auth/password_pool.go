package auth

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// ErrHashBusy is returned, wrapped, when every password hashing slot stayed
// taken for as long as the caller may wait. The caller should answer "try
// again shortly" (503 with Retry-After), not "wrong password".
var ErrHashBusy = errors.New("too many passwords are being checked at once")

// DefaultHashWait is how long a hash waits for a free slot before
// ErrHashBusy: long enough to ride out a burst of sign-ins, short enough
// that a queue of attackers cannot hold a request for long.
const DefaultHashWait = 2 * time.Second

// Priority orders the hashes that wait for a slot.
type Priority int

const (
	// Urgent hashes get the next free slot before any Normal one: those
	// of callers with no recent failure, such as a user signing in from
	// an address that has not been guessing.
	Urgent Priority = iota
	// Normal hashes get the slots urgent ones leave.
	Normal
)

// PasswordHasher hashes and verifies passwords with at most a fixed number
// of hashes in flight. Each argon2id hash holds its whole memory cost
// (64 MiB by default) until it ends, so without a bound a crowd of sign-in
// requests, wanted or not, turns into gigabytes of memory; with it, memory
// stays near slots × PasswordParams.Memory whatever the concurrency. It is
// the one piece of this package with state: the slots, shared by every
// request of a server. Waiters are served urgent first, then in order of
// arrival.
type PasswordHasher struct {
	wait  time.Duration
	slots int

	mu     sync.Mutex
	free   int
	queues [2]*list.List // by Priority; values are *slotWaiter
}

// slotWaiter is a caller waiting for a slot; ready is closed when it was
// given one.
type slotWaiter struct {
	ready   chan struct{}
	granted bool
}

// NewPasswordHasher allows slots hashes at once (0: GOMAXPROCS, as each
// hash is CPU-bound and more in flight only adds memory, not throughput)
// and lets a hash wait up to wait for a slot (0: DefaultHashWait).
func NewPasswordHasher(slots int, wait time.Duration) *PasswordHasher {
	if slots <= 0 {
		slots = runtime.GOMAXPROCS(0)
	}
	if wait <= 0 {
		wait = DefaultHashWait
	}
	return &PasswordHasher{slots: slots, free: slots, wait: wait, queues: [2]*list.List{list.New(), list.New()}}
}

// Slots is the number of hashes that may run at once.
func (h *PasswordHasher) Slots() int { return h.slots }

// Wait is how long a hash may wait for a slot.
func (h *PasswordHasher) Wait() time.Duration { return h.wait }

// Hash is HashPassword run in a slot.
func (h *PasswordHasher) Hash(ctx context.Context, pri Priority, password string, p PasswordParams) (string, error) {
	var out string
	var err error
	if serr := h.do(ctx, pri, func() { out, err = HashPassword(password, p) }); serr != nil {
		return "", fmt.Errorf("hash password: %w", serr)
	}
	return out, err
}

// Verify is VerifyPassword run in a slot.
func (h *PasswordHasher) Verify(ctx context.Context, pri Priority, password, encoded string) (bool, error) {
	var ok bool
	var err error
	if serr := h.do(ctx, pri, func() { ok, err = VerifyPassword(password, encoded) }); serr != nil {
		return false, fmt.Errorf("verify password: %w", serr)
	}
	return ok, err
}

// do runs f in a slot (see Acquire); f is not run when none was had.
func (h *PasswordHasher) do(ctx context.Context, pri Priority, f func()) error {
	release, err := h.Acquire(ctx, pri)
	if err != nil {
		return err
	}
	defer release()
	f()
	return nil
}

// Acquire takes a slot, for work as costly as a hash, and returns the
// function that gives it back. It gives up with ErrHashBusy after the
// wait, or with ctx's error when the caller went away first.
func (h *PasswordHasher) Acquire(ctx context.Context, pri Priority) (release func(), err error) {
	if pri != Urgent {
		pri = Normal
	}
	h.mu.Lock()
	if h.free > 0 {
		h.free--
		h.mu.Unlock()
		return h.releaser(), nil
	}
	w := &slotWaiter{ready: make(chan struct{})}
	el := h.queues[pri].PushBack(w)
	h.mu.Unlock()

	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case <-w.ready:
		return h.releaser(), nil
	case <-t.C:
		err = fmt.Errorf("%w (%d in flight, waited %s)", ErrHashBusy, h.slots, h.wait)
	case <-ctx.Done():
		err = ctx.Err()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if w.granted {
		// Given a slot as the wait ended: take it after all.
		return h.releaser(), nil
	}
	h.queues[pri].Remove(el)
	return nil, err
}

// releaser gives the slot to the first waiter, urgent ones first, or frees
// it; calling it again does nothing.
func (h *PasswordHasher) releaser() func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			for _, q := range h.queues {
				if el := q.Front(); el != nil {
					w := q.Remove(el).(*slotWaiter)
					w.granted = true
					close(w.ready)
					return
				}
			}
			h.free++
		})
	}
}
