package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/airlockup"
	"github.com/airlock-rbi/airlock/bench/internal/viewer"
	"github.com/airlock-rbi/airlock/internal/airlock"
)

// cycler runs the cycles and keeps their times.
type cycler struct {
	api    *airlockup.Client
	viewer *viewer.Viewer // nil without Chromium cycles
	// minimal and chromium are whole cycles' times, POST to DELETE's
	// answer; ready and frame a Chromium cycle's launch to ready and to
	// the viewer's first decoded frame.
	minimal, chromium, ready, frame []time.Duration
}

// reset forgets the times of the cycles run so far (the warm-up's).
func (c *cycler) reset() { c.minimal, c.chromium, c.ready, c.frame = nil, nil, nil, nil }

// cycle runs one cycle: of the minimal workspace, or with chrome of the
// Chromium workspace and its viewer.
func (c *cycler) cycle(ctx context.Context, chrome bool) error {
	workspace := "minimal"
	if chrome {
		workspace = chromiumWorkspace
	}
	t0 := time.Now()
	id, err := c.launch(ctx, workspace)
	if err != nil {
		return err
	}
	ready := time.Since(t0)
	if !chrome {
		if err := c.api.Do(ctx, http.MethodPost, "/api/v1/sessions/"+id+"/connect", nil, nil); err != nil {
			return errors.Join(fmt.Errorf("connect to %s: %w", id, err), c.api.DeleteSession(id))
		}
		if err := c.api.DeleteSession(id); err != nil {
			return err
		}
		c.minimal = append(c.minimal, time.Since(t0))
		return nil
	}
	// The viewer's page does what a user's does: POST …/connect, the
	// signal relay's WebSocket, the peer connection.
	werr := c.viewer.Open(ctx, id)
	if werr == nil {
		werr = c.viewer.WaitFrames(ctx)
	}
	frame := time.Since(t0)
	// Ended with the viewer still connected: the server closes the relay
	// and the agent's peer connection goes with its container. Then the
	// viewer leaves the page, so that it does not try to reconnect.
	if err := c.api.DeleteSession(id); err != nil {
		return errors.Join(werr, fmt.Errorf("end session %s: %w", id, err), c.viewer.Leave(ctx))
	}
	took := time.Since(t0)
	if err := errors.Join(werr, c.viewer.Leave(ctx)); err != nil {
		return err
	}
	c.chromium, c.ready, c.frame = append(c.chromium, took), append(c.ready, ready), append(c.frame, frame)
	return nil
}

// launch makes a session of workspace and long-polls until it is ready.
func (c *cycler) launch(ctx context.Context, workspace string) (string, error) {
	var s airlockup.Session
	if err := c.api.Do(ctx, http.MethodPost, "/api/v1/sessions", map[string]string{"workspace": workspace}, &s); err != nil {
		return "", fmt.Errorf("launch %s: %w", workspace, err)
	}
	for s.State == string(airlock.SessionPending) || s.State == string(airlock.SessionStarting) {
		if err := c.api.Do(ctx, http.MethodGet, "/api/v1/sessions/"+s.ID+"?wait=10s", nil, &s); err != nil {
			return "", errors.Join(fmt.Errorf("wait for session %s: %w", s.ID, err), c.api.DeleteSession(s.ID))
		}
	}
	if s.State != string(airlock.SessionReady) {
		return "", errors.Join(fmt.Errorf("session %s of %s is %s: %s", s.ID, workspace, s.State, s.Reason), c.api.DeleteSession(s.ID))
	}
	return s.ID, nil
}
