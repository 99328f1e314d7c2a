package airlock

import (
	"net/netip"
	"time"
)

// SessionState is where a session is in its life.
//
//	pending ──▶ starting ──▶ ready ──▶ stopping ──▶ stopped
//	   │         │  ▲ ╲       ▲  │        ▲
//	   │         │  │  ▶ warm ┘  ▼        │
//	   │         │  └──────── suspended ──┘
//	   │         │      │        │
//	   └─────────┴──────┴────────┴──────────▶ failed (with a reason)
//
// pending: stored, no node yet. starting: a container is being created or
// has started and its agent has not registered. warm: a pool's session,
// registered and no one's yet; handed out, it becomes ready, and it never
// returns to the pool. ready: the agent registered (and, for a pool's
// session, it was handed out). suspended: it expired under a workspace
// that keeps its sessions (OnExpiry suspend): the container is stopped,
// kept with its network until ResumeBy; resumed, it is starting again and
// its agent registers anew. stopping: removal asked. stopped and failed
// are final.
type SessionState string

const (
	SessionPending   SessionState = "pending"
	SessionStarting  SessionState = "starting"
	SessionReady     SessionState = "ready"
	SessionWarm      SessionState = "warm"
	SessionSuspended SessionState = "suspended"
	SessionStopping  SessionState = "stopping"
	SessionStopped   SessionState = "stopped"
	SessionFailed    SessionState = "failed"
)

// Final reports whether no transition leaves s.
func (s SessionState) Final() bool { return s == SessionStopped || s == SessionFailed }

// Active reports whether a session in s holds (or may soon hold) a container.
func (s SessionState) Active() bool { return !s.Final() }

// ActiveStates are the states that count against limits and capacity (a
// warm session holds a node's room, and no user's). A suspended session
// counts too: it holds its place on its node until it is resumed or its
// grace ends, so a resume never finds the node or its user over a limit.
var ActiveStates = []SessionState{SessionPending, SessionStarting, SessionWarm, SessionReady, SessionSuspended, SessionStopping}

// LiveStates are the states whose container runs or is being started.
var LiveStates = []SessionState{SessionStarting, SessionWarm, SessionReady}

// transitions is the state machine above.
var transitions = map[SessionState][]SessionState{
	SessionPending:   {SessionStarting, SessionStopping, SessionFailed},
	SessionStarting:  {SessionReady, SessionWarm, SessionStopping, SessionFailed},
	SessionWarm:      {SessionReady, SessionStopping, SessionFailed},
	SessionReady:     {SessionSuspended, SessionStopping, SessionFailed},
	SessionSuspended: {SessionStarting, SessionStopping, SessionFailed},
	SessionStopping:  {SessionStopped, SessionFailed},
}

// CanTransition reports whether a session may go from one state to another.
func CanTransition(from, to SessionState) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Session is one user's container of one workspace, or one a workspace's
// pool holds ready for the next user (UserID empty until it is handed
// out).
type Session struct {
	ID          string
	UserID      string
	WorkspaceID string
	NodeID      string // empty while pending
	ContainerID string // empty until created
	// ContainerAddrs are the container's addresses on its networks,
	// learnt after it started (nil until then): the only peers TURN
	// relays to for the session's viewers.
	ContainerAddrs []netip.Addr
	State          SessionState
	// Reason says why a session failed or stopped, for the user.
	Reason string
	// RegisterHash is the hash of the one-time registration token given to
	// the container; cleared when the agent registers.
	RegisterHash []byte
	// ResumeHash is the registration token's hash kept for a resume: the
	// container's environment (and so its token) outlives a stop, and a
	// resume makes the token work once more (RegisterHash = ResumeHash).
	ResumeHash []byte
	// AgentHash is the hash of the agent's own credential.
	AgentHash []byte
	// LaunchKey is the key the launching client gave (empty: none),
	// unique among its user's sessions: the same launch asked again
	// finds this session instead of making another.
	LaunchKey     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	StartedAt     *time.Time // the container started
	ReadyAt       *time.Time // the agent registered
	StoppedAt     *time.Time // stopped or failed
	LastHeartbeat *time.Time // the agent's last heartbeat
	// EndReason says why a stopped or failed session ended; empty while
	// it runs (and for sessions that ended before reasons were kept).
	EndReason EndReason
	// ExpiresAt is when the session's lifetime ends, set at launch and
	// moved by extensions; nil for sessions launched before limits.
	ExpiresAt *time.Time
	// LastInputAt is when the viewer's last input came, as the agent
	// reported it; LastViewerAt is the last heartbeat that reported a
	// viewer connected.
	LastInputAt  *time.Time
	LastViewerAt *time.Time
	// PooledAt is when a pool's session was made; CreatedAt is then when
	// it was handed out (nil: launched cold).
	PooledAt *time.Time
	// Viewer is the launching browser's settings a pool's session was
	// handed out with (zero for a cold launch, whose container has them).
	Viewer Viewer
	// ResumeBy is when a suspended session's grace ends: until then its
	// user may resume it; then it is removed. Nil until it is first
	// suspended; it means nothing in other states.
	ResumeBy *time.Time
	// Policy is what the user's groups set for this session when it was
	// launched (or handed out): it is applied to its workspace (see
	// Policy.Apply) wherever the session's limits, clipboard and
	// transfers are read. Zero: the workspace's own.
	Policy Policy
}

// Pooled reports whether s is a pool's, handed out or not.
func (s *Session) Pooled() bool { return s.PooledAt != nil }

// ViewerConnected reports whether the agent's last heartbeat reported a
// viewer connected.
func (s *Session) ViewerConnected() bool {
	return s.LastViewerAt != nil && s.LastHeartbeat != nil && !s.LastViewerAt.Before(*s.LastHeartbeat)
}

// SessionFilter selects sessions; zero fields match everything.
type SessionFilter struct {
	UserID      string
	NodeID      string
	WorkspaceID string
	States      []SessionState
}

// SessionUpdate is a compare-and-set on a session's state: it applies only
// while the session is in one of From, so two api processes (or a restarted
// one) cannot both act on the same transition.
type SessionUpdate struct {
	From []SessionState
	// To is the new state; empty keeps the current one (a heartbeat, or
	// facts learnt while the state stands).
	To SessionState
	// Each non-nil field below is written with the transition.
	NodeID      *string
	ContainerID *string
	// ContainerAddrs replaces the container's addresses.
	ContainerAddrs *[]netip.Addr
	Reason         *string
	RegisterHash   *[]byte
	AgentHash      *[]byte
	StartedAt      *time.Time
	ReadyAt        *time.Time
	StoppedAt      *time.Time
	LastHeartbeat  *time.Time
	EndReason      *EndReason
	ExpiresAt      *time.Time
	LastInputAt    *time.Time
	LastViewerAt   *time.Time
	ResumeBy       *time.Time
}
