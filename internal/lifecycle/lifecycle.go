// Package lifecycle holds the infra server's periodic jobs: node liveness,
// sessions whose agent never registered or stopped heartbeating, sessions
// left stopping, the purge of expired web sessions, and reconciliation of the database with the containers
// the nodes really run, so a server killed mid-launch finishes or fails
// each session cleanly and leaves no orphan container.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// Driver is what the jobs need of the launcher.
type Driver interface {
	Ping(ctx context.Context, nodeURL string) error
	Containers(ctx context.Context, nodeURL string) ([]airlock.Container, error)
	Remove(ctx context.Context, nodeURL, containerID string, grace time.Duration) error
	// Networks lists the session networks of a node; RemoveNetwork removes
	// one.
	Networks(ctx context.Context, nodeURL string) ([]airlock.Network, error)
	RemoveNetwork(ctx context.Context, nodeURL, id string) error
	// LogTail is the end of a container's output, stdout and stderr.
	LogTail(ctx context.Context, nodeURL, containerID string, lines int) (string, error)
}

// Sessions carries out the transitions the jobs decide on (the api's
// sessions.Service), the same way a user's or an admin's are.
type Sessions interface {
	// Fail removes the container of sess (read in the state it has) from
	// node and marks it failed for end with reason.
	Fail(ctx context.Context, sess *airlock.Session, node *airlock.Node, end airlock.EndReason, reason string) error
	// Expire stops sess if its idle or lifetime end under the limits of
	// its workspace ws has come, and reports whether it did.
	Expire(ctx context.Context, sess *airlock.Session, ws *airlock.Workspace) (bool, error)
	// Stop ends a live session for end with reason.
	Stop(ctx context.Context, id string, end airlock.EndReason, reason string) (*airlock.Session, error)
	// PickWarmNode is the node a warm session of ws goes to (pools
	// spread over the fleet); StartWarm launches one for ws's pool there.
	PickWarmNode(ctx context.Context, ws *airlock.Workspace) (*airlock.Node, error)
	StartWarm(ctx context.Context, ws *airlock.Workspace, node *airlock.Node) (*airlock.Session, error)
	// FinishStop removes the container of a stopping session and marks
	// it stopped.
	FinishStop(ctx context.Context, id string) (*airlock.Session, error)
	// InFlight reports whether this process is launching the session now.
	// A starting session created before this process started and not in
	// flight here was cut short by a restart: it is failed at once
	// instead of after OrphanGrace or RegisterTimeout.
	InFlight(sessionID string) bool
}

// Store is what the jobs need of the store.
type Store interface {
	ListNodes(ctx context.Context) ([]*airlock.Node, error)
	NodeAnswered(ctx context.Context, id string, at time.Time) error
	NodeSilent(ctx context.Context, id string, lastHeard, now time.Time) (bool, error)
	ListSessions(ctx context.Context, f airlock.SessionFilter) ([]*airlock.Session, error)
	SessionByID(ctx context.Context, id string) (*airlock.Session, error)
	WorkspaceByID(ctx context.Context, id string) (*airlock.Workspace, error)
	UpdateSession(ctx context.Context, id string, u airlock.SessionUpdate, now time.Time) (*airlock.Session, error)
	DeleteExpiredWebSessions(ctx context.Context, now time.Time) (int, error)
	ListPools(ctx context.Context) ([]*airlock.Pool, error)
}

// Config tunes the jobs; zero values take the defaults named.
type Config struct {
	// Every is the period of a round. Default 5s.
	Every time.Duration
	// RegisterTimeout fails a session whose agent has not registered this
	// long after creation. Default 90s.
	RegisterTimeout time.Duration
	// HeartbeatTimeout fails a ready session whose agent has been silent
	// this long. Default 60s.
	HeartbeatTimeout time.Duration
	// NodeTimeout marks a node down after this long unanswered. Default 30s.
	NodeTimeout time.Duration
	// PurgeEvery is how often expired web sessions are deleted: they no
	// longer sign anyone in, but each sign-in leaves a row. Default 1m.
	PurgeEvery time.Duration
	// NodeRound bounds one node's part of a reconciliation round. Default
	// 30s.
	NodeRound time.Duration
	// NodeLost fails the sessions of a node down for this long: their
	// users learn the sessions are gone, and the node's capacity is
	// counted free again. Default 10m.
	NodeLost time.Duration
	// OnRound, when set, is told each round's duration and error.
	OnRound func(d time.Duration, err error)
	// OrphanGrace spares containers younger than this from reconciliation,
	// so a launch in flight is not mistaken for an orphan. Default 2m.
	OrphanGrace time.Duration
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Every, 5*time.Second)
	def(&c.RegisterTimeout, 90*time.Second)
	def(&c.HeartbeatTimeout, 60*time.Second)
	def(&c.NodeTimeout, 30*time.Second)
	def(&c.OrphanGrace, 2*time.Minute)
	def(&c.PurgeEvery, time.Minute)
	def(&c.NodeRound, 30*time.Second)
	def(&c.NodeLost, 10*time.Minute)
}

