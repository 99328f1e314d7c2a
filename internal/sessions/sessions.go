// Package sessions is the one place a session changes state on the infra
// side: a launch creates and starts its container, a stop removes it, a
// failure records why. The api (a user's launch and delete, a node's
// removal) and the lifecycle jobs (an agent gone silent, a container that
// exited) both call it, so that every end of a session is carried out and
// announced the same way: viewers and relays cut off at once, waiters
// woken, the container removed before the final state is written.
package sessions

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/scheduler"
)

// Driver is what the service needs of the launcher.
type Driver interface {
	Start(ctx context.Context, nodeURL string, spec airlock.ContainerSpec) (string, error)
	Remove(ctx context.Context, nodeURL, containerID string, grace time.Duration) error
	// Halt stops a container and keeps it; Resume starts it again.
	Halt(ctx context.Context, nodeURL, containerID string, grace time.Duration) error
	Resume(ctx context.Context, nodeURL, containerID string) error
}

// addresser is a Driver that reports a started container's addresses.
type addresser interface {
	Addresses(ctx context.Context, nodeURL, containerID string) ([]netip.Addr, error)
}

// Store is what the service needs of the store.
type Store interface {
	SessionByID(ctx context.Context, id string) (*airlock.Session, error)
	UpdateSession(ctx context.Context, id string, u airlock.SessionUpdate, now time.Time) (*airlock.Session, error)
	NodeByID(ctx context.Context, id string) (*airlock.Node, error)
	ListNodes(ctx context.Context) ([]*airlock.Node, error)
	CountSessions(ctx context.Context, f airlock.SessionFilter) (int, error)
	CountSessionsByNode(ctx context.Context, f airlock.SessionFilter) (map[string]int, error)
	CreateSessionWithin(ctx context.Context, s *airlock.Session, userLimit, nodeCapacity int) error
	ClaimWarm(ctx context.Context, workspace string, h airlock.Handout, userLimit int, now time.Time) (*airlock.Session, error)
}

// Options configure a Service. Store and Driver are required.
type Options struct {
	Store  Store
	Driver Driver
	// AgentURL is the api's URL as seen from inside session containers.
	AgentURL string
	// CAPEM is the deployment CA certificate given to agents.
	CAPEM []byte
	// ExtraHosts are added to session containers' /etc/hosts.
	ExtraHosts []string
	// SeccompProfiles are the profiles workspaces may name, by name, as
	// Docker's JSON profile format.
	SeccompProfiles map[string][]byte
	// Limits are the deployment's session limits, which a workspace's own
	// override field by field; zero fields take airlock.DefaultLimits.
	Limits airlock.Limits
	// NodeSilence is how long a node may go unheard and still be given
	// new sessions (see NodeSilence); default NodeSilence(0).
	NodeSilence time.Duration
	// Placement is how a launched session is placed among the nodes that
	// can take it; default scheduler.Spread. Warm pools always spread.
	Placement scheduler.Strategy
	// OnEnd is told each session that ends (stopped or failed), so that
	// what holds a connection to it (viewers on the relay, TURN
	// allocations) is closed at once. Optional.
	OnEnd func(sessionID string)
	// OnFinal is given each session this service ended (stopped or
	// failed), as stored, for the audit log. Optional.
	OnFinal func(ctx context.Context, sess *airlock.Session)
	// OnChange is told each state this service writes, so that waiters on
	// the session learn of it at once. Optional.
	OnChange func(sessionID string)
	Logger   *slog.Logger
	// Now defaults to airlock.Now.
	Now func() time.Time
}

// Service carries out session transitions.
type Service struct {
	store      Store
	driver     Driver
	agentURL   string
	caPEM      []byte
	extraHosts []string
	seccomp    map[string][]byte
	limits     airlock.Limits
	// nodeSilence: see Options.NodeSilence.
	nodeSilence time.Duration
	placement   scheduler.Strategy
	onEnd       func(string)
	onFinal     func(context.Context, *airlock.Session)
	onChange    func(string)
	log         *slog.Logger
	now         func() time.Time

	// bg tracks launches running past their request; Close waits for them.
	bg       sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc
	// inflight holds the IDs of sessions being launched by this process.
	inflight sync.Map
	// stopping holds a *sync.Mutex per session being stopped by this
	// process: a user's delete and the lifecycle job's round would
	// otherwise remove the same container and network at once.
	stopping sync.Map
}

