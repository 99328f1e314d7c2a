package api

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// watchers wakes requests waiting on a session's state. Changes made by
// this process wake them at once; a change made by another api process
// sharing the database is seen at the next fallback poll.
type watchers struct {
	mu sync.Mutex
	// m guards: session ID -> channels of its waiters.
	m map[string][]chan struct{}
}

func (w *watchers) add(id string) chan struct{} {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string][]chan struct{}{}
	}
	w.m[id] = append(w.m[id], ch)
	return ch
}

func (w *watchers) remove(id string, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.m[id]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(w.m, id)
	} else {
		w.m[id] = list
	}
}

func (w *watchers) notify(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.m[id] {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

const (
	maxWait      = time.Minute
	fallbackPoll = 250 * time.Millisecond
)

// waitSettled returns the session once it is no longer pending or
// starting, or as it is when d passes.
func (s *Server) waitSettled(ctx context.Context, id string, d time.Duration) (*airlock.Session, error) {
	return s.waitState(ctx, id, d, s.visibleSession, airlock.SessionPending, airlock.SessionStarting)
}

// waitState returns session id, as read reads it, once its state is
// none of states, or as it is when d passes: woken by this process's
// changes at once, and by other processes' at the next fallback poll.
func (s *Server) waitState(ctx context.Context, id string, d time.Duration,
	read func(context.Context, string) (*airlock.Session, error), states ...airlock.SessionState) (*airlock.Session, error) {
	ch := s.watch.add(id)
	defer s.watch.remove(id, ch)
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(fallbackPoll)
	defer tick.Stop()
	for {
		sess, err := read(ctx, id)
		if err != nil || !slices.Contains(states, sess.State) {
			return sess, err
		}
		select {
		case <-ctx.Done():
			return sess, nil
		case <-deadline.C:
			return sess, nil
		case <-ch:
		case <-tick.C:
		}
	}
}

// waitParam reads ?wait=DURATION (bounded by maxWait).
func waitParam(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > maxWait {
		return 0, airlock.Errorf(airlock.EINVALID, "wait %q must be a duration such as 30s, at most %s", v, maxWait)
	}
	return d, nil
}
