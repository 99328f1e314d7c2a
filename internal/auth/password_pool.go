package auth

import (
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

// PasswordHasher hashes and verifies passwords with at most a fixed number
// of hashes in flight. Each argon2id hash holds its whole memory cost
// (64 MiB by default) until it ends, so without a bound a crowd of sign-in
// requests, wanted or not, turns into gigabytes of memory; with it, memory
// stays near slots × PasswordParams.Memory whatever the concurrency. It is
// the one piece of this package with state: the slots, shared by every
// request of a server.
type PasswordHasher struct {
	slots chan struct{}
	wait  time.Duration
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
	return &PasswordHasher{slots: make(chan struct{}, slots), wait: wait}
}

// Slots is the number of hashes that may run at once.
func (h *PasswordHasher) Slots() int { return cap(h.slots) }

// Wait is how long a hash may wait for a slot.
func (h *PasswordHasher) Wait() time.Duration { return h.wait }

// Hash is HashPassword run in a slot.
func (h *PasswordHasher) Hash(ctx context.Context, password string, p PasswordParams) (string, error) {
	var out string
	var err error
	if serr := h.do(ctx, func() { out, err = HashPassword(password, p) }); serr != nil {
		return "", fmt.Errorf("hash password: %w", serr)
	}
	return out, err
}

// Verify is VerifyPassword run in a slot.
func (h *PasswordHasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	var ok bool
	var err error
	if serr := h.do(ctx, func() { ok, err = VerifyPassword(password, encoded) }); serr != nil {
		return false, fmt.Errorf("verify password: %w", serr)
	}
	return ok, err
}

// do runs f in a slot (see Acquire); f is not run when none was had.
func (h *PasswordHasher) do(ctx context.Context, f func()) error {
	release, err := h.Acquire(ctx)
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
func (h *PasswordHasher) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case h.slots <- struct{}{}:
	default:
		t := time.NewTimer(h.wait)
		defer t.Stop()
		select {
		case h.slots <- struct{}{}:
		case <-t.C:
			return nil, fmt.Errorf("%w (%d in flight, waited %s)", ErrHashBusy, cap(h.slots), h.wait)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var once sync.Once
	return func() { once.Do(func() { <-h.slots }) }, nil
}
