package sessions

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/scheduler"
)

// Handout gives user a warm session of ws, if its pool has one: ready at
// once, its lifetime counted from now, its agent told at its next claim
// (which also gives it a fresh credential and viewer's settings). ENOTFOUND when none is warm;
// ELIMIT over the user's limit. policy is what the user's groups set for
// the session: a warm session was made under the workspace's own
// clipboard and transfer rules, so a policy that sets others
// (Policy.LaunchTime) gets ENOTFOUND, a cold launch.
func (s *Service) Handout(ctx context.Context, ws *airlock.Workspace, policy airlock.Policy, userID, launchKey string, viewer airlock.Viewer, limit int) (*airlock.Session, error) {
	if policy.LaunchTime(ws) {
		return nil, airlock.Errorf(airlock.ENOTFOUND, "no warm session of workspace %s runs under this user's clipboard and transfer rules", ws.Name)
	}
	now := s.clock()
	sess, err := s.store.ClaimWarm(ctx, ws.ID, airlock.Handout{UserID: userID, LaunchKey: launchKey,
		ExpiresAt: now.Add(s.Limits(policy.Apply(ws)).Lifetime), Viewer: viewer, Policy: policy}, limit, now)
	if err != nil {
		return nil, err
	}
	s.log.Info("handed out a warm session", "session", sess.ID, "workspace", ws.Name, "user", userID)
	s.onChange(sess.ID)
	return sess, nil
}

// StartWarm launches one session for ws's pool on node: no one's until
// it is handed out, started with the workspace's defaults.
func (s *Service) StartWarm(ctx context.Context, ws *airlock.Workspace, node *airlock.Node) (*airlock.Session, error) {
	reg, err := auth.NewToken(auth.KindRegister)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	id := NewID()
	sess := &airlock.Session{ID: id, WorkspaceID: ws.ID, NodeID: node.ID, ContainerID: ContainerName(id),
		State: airlock.SessionStarting, RegisterHash: reg.Hash(), ResumeHash: reg.Hash(), CreatedAt: now, UpdatedAt: now, PooledAt: &now}
	if err := s.store.CreateSessionWithin(ctx, sess, 0, node.Capacity); err != nil {
		return nil, fmt.Errorf("start warm session of %s on %s: %w", ws.Name, node.Name, err)
	}
	s.Launch(sess, ws, airlock.Viewer{}, node, reg)
	return sess, nil
}

// NewID is a new session ID: 128 random bits, hex.
func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ContainerName is a session's container's name, known before the
// container exists, so a session always names its container, even if
// the server dies mid-create.
func ContainerName(sessionID string) string { return "airlock-" + sessionID }

// NodeSilence is how long a node may go unheard and still be given new
// sessions, in a deployment whose lifecycle round pings every node every
// `every` (zero: the round's default, 5 s): three rounds, so a node that
// missed two pings in a row gets no more, before it is marked down (30 s);
// and at least two of the node's own heartbeats (every 10 s). A round is
// slow exactly when a burst of launches keeps the node's engine busy, so
// the rounds alone would take the busiest node for a dead one: with a
// floor of one heartbeat (10 s), 50 launches at once were refused "no
// provision node is ready" by a node that was answering.
func NodeSilence(every time.Duration) time.Duration {
	if every <= 0 {
		every = 5 * time.Second
	}
	return max(3*every, 2*nodeHeartbeatEvery)
}

// nodeHeartbeatEvery is how often a provision node reports on its own
// (enroll.Maintainer's default period).
const nodeHeartbeatEvery = 10 * time.Second

// PickNode is the node a launched session of ws goes to, placed by the
// deployment's strategy (see scheduler.Pick).
func (s *Service) PickNode(ctx context.Context, ws *airlock.Workspace) (*airlock.Node, error) {
	return s.pick(ctx, ws, s.placement)
}

// PickWarmNode is the node a warm session of ws goes to: pools spread
// over the fleet whatever the placement of launches, so that a node lost
// does not take a whole pool with it.
func (s *Service) PickWarmNode(ctx context.Context, ws *airlock.Workspace) (*airlock.Node, error) {
	return s.pick(ctx, ws, scheduler.Spread)
}

// pick reads the nodes and their load, in two queries whatever the size
// of the fleet, and asks the scheduler.
func (s *Service) pick(ctx context.Context, ws *airlock.Workspace, st scheduler.Strategy) (*airlock.Node, error) {
	nodes, err := s.store.ListNodes(ctx)
	if err != nil {
		return nil, err
	}
	active, err := s.store.CountSessionsByNode(ctx, airlock.SessionFilter{States: airlock.ActiveStates})
	if err != nil {
		return nil, err
	}
	cands := make([]scheduler.Candidate, 0, len(nodes))
	for _, n := range nodes {
		cands = append(cands, scheduler.Candidate{Node: n, Active: active[n.ID]})
	}
	return scheduler.Pick(cands, ws, s.clock(), s.nodeSilence, st)
}
