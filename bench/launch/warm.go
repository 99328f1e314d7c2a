package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/airlockup"
	"github.com/airlock-rbi/airlock/images"
	"github.com/airlock-rbi/airlock/internal/airlock"
)

// warmWorkspace is the workspace the warm path launches: the minimal
// workspace's image and limits, with a pool of its own, so that the cold
// path's launches of "minimal" stay cold.
const warmWorkspace = "minimal-warm"

// warmPoolSize is its pool: enough that a launch rarely waits for a
// refill, which the measurement leaves out anyway.
const warmPoolSize = 3

// setUpWarm makes the warm path's workspace and its pool.
func (l *launcher) setUpWarm(ctx context.Context) error {
	ws := map[string]any{"name": warmWorkspace, "image": images.Minimal, "memory": 64 << 20, "pids_limit": 64}
	if err := l.api.Do(ctx, http.MethodPost, "/api/v1/workspaces", ws, nil); err != nil {
		return fmt.Errorf("create workspace %s: %w", warmWorkspace, err)
	}
	return l.setPool(ctx, warmPoolSize)
}

func (l *launcher) setPool(ctx context.Context, size int) error {
	if err := l.api.Do(ctx, http.MethodPut, "/api/v1/pools/"+warmWorkspace, map[string]any{"size": size}, nil); err != nil {
		return fmt.Errorf("set the pool of %s to %d: %w", warmWorkspace, size, err)
	}
	return nil
}

type poolState struct {
	Workspace      string
	Size           int
	Warm, Starting int
}

// waitWarm waits until the pool holds at least n warm sessions (and,
// with exact, nothing else starting), untimed.
func (l *launcher) waitWarm(ctx context.Context, n int, exact bool, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		var list []poolState
		if err := l.api.Do(ctx, http.MethodGet, "/api/v1/pools", nil, &list); err != nil {
			return err
		}
		for _, p := range list {
			if p.Workspace == warmWorkspace && p.Warm >= n && (!exact || (p.Warm == n && p.Starting == 0)) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the pool of %s did not hold %d warm sessions within %s: %+v", warmWorkspace, n, within, list)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// emptyPool sets the pool to 0 and waits until its sessions are gone:
// they belong to no user, so the run's cleanup by user would miss them.
func (l *launcher) emptyPool(ctx context.Context) error {
	if err := l.setPool(ctx, 0); err != nil {
		return err
	}
	return l.waitWarm(ctx, 0, true, time.Minute)
}

// launchWarm is a launch of the warm workspace once its pool holds a
// warm session: from before the POST until its answer, which says ready
// (the session handed out) or the launch does not count as warm.
func (l *launcher) launchWarm(ctx context.Context) (time.Duration, error) {
	if err := l.waitWarm(ctx, 1, false, 2*time.Minute); err != nil {
		return 0, err
	}
	var s airlockup.Session
	t0 := time.Now()
	if err := l.api.Do(ctx, http.MethodPost, "/api/v1/sessions", map[string]string{"workspace": warmWorkspace}, &s); err != nil {
		return 0, err
	}
	d := time.Since(t0)
	if s.State != string(airlock.SessionReady) {
		return d, fmt.Errorf("a launch of %s with a warm session in its pool answered %s, not ready", warmWorkspace, s.State)
	}
	return d, l.deleteSession(s.ID)
}