// Jobs runs the periodic jobs.
type Jobs struct {
	store    Store
	driver   Driver
	sessions Sessions
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	// started is when this process began: sessions created before it
	// cannot be launching here.
	started time.Time
	// purged is when expired web sessions were last deleted; zero before
	// the first round. Only Round touches it, and rounds do not overlap.
	purged time.Time
}

// New builds the jobs. now may be nil.
func New(store Store, driver Driver, sessions Sessions, cfg Config, log *slog.Logger, now func() time.Time) *Jobs {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = airlock.Now
	}
	return &Jobs{store: store, driver: driver, sessions: sessions, cfg: cfg, log: log, now: now, started: now()}
}

// Run runs a round at once (recovery after a restart), then one every
// period, until ctx ends.
func (j *Jobs) Run(ctx context.Context) {
	t := time.NewTicker(j.cfg.Every)
	defer t.Stop()
	for {
		start := time.Now()
		err := j.Round(ctx)
		if err != nil && ctx.Err() == nil {
			j.log.Error("lifecycle round", "err", err)
		}
		if j.cfg.OnRound != nil && ctx.Err() == nil {
			j.cfg.OnRound(time.Since(start), err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Round runs every job once. Each job's failure is reported; one failing
// job does not stop the others.
func (j *Jobs) Round(ctx context.Context) error {
	nodes, err := j.store.ListNodes(ctx)
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	byID := map[string]*airlock.Node{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	return errors.Join(
		j.nodeLiveness(ctx, nodes),
		j.lostNodes(ctx, nodes),
		j.expireSessions(ctx, byID),
		j.endSuspended(ctx),
		j.finishStopping(ctx),
		j.reconcile(ctx, nodes),
		j.fillPools(ctx),
		j.purgeWebSessions(ctx),
	)
}

// fillPools keeps each workspace's pool at its size: warm sessions that
// waited longer than the pool's max age are recycled, extras beyond the
// size are stopped, and the missing ones are launched, each on the least
// loaded node that can take it (so a pool spreads over the nodes).
// Sessions of the pool still starting count, so a round does not launch
// again what the last one launched.
func (j *Jobs) fillPools(ctx context.Context) error {
	pools, err := j.store.ListPools(ctx)
	if err != nil {
		return fmt.Errorf("list pools: %w", err)
	}
	var errs []error
	for _, p := range pools {
		errs = append(errs, j.fillPool(ctx, p))
	}
	return errors.Join(errs...)
}

func (j *Jobs) fillPool(ctx context.Context, p *airlock.Pool) error {
	ws, err := j.store.WorkspaceByID(ctx, p.WorkspaceID)
	if airlock.ErrorCode(err) == airlock.ENOTFOUND {
		return nil // the workspace's deletion removes its pool
	}
	if err != nil {
		return fmt.Errorf("pool of %s: %w", p.WorkspaceID, err)
	}
	list, err := j.store.ListSessions(ctx, airlock.SessionFilter{WorkspaceID: ws.ID,
		States: []airlock.SessionState{airlock.SessionPending, airlock.SessionStarting, airlock.SessionWarm}})
	if err != nil {
		return fmt.Errorf("pool of %s: %w", ws.Name, err)
	}
	now := j.now()
	var errs []error
	var held []*airlock.Session // newest first, as listed
	for _, s := range list {
		if !s.Pooled() || s.UserID != "" {
			continue
		}
		if s.State == airlock.SessionWarm && now.Sub(*s.PooledAt) > p.MaxAge {
			_, err := j.sessions.Stop(ctx, s.ID, airlock.EndLifetime,
				fmt.Sprintf("recycled after waiting %s in the pool", airlock.FormatDuration(p.MaxAge)))
			errs = append(errs, err)
			continue
		}
		held = append(held, s)
	}
	for i := 0; len(held)-i > p.Size; i++ {
		// The newest go first: the oldest are the readiest.
		if s := held[i]; s.State == airlock.SessionWarm {
			_, err := j.sessions.Stop(ctx, s.ID, airlock.EndAdmin, "the pool was made smaller")
			errs = append(errs, err)
		}
	}
	for n := len(held); n < p.Size; n++ {
		node, err := j.sessions.PickWarmNode(ctx, ws)
		if err != nil {
			if airlock.ErrorCode(err) == airlock.EUNAVAILABLE {
				j.log.Warn("pool cannot fill", "workspace", ws.Name, "have", n, "size", p.Size, "why", airlock.ErrorMessage(err))
				break
			}
			errs = append(errs, err)
			break
		}
		if _, err := j.sessions.StartWarm(ctx, ws, node); err != nil {
			errs = append(errs, err)
			break
		}
	}
	return errors.Join(errs...)
}

// purgeWebSessions deletes the web sessions that have expired, at most
// once every PurgeEvery.
func (j *Jobs) purgeWebSessions(ctx context.Context) error {
	now := j.now()
	if !j.purged.IsZero() && now.Sub(j.purged) < j.cfg.PurgeEvery {
		return nil
	}
	n, err := j.store.DeleteExpiredWebSessions(ctx, now)
	if err != nil {
		return fmt.Errorf("purge expired web sessions: %w", err)
	}
	j.purged = now
	if n > 0 {
		j.log.Info("purged expired web sessions", "count", n)
	}
	return nil
}

// nodeLiveness pings every node at once (a dead node's timeout does not
// delay the others); an answering node is ready, a silent one goes down
// after NodeTimeout. A drain is kept apart and stays either way.
func (j *Jobs) nodeLiveness(ctx context.Context, nodes []*airlock.Node) error {
	pings := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			pings[i] = j.driver.Ping(pctx, n.URL)
		})
	}
	wg.Wait()
	var errs []error
	for i, n := range nodes {
		err := pings[i]
		now := j.now()
		// Only liveness is written, and by fields: the nodes were read
		// before the pings, which take as long as the slowest (a dead
		// node's, up to 5 s), and a renewal or heartbeat meanwhile must
		// stand.
		switch {
		case err == nil:
			if werr := j.store.NodeAnswered(ctx, n.ID, now); werr != nil {
				errs = append(errs, fmt.Errorf("update node %s: %w", n.Name, werr))
				continue
			}
			n.LastHeartbeat = now
			if n.State == airlock.NodeDown {
				n.State = airlock.NodeReady
				j.log.Info("node is back", "node", n.Name)
			}
		case n.State != airlock.NodeDown && now.Sub(n.LastHeartbeat) > j.cfg.NodeTimeout:
			down, werr := j.store.NodeSilent(ctx, n.ID, n.LastHeartbeat, now)
			if werr != nil {
				errs = append(errs, fmt.Errorf("update node %s: %w", n.Name, werr))
				continue
			}
			if down {
				n.State = airlock.NodeDown
				j.log.Warn("node is down", "node", n.Name, "err", err)
			}
		}
	}
	return errors.Join(errs...)
}

// lostNodes fails the sessions of nodes down for longer than NodeLost:
// nothing can reach them, and they hold their users' and the node's
// capacity. Their containers, if the node comes back, are orphans the
// reconciliation removes.
func (j *Jobs) lostNodes(ctx context.Context, nodes []*airlock.Node) error {
	var errs []error
	for _, n := range nodes {
		if n.State != airlock.NodeDown || j.now().Sub(n.LastHeartbeat) <= j.cfg.NodeLost {
			continue
		}
		list, err := j.store.ListSessions(ctx, airlock.SessionFilter{NodeID: n.ID, States: airlock.ActiveStates})
		if err != nil {
			errs = append(errs, fmt.Errorf("sessions of lost node %s: %w", n.Name, err))
			continue
		}
		reason := fmt.Sprintf("the node %s has been unreachable for more than %s", n.Name, airlock.FormatDuration(j.cfg.NodeLost))
		for _, s := range list {
			// One being stopped keeps the end it was stopped for.
			end := airlock.EndLost
			if s.State == airlock.SessionStopping && s.EndReason != "" {
				end = s.EndReason
			}
			errs = append(errs, j.sessions.Fail(ctx, s, nil, end, reason))
		}
	}
	return errors.Join(errs...)
}

// expireSessions stops ready sessions whose idle or lifetime end has
// come, and fails sessions whose agent never registered or went silent,
// removing their containers.
func (j *Jobs) expireSessions(ctx context.Context, nodes map[string]*airlock.Node) error {
	list, err := j.store.ListSessions(ctx, airlock.SessionFilter{States: airlock.LiveStates})
	if err != nil {
		return fmt.Errorf("list live sessions: %w", err)
	}
	now := j.now()
	var errs []error
	workspaces := map[string]*airlock.Workspace{}
	for _, s := range list {
		var reason string
		switch {
		case s.State == airlock.SessionReady:
			expired, err := j.expire(ctx, s, workspaces)
			if err != nil || expired {
				errs = append(errs, err)
				continue
			}
			if now.Sub(lastSign(s)) <= j.cfg.HeartbeatTimeout {
				continue
			}
			reason = fmt.Sprintf("the workspace's agent stopped answering for %s", j.cfg.HeartbeatTimeout)
		case s.State == airlock.SessionWarm:
			// One that was starting when its workspace was deleted.
			if ws, err := j.workspace(ctx, s.WorkspaceID, workspaces); err != nil {
				errs = append(errs, err)
				continue
			} else if ws.Name == "" {
				_, err := j.sessions.Stop(ctx, s.ID, airlock.EndAdmin, "its workspace was deleted")
				errs = append(errs, err)
				continue
			}
			if now.Sub(lastSign(s)) <= j.cfg.HeartbeatTimeout {
				continue
			}
			reason = fmt.Sprintf("the pool's agent stopped answering for %s", j.cfg.HeartbeatTimeout)
		case s.State == airlock.SessionStarting && now.Sub(startedOrCreated(s)) > j.cfg.RegisterTimeout:
			reason = fmt.Sprintf("the workspace's agent did not register within %s", j.cfg.RegisterTimeout)
		default:
			continue
		}
		errs = append(errs, j.sessions.Fail(ctx, s, nodes[s.NodeID], airlock.EndFailed, reason))
	}
	return errors.Join(errs...)
}

// expire stops a ready session whose idle or lifetime end has come, and
// reports whether it did.
// workspaces caches the round's workspaces by ID. A session whose
// workspace was deleted keeps the deployment's limits.
func (j *Jobs) expire(ctx context.Context, s *airlock.Session, workspaces map[string]*airlock.Workspace) (bool, error) {
	ws, err := j.workspace(ctx, s.WorkspaceID, workspaces)
	if err != nil {
		return false, fmt.Errorf("workspace of session %s: %w", s.ID, err)
	}
	// The session runs under the policy its user's groups gave it.
	expired, err := j.sessions.Expire(ctx, s, s.Policy.Apply(ws))
	if err != nil {
		return expired, fmt.Errorf("expire session %s: %w", s.ID, err)
	}
	return expired, nil
}

// workspace is workspace id, read once a round (cache); a deleted one is
// a Workspace with its ID alone (no name), whose sessions keep the
// deployment's limits.
func (j *Jobs) workspace(ctx context.Context, id string, cache map[string]*airlock.Workspace) (*airlock.Workspace, error) {
	if ws, ok := cache[id]; ok {
		return ws, nil
	}
	ws, err := j.store.WorkspaceByID(ctx, id)
	switch airlock.ErrorCode(err) {
	case "":
	case airlock.ENOTFOUND:
		ws = &airlock.Workspace{ID: id}
	default:
		return nil, err
	}
	cache[id] = ws
	return ws, nil
}

// startedOrCreated is when a starting session's agent began to be
// awaited: its creation, or its resume.
func startedOrCreated(s *airlock.Session) time.Time {
	if s.StartedAt != nil && s.StartedAt.After(s.CreatedAt) {
		return *s.StartedAt
	}
	return s.CreatedAt
}

// endSuspended removes suspended sessions whose resume grace is over,
// keeping the end they were suspended for.
func (j *Jobs) endSuspended(ctx context.Context) error {
	list, err := j.store.ListSessions(ctx, airlock.SessionFilter{States: []airlock.SessionState{airlock.SessionSuspended}})
	if err != nil {
		return fmt.Errorf("list suspended sessions: %w", err)
	}
	now := j.now()
	var errs []error
	for _, s := range list {
		if s.ResumeBy != nil && now.Before(*s.ResumeBy) {
			continue
		}
		end := s.EndReason
		if end == "" {
			end = airlock.EndIdle
		}
		if _, err := j.sessions.Stop(ctx, s.ID, end, "the session was suspended and not resumed in time"); err != nil {
			errs = append(errs, fmt.Errorf("remove suspended session %s: %w", s.ID, err))
		}
	}
	return errors.Join(errs...)
}

func lastSign(s *airlock.Session) time.Time {
	t := s.CreatedAt
	for _, p := range []*time.Time{s.ReadyAt, s.LastHeartbeat} {
		if p != nil && p.After(t) {
			t = *p
		}
	}
	return t
}

// finishStopping retries removals that a delete could not complete.
func (j *Jobs) finishStopping(ctx context.Context) error {
	list, err := j.store.ListSessions(ctx, airlock.SessionFilter{States: []airlock.SessionState{airlock.SessionStopping}})
	if err != nil {
		return fmt.Errorf("list stopping sessions: %w", err)
	}
	var errs []error
	for _, s := range list {
		if _, err := j.sessions.FinishStop(ctx, s.ID); err != nil {
			errs = append(errs, fmt.Errorf("finish stopping session %s: %w", s.ID, err))
		}
	}
	return errors.Join(errs...)
}

// reconcile removes containers whose session is unknown or over, and
// fails sessions whose container vanished, on every node that is up. The
// nodes are reconciled at once, each within NodeRound: one slow or dead
// node does not hold up the others' round.
func (j *Jobs) reconcile(ctx context.Context, nodes []*airlock.Node) error {
	// The sessions not over, read once for every node, so that a node's
	// containers and networks need no query each (nodes sharing an
	// engine each list all of its sessions). One not among them is looked
	// up alone: it may have been launched since, or be over.
	list, err := j.store.ListSessions(ctx, airlock.SessionFilter{States: airlock.ActiveStates})
	if err != nil {
		return fmt.Errorf("list active sessions: %w", err)
	}
	active := make(map[string]bool, len(list))
	for _, s := range list {
		active[s.ID] = true
	}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		if n.State == airlock.NodeDown {
			continue
		}
		wg.Go(func() {
			nctx, cancel := context.WithTimeout(ctx, j.cfg.NodeRound)
			defer cancel()
			if err := j.reconcileNode(nctx, n, active); err != nil {
				errs[i] = fmt.Errorf("reconcile node %s: %w", n.Name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// over reports whether the session of a container or network is unknown
// or over. active holds the IDs of sessions not over at the start of
// the round; others are looked up.
func (j *Jobs) over(ctx context.Context, id string, active map[string]bool) (bool, error) {
	if active[id] {
		return false, nil
	}
	s, err := j.store.SessionByID(ctx, id)
	if err != nil && airlock.ErrorCode(err) != airlock.ENOTFOUND {
		return false, err
	}
	return s == nil || s.State.Final(), nil
}

// reconcileNode is reconcile on node n; active holds the IDs of the
// sessions not over (see over).
func (j *Jobs) reconcileNode(ctx context.Context, n *airlock.Node, active map[string]bool) error {
	var errs []error
	// The sessions are read before the containers are listed: what a
	// container's state says of its session then holds for the state
	// read, and Fail acts only on a session still in it. Listed the
	// other way round, a container seen exited just before a resume
	// started it again would fail the resumed session.
	live, err := j.store.ListSessions(ctx, airlock.SessionFilter{NodeID: n.ID, States: append(slices.Clone(airlock.LiveStates), airlock.SessionSuspended)})
	if err != nil {
		return fmt.Errorf("list sessions of %s: %w", n.Name, err)
	}
	// Which are in flight is asked before the containers are listed too:
	// a resume that is over by the time the list is taken has started
	// its container.
	inflight := map[string]bool{}
	for _, s := range live {
		inflight[s.ID] = j.sessions.InFlight(s.ID)
	}
	cs, err := j.driver.Containers(ctx, n.URL)
	if err != nil {
		return fmt.Errorf("list containers on %s: %w", n.Name, err)
	}
	running := map[string]airlock.Container{}
	for _, c := range cs {
		running[c.SessionID] = c
		// Several nodes may share one engine: a live session of another
		// node is not an orphan here.
		over, err := j.over(ctx, c.SessionID, active)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !over {
			continue
		}
		j.log.Warn("removing orphan container", "node", n.Name, "container", c.ID, "session", c.SessionID)
		if err := j.driver.Remove(ctx, n.URL, c.ID, 5*time.Second); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(running, c.SessionID)
	}
	errs = append(errs, j.orphanNetworks(ctx, n, running, active))
	for _, s := range live {
		if s.State == airlock.SessionSuspended {
			// A stopped container is what a suspended session keeps.
			if _, ok := running[s.ID]; !ok {
				errs = append(errs, j.sessions.Fail(ctx, s, n, airlock.EndLost, "the suspended session's container is gone"))
			}
			continue
		}
		// A session starting again (it was ready once) and in flight is
		// being resumed by this process: its container has not started
		// yet.
		resuming := s.State == airlock.SessionStarting && s.ReadyAt != nil && inflight[s.ID]
		c, ok := running[s.ID]
		cutShort := s.State == airlock.SessionStarting && s.CreatedAt.Before(j.started) && !inflight[s.ID]
		switch {
		case resuming:
		case ok && (c.State == "exited" || c.State == "dead"):
			errs = append(errs, j.sessions.Fail(ctx, s, n, airlock.EndFailed, j.exitReason(ctx, n, c)))
		case cutShort && (!ok || c.State == "created"):
			errs = append(errs, j.sessions.Fail(ctx, s, n, airlock.EndFailed, "the server stopped before the workspace's container was started; launch it again"))
		case !ok && j.now().Sub(s.CreatedAt) > j.cfg.OrphanGrace:
			// Missing for longer than a launch takes: not in flight.
			errs = append(errs, j.sessions.Fail(ctx, s, n, airlock.EndLost, "the session's container is gone"))
		case ok && c.State == "created" && j.now().Sub(s.CreatedAt) > j.cfg.OrphanGrace:
			errs = append(errs, j.sessions.Fail(ctx, s, n, airlock.EndFailed, "the container was created but never started"))
		}
	}
	return errors.Join(errs...)
}

// orphanNetworks removes the session networks of a node whose session is
// unknown or over and whose container is gone: a launch that failed
// between the two creates, or a container removed by hand.
func (j *Jobs) orphanNetworks(ctx context.Context, n *airlock.Node, containers map[string]airlock.Container, active map[string]bool) error {
	nets, err := j.driver.Networks(ctx, n.URL)
	if err != nil {
		return fmt.Errorf("list networks on %s: %w", n.Name, err)
	}
	var errs []error
	for _, nw := range nets {
		if _, ok := containers[nw.SessionID]; ok {
			continue
		}
		over, err := j.over(ctx, nw.SessionID, active)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !over {
			continue
		}
		j.log.Warn("removing orphan session network", "node", n.Name, "network", nw.ID, "session", nw.SessionID)
		if err := j.driver.RemoveNetwork(ctx, n.URL, nw.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// exitReason says why a session's container stopped: Docker's words and,
// since an agent that gives up says why in its last line (an unreachable
// server, a refused certificate), the container's own last words.
func (j *Jobs) exitReason(ctx context.Context, n *airlock.Node, c airlock.Container) string {
	reason := "the workspace's container stopped (" + c.Status + ")"
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := j.driver.LogTail(lctx, n.URL, c.ID, 20)
	if err != nil {
		j.log.Warn("read the log of a stopped container", "node", n.Name, "container", c.ID, "err", err)
		return reason
	}
	if last := LastLine(out); last != "" {
		reason += ": " + last
	}
	return reason
}

// maxLastLine bounds how much of a container's output a reason quotes.
const maxLastLine = 400

// LastLine is the last non-empty line of out, without control characters,
// cut to a length a session's reason can carry.
func LastLine(out string) string {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return -1
			}
			return r
		}, lines[i]))
		if line == "" {
			continue
		}
		if len(line) > maxLastLine {
			cut := maxLastLine
			for cut > 0 && !utf8.RuneStart(line[cut]) {
				cut--
			}
			line = line[:cut] + "…"
		}
		return line
	}
	return ""
}
