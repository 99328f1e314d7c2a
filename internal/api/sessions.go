package api

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/launcher"
	"github.com/airlock-rbi/airlock/internal/scheduler"
)

// Driver is what the api needs of the launcher.
type Driver interface {
	Start(ctx context.Context, nodeURL string, spec launcher.Spec) (string, error)
	Remove(ctx context.Context, nodeURL, containerID string, grace time.Duration) error
}

type sessionView struct {
	ID          string     `json:"id"`
	User        string     `json:"user_id"`
	Workspace   string     `json:"workspace_id"`
	Node        string     `json:"node_id,omitempty"`
	Container   string     `json:"container,omitempty"`
	State       string     `json:"state"`
	Reason      string     `json:"reason,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	ReadyAt     *time.Time `json:"ready_at,omitempty"`
	StoppedAt   *time.Time `json:"stopped_at,omitempty"`
	HeartbeatAt *time.Time `json:"heartbeat_at,omitempty"`
}

func viewSession(s *airlock.Session) sessionView {
	return sessionView{ID: s.ID, User: s.UserID, Workspace: s.WorkspaceID, Node: s.NodeID, Container: s.ContainerID,
		State: string(s.State), Reason: s.Reason, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, StartedAt: s.StartedAt,
		ReadyAt: s.ReadyAt, StoppedAt: s.StoppedAt, HeartbeatAt: s.LastHeartbeat}
}

type createSessionRequest struct {
	Workspace string `json:"workspace"`
	// The viewer's browser settings, each optional: its language
	// (navigator.language), IANA time zone and devicePixelRatio.
	Locale   string  `json:"locale,omitempty"`
	TimeZone string  `json:"timezone,omitempty"`
	Scale    float64 `json:"scale,omitempty"`
	// LaunchKey, when given, makes the request safe to send again: a
	// client whose answer was lost (a network change cut it off) asks
	// again with the same key and gets the session the first request
	// made, not a second one.
	LaunchKey string `json:"launch_key,omitempty"`
}

// maxLaunchKey bounds a launch key; a UUID is 36.
const maxLaunchKey = 64

// validLaunchKey checks a launch key's shape: letters, digits, - and _.
func validLaunchKey(k string) error {
	if len(k) > maxLaunchKey {
		return airlock.Errorf(airlock.EINVALID, "launch_key is %d characters; at most %d", len(k), maxLaunchKey)
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return airlock.Errorf(airlock.EINVALID, "launch_key %q: only letters, digits, - and _ (a UUID will do)", k)
		}
	}
	return nil
}

// nodeSilence is how long a node may go without a heartbeat and still
// be given new sessions.
const nodeSilence = time.Minute

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) error {
	var req createSessionRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Workspace == "" {
		return airlock.Errorf(airlock.EINVALID, "workspace is required")
	}
	viewer := airlock.Viewer{Locale: req.Locale, TimeZone: req.TimeZone, Scale: req.Scale}
	if err := viewer.Validate(); err != nil {
		return err
	}
	if err := validLaunchKey(req.LaunchKey); err != nil {
		return err
	}
	ctx := r.Context()
	u := callerOf(ctx).User
	// Asked again: the answer is the session the first asking made. Before
	// the limits, which that session counts toward.
	if req.LaunchKey != "" {
		prev, err := s.store.SessionByLaunchKey(ctx, u.ID, req.LaunchKey)
		if err == nil {
			writeJSON(w, http.StatusOK, viewSession(prev))
			return nil
		}
		if airlock.ErrorCode(err) != airlock.ENOTFOUND {
			return err
		}
	}
	ws, err := s.store.WorkspaceByName(ctx, req.Workspace)
	if err != nil {
		return err
	}
	// The workspace may name a profile this server was started without
	// (another api process's configuration, or a profile since removed).
	if err := ws.ValidateSeccomp(s.seccompNames); err != nil {
		return airlock.Errorf(airlock.ECONFLICT, "workspace %q cannot be launched by this server: %s", ws.Name, airlock.ErrorMessage(err))
	}
	limit := u.MaxSessions
	if limit == 0 {
		limit = s.maxSess
	}
	// A cheap early answer; CreateSessionWithin makes the check binding.
	active, err := s.store.CountSessions(ctx, airlock.SessionFilter{UserID: u.ID, States: airlock.ActiveStates})
	if err != nil {
		return err
	}
	if active >= limit {
		return airlock.Errorf(airlock.ELIMIT, "you have %d active sessions and your limit is %d; end one first", active, limit)
	}
	node, err := s.pickNode(ctx, ws)
	if err != nil {
		return err
	}
	reg, err := auth.NewToken(auth.KindRegister)
	if err != nil {
		return err
	}
	now := s.clock.now()
	id := newID()
	sess := &airlock.Session{ID: id, UserID: u.ID, WorkspaceID: ws.ID, NodeID: node.ID,
		ContainerID: containerName(id), State: airlock.SessionStarting, RegisterHash: reg.Hash(), CreatedAt: now, UpdatedAt: now,
		LaunchKey: req.LaunchKey}
	if err := s.store.CreateSessionWithin(ctx, sess, limit, node.Capacity); err != nil {
		// The same launch asked at once, and the other asking won.
		if req.LaunchKey != "" && airlock.ErrorCode(err) == airlock.ECONFLICT {
			if prev, perr := s.store.SessionByLaunchKey(ctx, u.ID, req.LaunchKey); perr == nil {
				writeJSON(w, http.StatusOK, viewSession(prev))
				return nil
			}
		}
		return err
	}
	s.audit(ctx, u.Name, "session.create", id, ws.Name)
	s.goLaunch(sess, ws, viewer, node, reg)
	writeJSON(w, http.StatusCreated, viewSession(sess))
	return nil
}

// containerName is known before the container exists, so a session always
// names its container, even if the server dies mid-create.
func containerName(sessionID string) string { return "airlock-" + sessionID }

func (s *Server) pickNode(ctx context.Context, ws *airlock.Workspace) (*airlock.Node, error) {
	nodes, err := s.store.ListNodes(ctx)
	if err != nil {
		return nil, err
	}
	cands := make([]scheduler.Candidate, 0, len(nodes))
	for _, n := range nodes {
		active, err := s.store.CountSessions(ctx, airlock.SessionFilter{NodeID: n.ID, States: airlock.ActiveStates})
		if err != nil {
			return nil, err
		}
		cands = append(cands, scheduler.Candidate{Node: n, Active: active})
	}
	return scheduler.Pick(cands, ws, s.clock.now(), nodeSilence)
}

// goLaunch creates and starts the session's container in the background:
// the request returns at once with state starting.
func (s *Server) goLaunch(sess *airlock.Session, ws *airlock.Workspace, viewer airlock.Viewer, node *airlock.Node, reg auth.Token) {
	s.bg.Add(1)
	s.inflight.Store(sess.ID, true)
	go func() {
		defer s.bg.Done()
		defer s.inflight.Delete(sess.ID)
		ctx, cancel := context.WithTimeout(s.bgCtx, 2*time.Minute)
		defer cancel()
		spec, err := s.containerSpec(sess, ws, viewer, reg)
		if err != nil {
			s.log.Error("launch failed", "session", sess.ID, "node", node.Name, "err", err)
			s.failSession(sess.ID, fmt.Sprintf("workspace %s cannot be launched by this server; an administrator can find why in the server log", ws.Name))
			return
		}
		containerID, err := s.driver.Start(ctx, node.URL, spec)
		if err != nil {
			// The detail (daemon output, addresses) is for operators only.
			s.log.Error("launch failed", "session", sess.ID, "node", node.Name, "err", err)
			s.failSession(sess.ID, fmt.Sprintf("could not start the workspace's container on node %s; an administrator can find why in the server log", node.Name))
			return
		}
		started := s.clock.now()
		// The agent may already have registered; keep whichever state stands.
		if _, err := s.store.UpdateSession(s.bgCtx, sess.ID, airlock.SessionUpdate{
			From: []airlock.SessionState{airlock.SessionStarting, airlock.SessionReady}, StartedAt: &started,
			ContainerAddrs: s.containerAddrs(ctx, sess.ID, node.URL, containerID),
		}, started); err != nil && airlock.ErrorCode(err) != airlock.ECONFLICT {
			s.log.Error("record container start", "session", sess.ID, "err", err)
		}
	}()
}

// addresser is a Driver that reports a started container's addresses.
type addresser interface {
	Addresses(ctx context.Context, nodeURL, containerID string) ([]netip.Addr, error)
}

// containerAddrs asks the node for the addresses of a session's started
// container, which TURN allows as its viewers' only peers. Unknown (nil)
// leaves TURN allowing any address of the session networks: a failed
// inspect is logged, not a failed launch.
func (s *Server) containerAddrs(ctx context.Context, session, nodeURL, containerID string) *[]netip.Addr {
	a, ok := s.driver.(addresser)
	if !ok {
		return nil
	}
	addrs, err := a.Addresses(ctx, nodeURL, containerID)
	if err != nil || len(addrs) == 0 {
		s.log.Warn("container addresses unknown: TURN allows the whole session networks", "session", session, "err", err)
		return nil
	}
	return &addrs
}

// InFlight reports whether this process is launching session id now; the
// lifecycle jobs use it to tell a launch cut short by a restart.
func (s *Server) InFlight(id string) bool {
	_, ok := s.inflight.Load(id)
	return ok
}

// failSession marks a session failed with a reason for the user.
func (s *Server) failSession(id, reason string) {
	now := s.clock.now()
	_, err := s.store.UpdateSession(context.WithoutCancel(s.bgCtx), id, airlock.SessionUpdate{
		From: []airlock.SessionState{airlock.SessionPending, airlock.SessionStarting, airlock.SessionReady},
		To:   airlock.SessionFailed, Reason: &reason, StoppedAt: &now,
	}, now)
	s.watch.notify(id)
	if err != nil && airlock.ErrorCode(err) != airlock.ECONFLICT {
		s.log.Error("mark session failed", "session", id, "err", err)
	}
}

// tmpSize bounds the /tmp tmpfs of session containers. The root is
// read-only, so /tmp is where Chromium keeps its profile and cache; a
// tmpfs holds only what is written to it, counted against the
// container's memory limit, so a large bound costs nothing by itself.
const tmpSize = "512m"

// containerSpec is the container of session sess of workspace ws,
// launched by viewer. It fails only when ws names a seccomp profile the
// server does not have, or has a browser policy too large to pass on.
func (s *Server) containerSpec(sess *airlock.Session, ws *airlock.Workspace, viewer airlock.Viewer, reg auth.Token) (launcher.Spec, error) {
	var securityOpt []string
	if ws.Seccomp != airlock.SeccompDefault {
		profile, ok := s.seccomp[ws.Seccomp]
		if !ok {
			return launcher.Spec{}, fmt.Errorf("container of session %s: workspace %s: seccomp profile %q is not one of this server's (%v)",
				sess.ID, ws.Name, ws.Seccomp, s.seccompNames)
		}
		securityOpt = []string{"seccomp=" + string(profile)}
	}
	env := make([]string, 0, len(ws.Env)+6)
	for k, v := range ws.Env {
		env = append(env, k+"="+v)
	}
	env = append(env,
		"AIRLOCK_SERVER="+s.agentURL,
		"AIRLOCK_SESSION="+sess.ID,
		"AIRLOCK_REGISTER_TOKEN="+reg.String(),
		"AIRLOCK_CA_PEM="+string(s.caPEM),
		"AIRLOCK_CLIPBOARD="+string(ws.Clipboard.OrDefault()),
	)
	if ws.StartURL != "" {
		env = append(env, "AIRLOCK_START_URL="+ws.StartURL)
	}
	browser, err := browserEnv(ws, viewer)
	if err != nil {
		return launcher.Spec{}, fmt.Errorf("container of session %s: %w", sess.ID, err)
	}
	env = append(env, browser...)
	egress, err := egressLabel(ws)
	if err != nil {
		return launcher.Spec{}, fmt.Errorf("container of session %s: %w", sess.ID, err)
	}
	return launcher.Spec{
		Name:  sess.ContainerID,
		Image: ws.Image,
		Env:   env,
		Labels: map[string]string{
			airlock.LabelSession:   sess.ID,
			airlock.LabelWorkspace: ws.Name,
			airlock.LabelUser:      sess.UserID,
		},
		Isolation:   string(ws.Isolation),
		Egress:      egress,
		Runtime:     sessionRuntime(ws.Isolation),
		Memory:      ws.Memory,
		NanoCPUs:    ws.NanoCPUs,
		PidsLimit:   ws.PidsLimit,
		ShmSize:     ws.ShmSize,
		ExtraHosts:  s.extraHosts,
		Tmpfs:       map[string]string{"/tmp": "rw,nosuid,nodev,size=" + tmpSize},
		SecurityOpt: securityOpt,
	}, nil
}

// sandboxRuntime is the OCI runtime sandboxed sessions run under: gVisor's
// runsc, the one a node proves before it advertises sandboxed (see
// enroll.SandboxRuntime) and its policy requires on a sandboxed network.
const sandboxRuntime = "runsc"

// sessionRuntime is the runtime a session of level l asks for: runsc for
// sandboxed, else none (the daemon's default, runc).
func sessionRuntime(l airlock.Isolation) string {
	if l == airlock.IsolationSandboxed {
		return sandboxRuntime
	}
	return ""
}

// visibleSession returns the session if the caller may see it; others'
// sessions are reported as not found.
func (s *Server) visibleSession(ctx context.Context, id string) (*airlock.Session, error) {
	sess, err := s.store.SessionByID(ctx, id)
	if err != nil {
		return nil, err
	}
	u := callerOf(ctx).User
	if sess.UserID != u.ID && u.Role != airlock.RoleAdmin {
		return nil, airlock.Errorf(airlock.ENOTFOUND, "session %q not found", id)
	}
	return sess, nil
}

// getSession answers at once, or with ?wait=30s once the session is no
// longer pending or starting (a long poll: `session create --wait` and the
// portal learn of ready without polling).
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) error {
	wait, err := waitParam(r)
	if err != nil {
		return err
	}
	var sess *airlock.Session
	if wait > 0 {
		sess, err = s.waitSettled(r.Context(), r.PathValue("id"), wait)
	} else {
		sess, err = s.visibleSession(r.Context(), r.PathValue("id"))
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewSession(sess))
	return nil
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := callerOf(ctx).User
	f := airlock.SessionFilter{UserID: u.ID}
	if r.URL.Query().Get("all") == "1" {
		if u.Role != airlock.RoleAdmin {
			return airlock.Errorf(airlock.EFORBIDDEN, "all=1 needs the admin role")
		}
		f.UserID = ""
	}
	if r.URL.Query().Get("active") == "1" {
		f.States = airlock.ActiveStates
	}
	list, err := s.store.ListSessions(ctx, f)
	if err != nil {
		return err
	}
	out := make([]sessionView, 0, len(list))
	for _, x := range list {
		out = append(out, viewSession(x))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deleteSession stops and removes the session's container, then answers
// with the stopped session.
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	sess, err := s.visibleSession(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if sess.State.Final() {
		writeJSON(w, http.StatusOK, viewSession(sess))
		return nil
	}
	now := s.clock.now()
	if _, err := s.store.UpdateSession(ctx, sess.ID, airlock.SessionUpdate{
		From: []airlock.SessionState{airlock.SessionPending, airlock.SessionStarting, airlock.SessionReady},
		To:   airlock.SessionStopping,
	}, now); err != nil && airlock.ErrorCode(err) != airlock.ECONFLICT {
		return err
	}
	// Before the container goes, which may take a while or fail: the
	// viewer and the agent lose the relay now.
	s.revoker.RevokeSession(sess.ID)
	s.audit(ctx, callerOf(ctx).User.Name, "session.delete", sess.ID, "")
	stopped, err := s.StopSession(context.WithoutCancel(ctx), sess.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewSession(stopped))
	return nil
}

// StopSession removes the container of a stopping session and marks it
// stopped. The lifecycle jobs call it for sessions left stopping. Calls
// for one session wait for each other; a session another server stopped
// meanwhile is returned as it is.
func (s *Server) StopSession(ctx context.Context, id string) (*airlock.Session, error) {
	mu, _ := s.stopping.LoadOrStore(id, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer func() {
		mu.(*sync.Mutex).Unlock()
		s.stopping.CompareAndDelete(id, mu)
	}()
	sess, err := s.store.SessionByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if sess.State != airlock.SessionStopping {
		return sess, nil
	}
	s.revoker.RevokeSession(id)
	if sess.NodeID != "" && sess.ContainerID != "" {
		node, err := s.store.NodeByID(ctx, sess.NodeID)
		if err != nil && airlock.ErrorCode(err) != airlock.ENOTFOUND {
			return nil, err
		}
		if node != nil {
			rctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if err := s.driver.Remove(rctx, node.URL, sess.ContainerID, 10*time.Second); err != nil {
				s.log.Error("remove session container", "session", id, "node", node.Name, "err", err)
				return nil, airlock.Errorf(airlock.EUNAVAILABLE, "could not remove the container on node %s; the session stays stopping and removal is retried", node.Name)
			}
		}
	}
	now := s.clock.now()
	defer s.watch.notify(id)
	stopped, err := s.store.UpdateSession(ctx, id, airlock.SessionUpdate{
		From: []airlock.SessionState{airlock.SessionStopping}, To: airlock.SessionStopped, StoppedAt: &now,
	}, now)
	if airlock.ErrorCode(err) == airlock.ECONFLICT {
		// Another server's round got there first.
		if cur, cerr := s.store.SessionByID(ctx, id); cerr == nil && cur.State.Final() {
			return cur, nil
		}
	}
	return stopped, err
}

func (s *Server) audit(ctx context.Context, actor, action, target, detail string) {
	e := &airlock.AuditEvent{Time: s.clock.now(), Actor: actor, Action: action, Target: target, Detail: detail}
	if err := s.store.AppendAudit(ctx, e); err != nil {
		s.log.Error("audit", "action", action, "target", target, "err", err)
	}
}
