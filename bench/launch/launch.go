package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/airlock-rbi/airlock/bench/internal/airlockup"
	"github.com/airlock-rbi/airlock/bench/internal/proc"
	"github.com/airlock-rbi/airlock/bench/internal/sessionnet"
	"github.com/airlock-rbi/airlock/images"
	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/dockerpolicy"
)

// runLabel marks every baseline container with the run's ID, so cleanup
// finds them all, even one whose create answered with an error after
// dockerd had made it.
const runLabel = "airlock.bench.run"

// airlockTimes is one session launch: what the client saw, and the
// timestamps the server and dockerd recorded, all on this host's clock.
type airlockTimes struct {
	t0       time.Time // just before POST /api/v1/sessions
	seen     time.Time // the GET answer that said ready
	total    time.Duration
	polls    int       // GETs sent until ready
	created  time.Time // session created_at (server)
	started  time.Time // session started_at (server: launcher's start returned)
	ready    time.Time // session ready_at (server: agent registration claimed)
	dCreated time.Time // container Created (dockerd)
	dStarted time.Time // container State.StartedAt (dockerd)
	// regAttempts is how many registration attempts failed before the
	// agent registered, from its log; regErr is the first failure.
	regAttempts int
	regErr      string
	// regSignalled: a registration attempt ended because the agent got
	// SIGTERM (its container was being stopped).
	regSignalled bool
	registered   time.Time // dockerd's timestamp of the agent's "registered" log line
	// getTime is the time spent in the polling GETs, all together.
	getTime time.Duration
	// serverCPU and clientCPU are the CPU time `airlock up` and this
	// program used from POST until the ready answer.
	serverCPU, clientCPU time.Duration
}

// errLost is a session whose container vanished while it was starting.
// Every `airlock up` on a daemon lists all containers any provision node
// made (label airlock.managed) and removes those whose session its own
// store does not know, so one running beside this benchmark (a test, say)
// can remove this benchmark's session containers. Such a launch is retried.
var errLost = errors.New("the session's container vanished (removed by another Airlock deployment on this daemon?)")

// rawTimes is one raw create+start on the socket.
type rawTimes struct {
	create, start, total time.Duration
}

// launcher runs both kinds of launch.
type launcher struct {
	api    *airlockup.Client
	socket *client.Client
	runID  string
	upPID  int
	// seq numbers the baseline containers' names.
	seq int
}

// launchAirlock creates a session of the minimal workspace, waits until
// ready (a long poll, or GETs every poll when poll > 0), reads the server's and dockerd's timestamps and the
// agent's log, then deletes the session. Only POST until the ready answer
// is timed; the CPU time of `airlock up` and of this program is read just
// outside that window.
func (l *launcher) launchAirlock(ctx context.Context, poll time.Duration) (airlockTimes, *container.InspectResponse, error) {
	var t airlockTimes
	var s airlockup.Session
	server0, client0 := proc.CPU(l.upPID), proc.SelfCPU()
	t.t0 = time.Now()
	if err := l.api.Do(ctx, http.MethodPost, "/api/v1/sessions", map[string]string{"workspace": "minimal"}, &s); err != nil {
		return t, nil, err
	}
	id := s.ID
	var lastCheck time.Duration
	for s.State != string(airlock.SessionReady) {
		if s.State == string(airlock.SessionFailed) || s.State == string(airlock.SessionStopped) {
			return t, nil, fmt.Errorf("session %s is %s: %s", id, s.State, s.Reason)
		}
		path := "/api/v1/sessions/" + id
		if poll > 0 {
			select {
			case <-ctx.Done():
				return t, nil, errors.Join(ctx.Err(), l.deleteSession(id))
			case <-time.After(poll):
			}
		} else {
			// A long poll, as the CLI and the portal wait: the server
			// answers when the session settles.
			path += "?wait=5s"
		}
		g0 := time.Now()
		if err := l.api.Do(ctx, http.MethodGet, path, nil, &s); err != nil {
			return t, nil, errors.Join(err, l.deleteSession(id))
		}
		t.getTime += time.Since(g0)
		t.polls++
		if waited := time.Since(t.t0); waited > 5*time.Second && waited-lastCheck > time.Second {
			// Slow for a launch: see whether the container still exists.
			// Another Airlock deployment on the same daemon removes session
			// containers it does not know of as orphans.
			lastCheck = waited
			if _, err := l.socket.ContainerInspect(ctx, s.Container); errdefs.IsNotFound(err) {
				return t, nil, errors.Join(fmt.Errorf("%w: session %s, container %s (state %s after %v)",
					errLost, id, s.Container, s.State, waited.Round(time.Millisecond)), l.deleteSession(id))
			}
		}
		if time.Since(t.t0) > 2*time.Minute {
			return t, nil, errors.Join(fmt.Errorf("session %s not ready after 2 minutes (state %s)", id, s.State), l.deleteSession(id))
		}
	}
	t.seen = time.Now()
	t.total = t.seen.Sub(t.t0)
	t.serverCPU, t.clientCPU = proc.CPU(l.upPID)-server0, proc.SelfCPU()-client0

	// Untimed from here on.
	info, err := l.inspectSession(ctx, &t, &s)
	if err != nil {
		return t, nil, errors.Join(err, l.deleteSession(id))
	}
	if err := l.deleteSession(id); err != nil {
		return t, nil, err
	}
	return t, info, nil
}