// New builds a Service. It fails on a seccomp profile that is not JSON or
// has a bad name.
func New(o Options) (*Service, error) {
	s := &Service{store: o.Store, driver: o.Driver, agentURL: o.AgentURL, caPEM: o.CAPEM, extraHosts: o.ExtraHosts,
		limits: o.Limits.Or(airlock.DefaultLimits), nodeSilence: cmp.Or(o.NodeSilence, NodeSilence(0)),
		placement: cmp.Or(o.Placement, scheduler.Spread),
		onEnd:     o.OnEnd, onFinal: o.OnFinal, onChange: o.OnChange, log: o.Logger, now: o.Now}
	if err := o.Limits.Validate(); err != nil {
		return nil, fmt.Errorf("sessions: deployment limits: %s", airlock.ErrorMessage(err))
	}
	var err error
	if s.seccomp, err = loadProfiles(o.SeccompProfiles); err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = airlock.Now
	}
	if s.onEnd == nil {
		s.onEnd = func(string) {}
	}
	if s.onChange == nil {
		s.onChange = func(string) {}
	}
	if s.onFinal == nil {
		s.onFinal = func(context.Context, *airlock.Session) {}
	}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	return s, nil
}

// loadProfiles checks the seccomp profiles' names and JSON and keeps
// each compacted, in a map of the service's own.
func loadProfiles(in map[string][]byte) (map[string][]byte, error) {
	out := make(map[string][]byte, len(in))
	for name, profile := range in {
		if err := airlock.ValidName("seccomp profile", name); err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, profile); err != nil {
			return nil, fmt.Errorf("seccomp profile %q is not JSON: %w", name, err)
		}
		out[name] = buf.Bytes()
	}
	return out, nil
}

// SeccompNames are the names of the profiles the service launches with,
// sorted.
func (s *Service) SeccompNames() []string { return slices.Sorted(maps.Keys(s.seccomp)) }

// Limits are the limits of ws's sessions: the workspace's own, the
// deployment's for the rest.
func (s *Service) Limits(ws *airlock.Workspace) airlock.Limits { return ws.Limits.Or(s.limits) }

// Close stops background launches and waits for them.
func (s *Service) Close() {
	s.bgCancel()
	s.bg.Wait()
}

// clock is the service's time, as the store keeps it.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Launch creates and starts the container of sess, a starting session of
// workspace ws placed on node, in the background: the caller answers at
// once. A launch that fails marks the session failed with a reason for
// the user; the detail goes to the log.
func (s *Service) Launch(sess *airlock.Session, ws *airlock.Workspace, viewer airlock.Viewer, node *airlock.Node, reg auth.Token) {
	s.bg.Add(1)
	s.inflight.Store(sess.ID, true)
	go func() {
		defer s.bg.Done()
		defer s.inflight.Delete(sess.ID)
		ctx, cancel := context.WithTimeout(s.bgCtx, 2*time.Minute)
		defer cancel()
		spec, err := s.ContainerSpec(sess, ws, viewer, reg)
		if err != nil {
			s.log.Error("launch failed", "session", sess.ID, "node", node.Name, "err", err)
			s.failLaunch(sess, fmt.Sprintf("workspace %s cannot be launched by this server; an administrator can find why in the server log", ws.Name))
			return
		}
		containerID, err := s.driver.Start(ctx, node.URL, spec)
		if err != nil {
			// The detail (daemon output, addresses) is for operators only.
			s.log.Error("launch failed", "session", sess.ID, "node", node.Name, "err", err)
			s.failLaunch(sess, fmt.Sprintf("could not start the workspace's container on node %s; an administrator can find why in the server log", node.Name))
			return
		}
		started := s.clock()
		// The agent may already have registered; keep whichever state stands.
		if _, err := s.store.UpdateSession(s.bgCtx, sess.ID, airlock.SessionUpdate{
			From: []airlock.SessionState{airlock.SessionStarting, airlock.SessionReady}, StartedAt: &started,
			ContainerAddrs: s.containerAddrs(ctx, sess.ID, node.URL, containerID),
		}, started); err != nil && airlock.ErrorCode(err) != airlock.ECONFLICT {
			s.log.Error("record container start", "session", sess.ID, "err", err)
		}
	}()
}

