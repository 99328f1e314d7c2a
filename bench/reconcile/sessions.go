package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/airlockup"
	"github.com/airlock-rbi/airlock/internal/airlock"
)

// session is the part of the api's session view this benchmark reads.
type session struct {
	ID        string    `json:"id"`
	Node      string    `json:"node_id"`
	Container string    `json:"container"`
	State     string    `json:"state"`
	Reason    string    `json:"reason"`
	EndReason string    `json:"end_reason"`
	CreatedAt time.Time `json:"created_at"`
}

// maxRelaunch is how many launches that did not reach ready (another
// deployment on the daemon removed the container, dockerd refused a
// subnet) a run makes again before it gives up.
const maxRelaunch = 20

// launchAll launches n sessions of the minimal workspace, workers at a
// time, each POSTed and long-polled until ready (as the CLI's --wait
// does). A launch that fails is made again, at most maxRelaunch times a
// run. It returns the ready sessions and the number relaunched.
func launchAll(ctx context.Context, api *airlockup.Client, n, workers int) ([]session, int, error) {
	var (
		mu      sync.Mutex
		ready   []session
		retries int
		errs    []error
	)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range jobs {
				for {
					s, err := launch(ctx, api)
					mu.Lock()
					if err == nil {
						ready = append(ready, s)
						if len(ready)%50 == 0 {
							fmt.Fprintf(os.Stderr, "bench/reconcile: %d sessions ready\n", len(ready))
						}
					} else if ctx.Err() == nil && retries < maxRelaunch {
						retries++
						fmt.Fprintf(os.Stderr, "bench/reconcile: a launch failed, launching again: %v\n", err)
						mu.Unlock()
						continue
					} else {
						errs = append(errs, err)
					}
					mu.Unlock()
					break
				}
			}
		})
	}
	for i := range n {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, retries, err
	}
	return ready, retries, ctx.Err()
}

// launch makes one session and waits until it is ready.
func launch(ctx context.Context, api *airlockup.Client) (session, error) {
	var s session
	if err := api.Do(ctx, http.MethodPost, "/api/v1/sessions", map[string]string{"workspace": "minimal"}, &s); err != nil {
		return s, fmt.Errorf("launch: %w", err)
	}
	for s.State == string(airlock.SessionPending) || s.State == string(airlock.SessionStarting) {
		if err := api.Do(ctx, http.MethodGet, "/api/v1/sessions/"+s.ID+"?wait=10s", nil, &s); err != nil {
			return s, fmt.Errorf("session %s: %w", s.ID, err)
		}
	}
	if s.State != string(airlock.SessionReady) {
		return s, fmt.Errorf("session %s is %s: %s", s.ID, s.State, s.Reason)
	}
	return s, nil
}

// listSessions is every session of the deployment, as the api lists them.
func listSessions(ctx context.Context, api *airlockup.Client) (map[string]session, error) {
	var list []session
	if err := api.Do(ctx, http.MethodGet, "/api/v1/sessions?all=1", nil, &list); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	out := make(map[string]session, len(list))
	for _, s := range list {
		out[s.ID] = s
	}
	return out, nil
}

// node is the part of the api's node view this benchmark reads.
type node struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	State  string `json:"state"`
	Active int    `json:"active"`
}

// waitNodes waits until the deployment lists want nodes, all ready.
func waitNodes(ctx context.Context, api *airlockup.Client, want int) ([]node, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		var list []node
		if err := api.Do(ctx, http.MethodGet, "/api/v1/nodes", nil, &list); err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		ready := 0
		for _, n := range list {
			if n.State == string(airlock.NodeReady) {
				ready++
			}
		}
		if ready == want && len(list) == want {
			return list, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d nodes ready after a minute: %+v", ready, want, list)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