// inspectSession fills the timestamps of t from the session (read again:
// started_at may be recorded just after the agent registered), its
// container as dockerd reports it, and the agent's log.
func (l *launcher) inspectSession(ctx context.Context, t *airlockTimes, s *airlockup.Session) (*container.InspectResponse, error) {
	for range 500 {
		if s.StartedAt != nil {
			break
		}
		time.Sleep(2 * time.Millisecond)
		if err := l.api.Do(ctx, http.MethodGet, "/api/v1/sessions/"+s.ID, nil, s); err != nil {
			return nil, err
		}
	}
	if s.StartedAt == nil || s.ReadyAt == nil {
		return nil, fmt.Errorf("session %s is ready but has no started_at or ready_at", s.ID)
	}
	t.created, t.started, t.ready = s.CreatedAt, *s.StartedAt, *s.ReadyAt
	info, err := l.socket.ContainerInspect(ctx, s.Container)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("%w: session %s, container %s, gone once ready", errLost, s.ID, s.Container)
	}
	if err != nil {
		return nil, fmt.Errorf("inspect container %s of session %s: %w", s.Container, s.ID, err)
	}
	if info.State == nil {
		return nil, fmt.Errorf("inspect container %s: no state", s.Container)
	}
	if t.dCreated, err = time.Parse(time.RFC3339Nano, info.Created); err != nil {
		return nil, fmt.Errorf("container %s created time: %w", s.Container, err)
	}
	if t.dStarted, err = time.Parse(time.RFC3339Nano, info.State.StartedAt); err != nil {
		return nil, fmt.Errorf("container %s start time: %w", s.Container, err)
	}
	if err := l.readAgentLog(ctx, t, info.ID); err != nil {
		return nil, err
	}
	return &info, nil
}

// readAgentLog counts the agent's failed registration attempts ("register
// failed; retrying" warnings) and finds when it logged "registered".
func (l *launcher) readAgentLog(ctx context.Context, t *airlockTimes, id string) error {
	rc, err := l.socket.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("%w: container %.12s, gone once ready", errLost, id)
	}
	if err != nil {
		return fmt.Errorf("logs of container %.12s: %w", id, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		return fmt.Errorf("logs of container %.12s: %w", id, err)
	}
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		stamp, line, _ := strings.Cut(sc.Text(), " ")
		switch {
		case strings.Contains(line, "register failed") && strings.Contains(line, "signal received"):
			// SIGTERM reached the agent while its registration was in
			// flight: the container was being stopped, not a network
			// failure.
			t.regSignalled = true
		case strings.Contains(line, "register failed"):
			t.regAttempts++
			if t.regErr == "" {
				t.regErr = line
			}
		case strings.Contains(line, "msg=registered"):
			t.registered, _ = time.Parse(time.RFC3339Nano, stamp)
		}
	}
	return nil
}

// deleteSession ends a session (see airlockup.Client.DeleteSession).
func (l *launcher) deleteSession(id string) error { return l.api.DeleteSession(id) }