// failLaunch marks a session whose launch failed: the launcher removed
// what it had created, so there is no container to remove.
func (s *Service) failLaunch(sess *airlock.Session, reason string) {
	if err := s.Fail(context.WithoutCancel(s.bgCtx), sess, nil, airlock.EndFailed, reason); err != nil {
		s.log.Error("mark session failed", "session", sess.ID, "err", err)
	}
}

// containerAddrs asks the node for the addresses of a session's started
// container, which TURN allows as its viewers' only peers. Unknown (nil)
// leaves TURN allowing any address of the session networks: a failed
// inspect is logged, not a failed launch.
func (s *Service) containerAddrs(ctx context.Context, session, nodeURL, containerID string) *[]netip.Addr {
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
func (s *Service) InFlight(id string) bool {
	_, ok := s.inflight.Load(id)
	return ok
}

// Fail ends sess, as it was read, for end (failed, lost, or admin for a
// node removed) with reason for the user, then removes its container
// from node (when node is known and the session names one), so a failed
// session holds nothing. A session that moved on since it was read is
// left to whoever moved it, container and all.
func (s *Service) Fail(ctx context.Context, sess *airlock.Session, node *airlock.Node, end airlock.EndReason, reason string) error {
	// Marked first, on the state it was read in: a session that moved on
	// meanwhile (its agent registered, a resume started its container)
	// keeps its container. Removing first would leave such a session
	// running with nothing behind it.
	now := s.clock()
	failed, err := s.store.UpdateSession(ctx, sess.ID, airlock.SessionUpdate{From: []airlock.SessionState{sess.State},
		To: airlock.SessionFailed, Reason: &reason, StoppedAt: &now, EndReason: &end}, now)
	switch airlock.ErrorCode(err) {
	case "":
	case airlock.ECONFLICT:
		return nil // it moved on meanwhile; the next round looks again
	default:
		return fmt.Errorf("mark session %s failed: %w", sess.ID, err)
	}
	s.log.Warn("session failed", "session", sess.ID, "end", end, "reason", reason)
	s.ended(sess.ID)
	var rerr error
	if node != nil && sess.ContainerID != "" {
		// A container left by a failed removal belongs to a session that
		// is over: the lifecycle's next round removes it as an orphan.
		if err := s.driver.Remove(ctx, node.URL, sess.ContainerID, 5*time.Second); err != nil {
			rerr = fmt.Errorf("remove container of failed session %s: %w", sess.ID, err)
		}
	}
	s.onFinal(ctx, failed)
	return rerr
}

// ended announces the end of a session.
func (s *Service) ended(id string) {
	s.onEnd(id)
	s.onChange(id)
}

// Stop ends a live session for end (user, admin, idle or lifetime) with
// reason for the user (may be empty): it is marked stopping, its viewers
// and relays are cut off, its container removed, and it is marked
// stopped. A session already over (or stopping for another end) keeps
// its end. When the container cannot be removed, the session stays
// stopping (FinishStop retries) and Stop says so.
func (s *Service) Stop(ctx context.Context, id string, end airlock.EndReason, reason string) (*airlock.Session, error) {
	now := s.clock()
	u := airlock.SessionUpdate{
		From: []airlock.SessionState{airlock.SessionPending, airlock.SessionStarting, airlock.SessionWarm, airlock.SessionReady, airlock.SessionSuspended},
		To:   airlock.SessionStopping, EndReason: &end,
	}
	if reason != "" {
		u.Reason = &reason
	}
	if _, err := s.store.UpdateSession(ctx, id, u, now); err != nil && airlock.ErrorCode(err) != airlock.ECONFLICT {
		return nil, fmt.Errorf("stop session %s: %w", id, err)
	} else if err == nil && end != airlock.EndUser {
		s.log.Info("session ends", "session", id, "end", end, "reason", reason)
	}
	return s.FinishStop(ctx, id)
}

// FinishStop removes the container of a stopping session and marks it
// stopped; a session in any other state is returned as it is. Calls for
// one session wait for each other; a session another server stopped
// meanwhile is returned as that server left it.
func (s *Service) FinishStop(ctx context.Context, id string) (*airlock.Session, error) {
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
	// Before the container goes, which may take a while or fail: the
	// viewer and the agent lose the relay now.
	s.onEnd(id)
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
	now := s.clock()
	defer s.onChange(id)
	stopped, err := s.store.UpdateSession(ctx, id, airlock.SessionUpdate{
		From: []airlock.SessionState{airlock.SessionStopping}, To: airlock.SessionStopped, StoppedAt: &now,
	}, now)
	if err == nil {
		s.onFinal(ctx, stopped)
	}
	if airlock.ErrorCode(err) == airlock.ECONFLICT {
		// Another server's round got there first.
		if cur, cerr := s.store.SessionByID(ctx, id); cerr == nil && cur.State.Final() {
			return cur, nil
		}
	}
	return stopped, err
}

// Expire ends sess if, under the limits of its workspace ws, its end
// has come at now: idle or lifetime, with the reason for the user. A
// workspace that keeps its sessions has it suspended (see Suspend), one
// that does not has it stopped. It reports whether it ended it.
func (s *Service) Expire(ctx context.Context, sess *airlock.Session, ws *airlock.Workspace) (bool, error) {
	l := s.Limits(ws)
	ends := airlock.SessionEnds(sess, l)
	if s.clock().Before(ends.At) {
		return false, nil
	}
	var reason string
	switch ends.Reason {
	case airlock.EndIdle:
		if sess.ViewerConnected() {
			reason = fmt.Sprintf("the session ended after %s without input", airlock.FormatDuration(l.ViewerIdle))
		} else {
			reason = fmt.Sprintf("the session ended after %s with no viewer and no input", airlock.FormatDuration(l.Idle))
		}
	default:
		reason = "the session reached the end of its lifetime"
	}
	if airlock.Suspends(sess, l, ends) {
		return true, s.Suspend(ctx, sess, ends.Reason, reason, l.ResumeGrace)
	}
	if _, err := s.Stop(ctx, sess.ID, ends.Reason, reason); err != nil {
		return true, err
	}
	return true, nil
}

// Suspend stops the container of sess, a ready session, and keeps it
// (with its network) for grace, in which its user may resume it; end is
// why (idle or lifetime) and reason the sentence for the user, which
// says until when. Its viewers and relays are cut off first. A session
// that moved on since it was read is left to whoever moved it.
func (s *Service) Suspend(ctx context.Context, sess *airlock.Session, end airlock.EndReason, reason string, grace time.Duration) error {
	node, err := s.store.NodeByID(ctx, sess.NodeID)
	if err != nil {
		return fmt.Errorf("suspend session %s: %w", sess.ID, err)
	}
	s.onEnd(sess.ID)
	// The agent is asked to stop like any process: the browser writes
	// its profile out before SIGKILL.
	if err := s.driver.Halt(ctx, node.URL, sess.ContainerID, 10*time.Second); err != nil {
		if airlock.ErrorCode(err) == airlock.ENOTFOUND {
			// Nothing is left to keep: asking again every round would
			// never end it.
			return s.Fail(ctx, sess, node, airlock.EndLost, "the session's container is gone")
		}
		return fmt.Errorf("suspend session %s: %w", sess.ID, err)
	}
	now := s.clock()
	by := now.Add(grace)
	reason = fmt.Sprintf("%s; it is suspended and can be resumed until %s", reason, by.Format(time.RFC3339))
	_, err = s.store.UpdateSession(ctx, sess.ID, airlock.SessionUpdate{From: []airlock.SessionState{airlock.SessionReady},
		To: airlock.SessionSuspended, EndReason: &end, Reason: &reason, ResumeBy: &by}, now)
	switch airlock.ErrorCode(err) {
	case "":
	case airlock.ECONFLICT:
		// Ended (by its user, or failed) while its container stopped:
		// whoever moved it removes it.
		return nil
	default:
		return fmt.Errorf("mark session %s suspended: %w", sess.ID, err)
	}
	s.log.Info("session suspended", "session", sess.ID, "end", end, "resume_by", by)
	s.onChange(sess.ID)
	return nil
}

// Resume starts the container of sess, a suspended session of workspace
// ws, again: the session is starting until its agent registers anew
// (with the token its container was created with, valid once more). The
// idle time starts over; a session suspended at the end of its lifetime
// has the lifetime extended as far as ws allows, and one whose grace is
// over is refused (the lifecycle removes it).
func (s *Service) Resume(ctx context.Context, sess *airlock.Session, ws *airlock.Workspace) (*airlock.Session, error) {
	if sess.State != airlock.SessionSuspended {
		return nil, airlock.Errorf(airlock.ECONFLICT, "session %s is %s, not suspended: only a suspended session can be resumed", sess.ID, sess.State)
	}
	now := s.clock()
	if sess.ResumeBy != nil && !now.Before(*sess.ResumeBy) {
		return nil, airlock.Errorf(airlock.ECONFLICT, "session %s could be resumed until %s; it is being removed", sess.ID, sess.ResumeBy.Format(time.RFC3339))
	}
	if len(sess.ResumeHash) == 0 {
		return nil, airlock.Errorf(airlock.ECONFLICT, "session %s was launched before sessions could be resumed; launch the workspace again", sess.ID)
	}
	node, err := s.store.NodeByID(ctx, sess.NodeID)
	if err != nil {
		return nil, fmt.Errorf("resume session %s: %w", sess.ID, err)
	}
	if node.State == airlock.NodeDown {
		return nil, airlock.Errorf(airlock.EUNAVAILABLE, "node %s, which keeps session %s, does not answer; try again later", node.Name, sess.ID)
	}
	l := s.Limits(ws)
	noEnd, noReason := airlock.EndReason(""), ""
	u := airlock.SessionUpdate{From: []airlock.SessionState{airlock.SessionSuspended}, To: airlock.SessionStarting,
		RegisterHash: &sess.ResumeHash, EndReason: &noEnd, Reason: &noReason, LastInputAt: &now, StartedAt: &now}
	if airlock.SessionEnds(sess, l).Reason == airlock.EndLifetime && !now.Before(airlock.SessionEnds(sess, l).At) {
		at, err := airlock.Extend(sess, l, now)
		if err != nil {
			return nil, err
		}
		u.ExpiresAt = &at
	}
	// Marked before the container starts, so that the agent finds its
	// session starting; in flight meanwhile, so that a lifecycle round
	// does not take the container, still exited, for a dead one.
	s.inflight.Store(sess.ID, true)
	defer s.inflight.Delete(sess.ID)
	out, err := s.store.UpdateSession(ctx, sess.ID, u, now)
	if airlock.ErrorCode(err) == airlock.ECONFLICT {
		return nil, airlock.Errorf(airlock.ECONFLICT, "session %s is no longer suspended", sess.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("resume session %s: %w", sess.ID, err)
	}
	s.onChange(sess.ID)
	if err := s.driver.Resume(ctx, node.URL, sess.ContainerID); err != nil {
		s.log.Error("resume failed", "session", sess.ID, "node", node.Name, "err", err)
		if ferr := s.Fail(context.WithoutCancel(ctx), out, node, airlock.EndFailed,
			fmt.Sprintf("could not start the session's container on node %s again; an administrator can find why in the server log", node.Name)); ferr != nil {
			s.log.Error("mark session failed", "session", sess.ID, "err", ferr)
		}
		return nil, airlock.Errorf(airlock.EUNAVAILABLE, "could not start session %s again on node %s", sess.ID, node.Name)
	}
	s.log.Info("session resumed", "session", sess.ID, "node", node.Name)
	return out, nil
}

// Extend moves the lifetime end of a running session of workspace ws as
// far as its limits allow, and counts the call as input: a user who asks
// to keep a session is using it. It fails when the lifetime ends the
// session first and the policy allows it no later end.
func (s *Service) Extend(ctx context.Context, sess *airlock.Session, ws *airlock.Workspace) (*airlock.Session, error) {
	now := s.clock()
	l := s.Limits(ws)
	u := airlock.SessionUpdate{From: []airlock.SessionState{airlock.SessionReady, airlock.SessionStarting}, LastInputAt: &now}
	// The lifetime moves when the policy allows; when it does not, the
	// call still resets the idle time, unless the lifetime is what ends
	// the session first.
	if at, err := airlock.Extend(sess, l, now); err == nil {
		u.ExpiresAt = &at
	} else if airlock.SessionEnds(sess, l).Reason == airlock.EndLifetime {
		return nil, err
	}
	out, err := s.store.UpdateSession(ctx, sess.ID, u, now)
	if airlock.ErrorCode(err) == airlock.ECONFLICT {
		return nil, airlock.Errorf(airlock.ECONFLICT, "session %s is no longer running", sess.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("extend session %s: %w", sess.ID, err)
	}
	s.onChange(sess.ID)
	return out, nil
}

// Warning is how long before a session's end its viewer is warned (and
// may extend it): a fifth of the shortest limit, between 10 s and 5 min.
func Warning(l airlock.Limits) time.Duration {
	return min(max(min(l.Idle, l.Lifetime)/5, 10*time.Second), 5*time.Minute)
}
