package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/bench/internal/airlockup"
	"github.com/airlock-rbi/airlock/images"
	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/imagebuild"
)

// errLost is a session whose container vanished. Every `airlock up` on a
// daemon removes the session containers its own store does not know, so
// one running beside this benchmark (a test, say) can remove this
// benchmark's. A phase that loses its session is run again.
var errLost = errors.New("the session's container vanished (removed by another Airlock deployment on this daemon?)")

// createWorkspace adds a Chromium workspace whose start page is url,
// sized as the browser test's.
func createWorkspace(ctx context.Context, api *airlockup.Client, name, url string) error {
	return createWorkspaceSpec(ctx, api, workspaceSpec(name, url))
}

// workspaceSpec is the API's JSON of the benchmark's Chromium workspace.
func workspaceSpec(name, url string) map[string]any {
	return map[string]any{"name": name, "description": "bench/stream: " + url, "image": images.Chromium,
		"seccomp": "chromium", "clipboard": "both", "shm_size": 512 << 20, "memory": 2 << 30, "start_url": url}
}

func createWorkspaceSpec(ctx context.Context, api *airlockup.Client, ws map[string]any) error {
	name := ws["name"]
	if err := api.Do(ctx, http.MethodPost, "/api/v1/workspaces", ws, nil); err != nil {
		return fmt.Errorf("create workspace %s: %w", name, err)
	}
	return nil
}

// liveSession is a ready session and its container.
type liveSession struct {
	id, container string
	// launch is launch to ready: from the POST that made the session to
	// the answer that said it was ready.
	launch time.Duration
	// pid is the agent's, the container's init process, on this host.
	pid int
	// binary is the SHA-256 of the airlock binary the image was built
	// from (its label).
	binary string
	socket *client.Client
}

// startSession launches a session of workspace and waits until it is
// ready (its agent registered), long-polling as the portal does.
func startSession(ctx context.Context, api *airlockup.Client, socket *client.Client, workspace string) (_ *liveSession, err error) {
	var s airlockup.Session
	t0 := time.Now()
	if err := api.Do(ctx, http.MethodPost, "/api/v1/sessions", map[string]string{"workspace": workspace}, &s); err != nil {
		return nil, fmt.Errorf("launch %s: %w", workspace, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, api.DeleteSession(s.ID))
		}
	}()
	for s.State != string(airlock.SessionReady) {
		if s.State == string(airlock.SessionFailed) || s.State == string(airlock.SessionStopped) {
			return nil, fmt.Errorf("session %s of %s is %s: %s", s.ID, workspace, s.State, s.Reason)
		}
		if time.Since(t0) > 3*time.Minute {
			return nil, fmt.Errorf("session %s of %s not ready after 3 minutes (state %s)", s.ID, workspace, s.State)
		}
		if err := api.Do(ctx, http.MethodGet, "/api/v1/sessions/"+s.ID+"?wait=5s", nil, &s); err != nil {
			return nil, fmt.Errorf("wait for session %s: %w", s.ID, err)
		}
	}
	launch := time.Since(t0)
	info, err := socket.ContainerInspect(ctx, s.Container)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("%w: session %s, container %.12s, gone once ready", errLost, s.ID, s.Container)
	}
	if err != nil {
		return nil, fmt.Errorf("inspect container %.12s of session %s: %w", s.Container, s.ID, err)
	}
	if info.State == nil || info.State.Pid == 0 {
		return nil, fmt.Errorf("container %.12s of session %s has no running process", s.Container, s.ID)
	}
	ls := &liveSession{id: s.ID, container: info.ID, launch: launch, pid: info.State.Pid, socket: socket}
	if info.Config != nil {
		ls.binary = info.Config.Labels[imagebuild.LabelBinary]
	}
	return ls, nil
}

// lost annotates err with errLost when the session's container is gone.
func (s *liveSession) lost(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, ierr := s.socket.ContainerInspect(ctx, s.container)
	if errdefs.IsNotFound(ierr) || (ierr == nil && info.State != nil && !info.State.Running) {
		return fmt.Errorf("%w: session %s, container %.12s: %w", errLost, s.id, s.container, err)
	}
	return err
}

// alive is errLost when the session's container is gone or stopped: a
// phase whose session vanished under it measured a dying stream.
func (s *liveSession) alive(ctx context.Context) error {
	info, err := s.socket.ContainerInspect(ctx, s.container)
	if errdefs.IsNotFound(err) || (err == nil && info.State != nil && !info.State.Running) {
		return fmt.Errorf("%w: session %s, container %.12s, gone by the end of the phase", errLost, s.id, s.container)
	}
	if err != nil {
		return fmt.Errorf("inspect container %.12s of session %s: %w", s.container, s.id, err)
	}
	return nil
}
