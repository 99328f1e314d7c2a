package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/throttle"
)

// maxLoginBody bounds a sign-in request, read before it waits for a hash
// slot: a password is at most 1 KiB, so waiting requests stay small.
const maxLoginBody = 16 << 10

// clientAddr is the TCP peer's address. No proxy is trusted, so headers
// such as X-Forwarded-For are ignored: a client could write anything there
// and escape its address's throttle.
func clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}

// setRetryAfter sets Retry-After in whole seconds, at least one.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	secs := max(int64((d+time.Second-1)/time.Second), 1)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
}

// throttled answers a sign-in the throttle refused: 429 with Retry-After.
func throttled(w http.ResponseWriter, ref *throttle.Refusal) error {
	setRetryAfter(w, ref.RetryAfter)
	return airlock.Errorf(airlock.ELIMIT, "%s", ref.Reason)
}

// hashBusy turns a hash that found no free slot into 503 with Retry-After
// (set on w unless it is nil); other errors pass through. The answer still
// wraps auth.ErrHashBusy, so a caller further up can set the header.
func (s *Server) hashBusy(w http.ResponseWriter, err error) error {
	if !errors.Is(err, auth.ErrHashBusy) {
		return err
	}
	if w != nil {
		setRetryAfter(w, time.Second)
	}
	var b *busyError
	if errors.As(err, &b) {
		return b
	}
	return &busyError{
		answer: airlock.Errorf(airlock.EUNAVAILABLE, "the server is checking too many passwords at once (%d at a time); retry in a second", s.hasher.Slots()),
		cause:  err,
	}
}

// busyError is the client's answer and the cause, both visible to errors.As
// and errors.Is.
type busyError struct {
	answer *airlock.Error
	cause  error
}

func (e *busyError) Error() string   { return e.answer.Error() }
func (e *busyError) Unwrap() []error { return []error{e.answer, e.cause} }

// hashPassword hashes a new password in one of the bounded slots; every
// code path that sets a password goes through it. Callers are signed in
// (an admin, or the first start), so it is urgent.
func (s *Server) hashPassword(ctx context.Context, password string) (string, error) {
	return s.hasher.Hash(ctx, auth.Urgent, password, s.pw)
}

// limitedBody is a request body that refuses to read past its limit and
// remembers that it did, so the refusal can say so.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	over bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte beyond the limit tells "exactly the limit" from "more".
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			b.over = true
			return 0, errors.New("request body too large")
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
