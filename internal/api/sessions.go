package api

import (
	"context"
	"net/http"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/sessions"
	"github.com/airlock-rbi/airlock/internal/signal"
)

// Driver is what the api needs of the launcher: the session service's.
type Driver = sessions.Driver

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
	// EndReason is why a session ended: idle, lifetime, user, admin,
	// lost or failed.
	EndReason string `json:"end_reason,omitempty"`
	// ExpiresAt is when the lifetime ends; EndsAt and EndsFor are when and
	// why (idle or lifetime) a running session ends if nothing changes,
	// WarnSeconds how long before that its viewer warns, and
	// Extendable whether the user may push the lifetime later.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	EndsAt    *time.Time `json:"ends_at,omitempty"`
	EndsFor   string     `json:"ends_for,omitempty"`
	// EndsIn is EndsAt as seconds from the answer, for a client whose
	// clock is not the server's.
	EndsIn      *int64 `json:"ends_in_seconds,omitempty"`
	WarnSeconds int    `json:"warn_seconds,omitempty"`
	Extendable  bool   `json:"extendable,omitempty"`
	// ResumeBy is, for a suspended session, when its grace ends (its
	// user may resume it until then; it is removed after), and ResumeIn
	// the same as seconds from the answer.
	ResumeBy *time.Time `json:"resume_by,omitempty"`
	ResumeIn *int64     `json:"resume_in_seconds,omitempty"`
	// Connect is, in the answer of a launch that handed out a warm
	// session (ready at once), what POST …/connect would answer: the
	// viewer opens the relay without asking for it.
	Connect *connectResponse `json:"connect,omitempty"`
}

func viewSession(s *airlock.Session) sessionView {
	return sessionView{ID: s.ID, User: s.UserID, Workspace: s.WorkspaceID, Node: s.NodeID, Container: s.ContainerID,
		State: string(s.State), Reason: s.Reason, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, StartedAt: s.StartedAt,
		ReadyAt: s.ReadyAt, StoppedAt: s.StoppedAt, HeartbeatAt: s.LastHeartbeat, EndReason: string(s.EndReason),
		ExpiresAt: s.ExpiresAt}
}

// viewLive is viewSession with, for a running session, when and why it
// ends under the limits of its workspace ws (nil: deleted, the
// deployment's limits).
func (s *Server) viewLive(sess *airlock.Session, ws *airlock.Workspace, now time.Time) sessionView {
	v := viewSession(sess)
	if sess.State.Final() || sess.State == airlock.SessionStopping {
		return v
	}
	if sess.State == airlock.SessionSuspended {
		if sess.ResumeBy != nil {
			in := int64(max(sess.ResumeBy.Sub(now), 0) / time.Second)
			v.ResumeBy, v.ResumeIn = sess.ResumeBy, &in
		}
		return v
	}
	if ws == nil {
		ws = &airlock.Workspace{}
	}
	l := s.sessions.Limits(sess.Policy.Apply(ws))
	ends := airlock.SessionEnds(sess, l)
	in := int64(max(ends.At.Sub(now), 0) / time.Second)
	v.EndsAt, v.EndsFor, v.EndsIn = &ends.At, string(ends.Reason), &in
	v.WarnSeconds = int(sessions.Warning(l) / time.Second)
	v.Extendable = airlock.Extendable(sess, l)
	return v
}

// viewsLive are the views of list, each workspace read once.
func (s *Server) viewsLive(ctx context.Context, list ...*airlock.Session) ([]sessionView, error) {
	now := s.clock.now()
	workspaces := map[string]*airlock.Workspace{}
	out := make([]sessionView, 0, len(list))
	for _, x := range list {
		ws, ok := workspaces[x.WorkspaceID]
		if !ok && !x.State.Final() {
			var err error
			ws, err = s.store.WorkspaceByID(ctx, x.WorkspaceID)
			if err != nil && airlock.ErrorCode(err) != airlock.ENOTFOUND {
				return nil, err
			}
			workspaces[x.WorkspaceID] = ws
		}
		out = append(out, s.viewLive(x, ws, now))
	}
	return out, nil
}

// writeSession answers with the view of sess.
func (s *Server) writeSession(ctx context.Context, w http.ResponseWriter, status int, sess *airlock.Session) error {
	views, err := s.viewsLive(ctx, sess)
	if err != nil {
		return err
	}
	writeJSON(w, status, views[0])
	return nil
}