// rawConfig is what the node forwards to dockerd for a session of the
// minimal workspace, less the agent's environment: the labels the node
// and the api add, and the host configuration of launcher.Start after the
// node's floor (capabilities dropped, no-new-privileges, the workspace's
// limits).
func (l *launcher) rawConfig() (*container.Config, *container.HostConfig) {
	pids := int64(64)
	return &container.Config{
			Image: images.Minimal,
			Labels: map[string]string{
				dockerpolicy.LabelManaged: "true",
				airlock.LabelWorkspace:    "minimal",
				runLabel:                  l.runID,
			},
		}, &container.HostConfig{
			ReadonlyRootfs: true,
			Tmpfs:          map[string]string{"/tmp": "rw,nosuid,nodev,size=512m"}, // the api's tmpSize
			ExtraHosts:     []string{"host.docker.internal:host-gateway"},
			SecurityOpt:    []string{"no-new-privileges=true"},
			CapDrop:        []string{"ALL"},
			RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyDisabled},
			LogConfig:      container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "2"}},
			Resources:      container.Resources{Memory: 64 << 20, PidsLimit: &pids},
		}
}

// launchRaw creates and starts one container of the same image with the
// same host configuration directly on the socket, timed until
// ContainerStart returns, then force-removes it (untimed). Without the
// AIRLOCK_* environment its agent exits at once.
func (l *launcher) launchRaw(ctx context.Context) (rawTimes, error) {
	cfg, hc := l.rawConfig()
	l.seq++
	name := fmt.Sprintf("airlock-bench-%s-%d", strings.ToLower(l.runID), l.seq)
	t0 := time.Now()
	// A network of its own, as every session has: its cost is in both
	// paths (bench/provision measures it apart).
	netID, err := sessionnet.Create(ctx, l.socket, map[string]string{runLabel: l.runID})
	if err != nil {
		return rawTimes{}, fmt.Errorf("raw network: %w", err)
	}
	hc.NetworkMode = container.NetworkMode(netID)
	created, err := l.socket.ContainerCreate(ctx, cfg, hc, nil, nil, name)
	if err != nil {
		return rawTimes{}, errors.Join(fmt.Errorf("raw create: %w", err), l.socket.NetworkRemove(ctx, netID))
	}
	t1 := time.Now()
	if err := l.socket.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return rawTimes{}, fmt.Errorf("raw start %.12s: %w", created.ID, err)
	}
	t2 := time.Now()
	if err := l.socket.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true}); err != nil {
		return rawTimes{}, fmt.Errorf("raw remove %.12s: %w", created.ID, err)
	}
	if err := l.socket.NetworkRemove(ctx, netID); err != nil {
		return rawTimes{}, fmt.Errorf("raw remove network %.12s: %w", netID, err)
	}
	return rawTimes{create: t1.Sub(t0), start: t2.Sub(t1), total: t2.Sub(t0)}, nil
}

// checkSameHostConfig compares, as dockerd reports them, the host
// configuration of a session's container and of a baseline container, so
// both paths are known to ask dockerd for the same container.
func (l *launcher) checkSameHostConfig(ctx context.Context, sess *container.InspectResponse) error {
	cfg, hc := l.rawConfig()
	created, err := l.socket.ContainerCreate(ctx, cfg, hc, nil, nil, "")
	if err != nil {
		return fmt.Errorf("check host config: create: %w", err)
	}
	raw, err := l.socket.ContainerInspect(ctx, created.ID)
	if rerr := l.socket.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true}); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		return fmt.Errorf("check host config: %w", err)
	}
	if sess.HostConfig == nil || raw.HostConfig == nil || sess.Config == nil || raw.Config == nil {
		return errors.New("check host config: inspect has no Config or HostConfig")
	}
	// Each has a network of its own, by another name.
	sh, rh := *sess.HostConfig, *raw.HostConfig
	if sh.NetworkMode.IsDefault() || sh.NetworkMode.IsBridge() {
		return fmt.Errorf("check host config: the session's container is on %q, not a network of its own", sh.NetworkMode)
	}
	sh.NetworkMode, rh.NetworkMode = "", ""
	sess.HostConfig, raw.HostConfig = &sh, &rh
	a, err := json.Marshal(sess.HostConfig)
	if err != nil {
		return err
	}
	b, err := json.Marshal(raw.HostConfig)
	if err != nil {
		return err
	}
	if !bytes.Equal(a, b) {
		return fmt.Errorf("check host config: they differ:\nsession:  %s\nbaseline: %s", a, b)
	}
	if sess.Image != raw.Image {
		return fmt.Errorf("check host config: images differ: session %s, baseline %s", sess.Image, raw.Image)
	}
	if sess.Config.User != raw.Config.User || !equalStrings(sess.Config.Entrypoint, raw.Config.Entrypoint) {
		return fmt.Errorf("check host config: process differs: session %q %q, baseline %q %q",
			sess.Config.User, sess.Config.Entrypoint, raw.Config.User, raw.Config.Entrypoint)
	}
	return nil
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}