// extendSession keeps a session going: the call counts as the user's
// input, and the lifetime moves as far as the workspace allows.
func (s *Server) extendSession(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	sess, err := s.visibleSession(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if sess.State != airlock.SessionReady && sess.State != airlock.SessionStarting {
		return airlock.Errorf(airlock.ECONFLICT, "session %s is %s: only a running session can be extended", sess.ID, sess.State)
	}
	ws, err := s.workspaceOfSession(ctx, sess)
	if err != nil {
		return err
	}
	out, err := s.sessions.Extend(ctx, sess, ws)
	if err != nil {
		return err
	}
	s.audit(ctx, callerOf(ctx).User.Name, "session.extend", sess.ID, "")
	return s.writeSession(ctx, w, http.StatusOK, out)
}

// workspaceOfSession is the workspace of sess as the session runs it
// (under the policy it was launched with), or one with its ID alone
// (the deployment's limits) when it was deleted.
func (s *Server) workspaceOfSession(ctx context.Context, sess *airlock.Session) (*airlock.Workspace, error) {
	ws, err := s.store.WorkspaceByID(ctx, sess.WorkspaceID)
	if airlock.ErrorCode(err) == airlock.ENOTFOUND {
		ws, err = &airlock.Workspace{ID: sess.WorkspaceID}, nil
	}
	if err != nil {
		return nil, err
	}
	return sess.Policy.Apply(ws), nil
}

// resumeSession starts a suspended session again; the answer is the
// session, starting, which the client waits on as after a launch.
func (s *Server) resumeSession(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	sess, err := s.visibleSession(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	ws, err := s.workspaceOfSession(ctx, sess)
	if err != nil {
		return err
	}
	out, err := s.sessions.Resume(ctx, sess, ws)
	if err != nil {
		return err
	}
	s.watch.notify(sess.ID)
	s.audit(ctx, callerOf(ctx).User.Name, "session.resume", sess.ID, "")
	return s.writeSession(ctx, w, http.StatusOK, out)
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
	if err := ws.ValidateSeccomp(s.sessions.SeccompNames()); err != nil {
		return airlock.Errorf(airlock.ECONFLICT, "workspace %q cannot be launched by this server: %s", ws.Name, airlock.ErrorMessage(err))
	}
	eff, err := s.effective(ctx, u, ws)
	if err != nil {
		return err
	}
	limit := eff.MaxSessions
	// A cheap early answer; CreateSessionWithin makes the check binding.
	active, err := s.store.CountSessions(ctx, airlock.SessionFilter{UserID: u.ID, States: airlock.ActiveStates})
	if err != nil {
		return err
	}
	if active >= limit {
		return airlock.Errorf(airlock.ELIMIT, "you have %d active sessions and your limit is %d; end one first", active, limit)
	}
	// A warm session of the workspace's pool, when there is one: ready at
	// once. Else a cold launch.
	warm, err := s.sessions.Handout(ctx, ws, eff.Policy, u.ID, req.LaunchKey, viewer, limit)
	ws = eff.Policy.Apply(ws)
	switch airlock.ErrorCode(err) {
	case "":
		s.audit(ctx, u.Name, "session.create", warm.ID, ws.Name+" (warm)")
		v := s.viewLive(warm, ws, s.clock.now())
		// The one who launched it views it next: the answer carries the
		// relay's token, a round trip the click no longer waits for.
		grant, err := s.connectAnswer(r, u.ID, warm.ID, signal.RoleViewer, callerOf(ctx).TokenID)
		if err != nil {
			return err
		}
		grant.Clipboard = ws.Clipboard.OrDefault()
		v.Connect = &grant
		s.audit(ctx, u.Name, "session.connect", warm.ID, "")
		writeJSON(w, http.StatusCreated, v)
		return nil
	case airlock.ENOTFOUND:
	case airlock.ECONFLICT:
		return s.launchedMeanwhile(ctx, w, u.ID, req.LaunchKey, err)
	default:
		return err
	}
	node, err := s.sessions.PickNode(ctx, ws)
	if err != nil {
		return err
	}
	reg, err := auth.NewToken(auth.KindRegister)
	if err != nil {
		return err
	}
	now := s.clock.now()
	id := newID()
	expires := now.Add(s.sessions.Limits(ws).Lifetime)
	sess := &airlock.Session{ID: id, UserID: u.ID, WorkspaceID: ws.ID, NodeID: node.ID,
		ContainerID: sessions.ContainerName(id), State: airlock.SessionStarting, RegisterHash: reg.Hash(), ResumeHash: reg.Hash(), CreatedAt: now, UpdatedAt: now,
		LaunchKey: req.LaunchKey, ExpiresAt: &expires, Policy: eff.Policy}
	if err := s.store.CreateSessionWithin(ctx, sess, limit, node.Capacity); err != nil {
		if airlock.ErrorCode(err) == airlock.ECONFLICT {
			return s.launchedMeanwhile(ctx, w, u.ID, req.LaunchKey, err)
		}
		return err
	}
	s.audit(ctx, u.Name, "session.create", id, ws.Name)
	s.sessions.Launch(sess, ws, viewer, node, reg)
	writeJSON(w, http.StatusCreated, s.viewLive(sess, ws, now))
	return nil
}

// launchedMeanwhile answers a launch whose write conflicted (err) with
// the session the same launch, asked again at once, made meanwhile: the
// other asking won. Without a launch key, or without such a session,
// the answer is err.
func (s *Server) launchedMeanwhile(ctx context.Context, w http.ResponseWriter, user, key string, err error) error {
	if key == "" {
		return err
	}
	prev, perr := s.store.SessionByLaunchKey(ctx, user, key)
	if perr != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewSession(prev))
	return nil
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
	return s.writeSession(r.Context(), w, http.StatusOK, sess)
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
	out, err := s.viewsLive(ctx, list...)
	if err != nil {
		return err
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
	caller := callerOf(ctx).User
	end, reason := airlock.EndUser, ""
	if caller.ID != sess.UserID {
		end, reason = airlock.EndAdmin, "an administrator ended the session"
	}
	s.audit(ctx, caller.Name, "session.delete", sess.ID, "")
	stopped, err := s.sessions.Stop(context.WithoutCancel(ctx), sess.ID, end, reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewSession(stopped))
	return nil
}
