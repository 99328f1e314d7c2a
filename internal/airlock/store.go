package airlock

import (
	"context"
	"time"
)

// Store keeps Airlock's state. Implementations return *Error with
// ENOTFOUND for a missing object and ECONFLICT for a duplicate name or a
// failed compare-and-set; every other error is internal. Times are UTC,
// kept to the microsecond.
type Store interface {
	Users
	Groups
	Tokens
	Workspaces
	Nodes
	Pools
	JoinTokens
	Sessions
	Settings
	Audit
	Close() error
}

// Users keeps accounts.
type Users interface {
	CreateUser(ctx context.Context, u *User) error
	UserByID(ctx context.Context, id string) (*User, error)
	UserByName(ctx context.Context, name string) (*User, error)
	// UserBySSO is the user linked to an identity provider's account;
	// ENOTFOUND when none is (and always for an empty issuer).
	UserBySSO(ctx context.Context, issuer, subject string) (*User, error)
	ListUsers(ctx context.Context) ([]*User, error)
	UpdateUser(ctx context.Context, u *User) error
	// SetPassword stores a user's new password hash and ends, in the same
	// transaction, their web sessions other than keep ("" for none),
	// returning the IDs of those it ended.
	SetPassword(ctx context.Context, userID, hash, keep string, at time.Time) ([]string, error)
	// DeleteUser removes a user with their tokens and web sessions.
	DeleteUser(ctx context.Context, id string) error
	CountUsers(ctx context.Context) (int, error)
}

// Groups keeps groups, their grants and their members. The built-in
// group everyone (GroupEveryone) exists in every store, granting every
// workspace until an administrator changes it; it has no member rows,
// since every user is one.
type Groups interface {
	// CreateGroup stores g with its grants (WorkspaceName is ignored;
	// a grant of a workspace that does not exist is ENOTFOUND).
	CreateGroup(ctx context.Context, g *Group) error
	GroupByName(ctx context.Context, name string) (*Group, error)
	// ListGroups returns every group, by priority then name, with its
	// grants (WorkspaceName filled, by workspace name).
	ListGroups(ctx context.Context) ([]*Group, error)
	// UpdateGroup writes every field of g (its name included) and
	// replaces its grants; its members stay.
	UpdateGroup(ctx context.Context, g *Group) error
	// DeleteGroup removes a group with its grants and memberships;
	// everyone cannot be (ECONFLICT).
	DeleteGroup(ctx context.Context, id string) error
	// GroupsOfUser returns the groups user is a member of, everyone
	// included, as ListGroups does.
	GroupsOfUser(ctx context.Context, userID string) ([]*Group, error)
	// AddGroupMember makes user a member of group by an administrator's
	// hand; already one is no error. RemoveGroupMember ends a membership
	// of either source; ENOTFOUND when there was none. Neither takes
	// everyone (EINVALID).
	AddGroupMember(ctx context.Context, groupID, userID string, at time.Time) error
	RemoveGroupMember(ctx context.Context, groupID, userID string) error
	// GroupMembers returns the members of a group by user name.
	GroupMembers(ctx context.Context, groupID string) ([]GroupMember, error)
	// SetSSOGroups makes the user a member of exactly groupIDs by their
	// identity provider: memberships of that source not in groupIDs end;
	// those made by hand stay either way.
	SetSSOGroups(ctx context.Context, userID string, groupIDs []string, at time.Time) error
}

// GroupMember is a user's membership of a group.
type GroupMember struct {
	UserID   string
	UserName string
	// Source is how they became one: MemberLocal or MemberSSO.
	Source string
	Since  time.Time
}

// The sources of a membership.
const (
	MemberLocal = "local" // by an administrator
	MemberSSO   = "sso"   // by the identity provider's groups claim
)

// Tokens keeps API tokens and browser sessions.
type Tokens interface {
	CreateAPIToken(ctx context.Context, t *APIToken) error
	APITokenByID(ctx context.Context, id string) (*APIToken, error)
	ListAPITokens(ctx context.Context, userID string) ([]*APIToken, error)
	RevokeAPIToken(ctx context.Context, id string, at time.Time) error
	TouchAPIToken(ctx context.Context, id string, at time.Time) error

	CreateWebSession(ctx context.Context, s *WebSession) error
	WebSessionByID(ctx context.Context, id string) (*WebSession, error)
	DeleteWebSession(ctx context.Context, id string) error
	DeleteExpiredWebSessions(ctx context.Context, now time.Time) (int, error)
}

// Workspaces keeps the catalog.
type Workspaces interface {
	CreateWorkspace(ctx context.Context, w *Workspace) error
	WorkspaceByID(ctx context.Context, id string) (*Workspace, error)
	WorkspaceByName(ctx context.Context, name string) (*Workspace, error)
	ListWorkspaces(ctx context.Context) ([]*Workspace, error)
	UpdateWorkspace(ctx context.Context, w *Workspace) error
	DeleteWorkspace(ctx context.Context, id string) error
}

// Pools keeps the workspaces' warm pools.
type Pools interface {
	// SetPool creates or replaces a workspace's pool (size 0: none kept
	// warm, and those warm are stopped).
	SetPool(ctx context.Context, p *Pool) error
	ListPools(ctx context.Context) ([]*Pool, error)
}

// Nodes keeps enrolled provision nodes.
type Nodes interface {
	CreateNode(ctx context.Context, n *Node) error
	NodeByID(ctx context.Context, id string) (*Node, error)
	NodeByName(ctx context.Context, name string) (*Node, error)
	ListNodes(ctx context.Context) ([]*Node, error)
	// UpdateNode writes every field of n but Draining, which only
	// SetNodeDraining writes: a liveness round that read the node before
	// an administrator drained it must not undo the drain.
	UpdateNode(ctx context.Context, n *Node) error
	SetNodeDraining(ctx context.Context, id string, draining bool, now time.Time) (*Node, error)
	// NodeAnswered records that the node answered (a ping or its
	// heartbeat) at at: its LastHeartbeat, and ready if it was down.
	// NodeSilent marks it down unless it was heard from after lastHeard,
	// the heartbeat the caller judged it silent by, and reports whether
	// it did. Both write liveness alone: a liveness round holds the nodes
	// it read while it pings them all, and must not undo a renewal's
	// certificate serials or a new URL written meanwhile.
	NodeAnswered(ctx context.Context, id string, at time.Time) error
	NodeSilent(ctx context.Context, id string, lastHeard, now time.Time) (bool, error)
	DeleteNode(ctx context.Context, id string) error
	// RevokeCert records a certificate serial as revoked until notAfter,
	// after which the certificate expires anyway and the record may go.
	RevokeCert(ctx context.Context, serial string, notAfter time.Time) error
	IsCertRevoked(ctx context.Context, serial string) (bool, error)
	ListRevokedCerts(ctx context.Context, now time.Time) ([]string, error)
}

// Sessions keeps sessions.
type Sessions interface {
	CreateSession(ctx context.Context, s *Session) error
	// CreateSessionWithin stores s unless its user would then have more
	// than userLimit, or its node more than nodeCapacity, active sessions
	// (0: unbounded), atomically with respect to other creations: ELIMIT or
	// EUNAVAILABLE otherwise.
	CreateSessionWithin(ctx context.Context, s *Session, userLimit, nodeCapacity int) error
	SessionByID(ctx context.Context, id string) (*Session, error)
	// SessionByLaunchKey is user's session made with launch key key;
	// ENOTFOUND if none.
	SessionByLaunchKey(ctx context.Context, user, key string) (*Session, error)
	ListSessions(ctx context.Context, f SessionFilter) ([]*Session, error)
	// ClaimWarm hands one warm session of workspace out to h.UserID (the
	// agent's next claim gives it a fresh credential),
	// atomically with respect to other claims and creations: one on a
	// ready, undrained node, unless the user would then have more than
	// userLimit active sessions (ELIMIT). ENOTFOUND when none is warm.
	ClaimWarm(ctx context.Context, workspace string, h Handout, userLimit int, now time.Time) (*Session, error)
	CountSessions(ctx context.Context, f SessionFilter) (int, error)
	// CountSessionsByNode counts what f selects on each node, in one
	// query; f.NodeID must be empty.
	CountSessionsByNode(ctx context.Context, f SessionFilter) (map[string]int, error)
	// UpdateSession applies u if the session's state is in u.From and
	// returns the session as stored after it; ECONFLICT otherwise.
	UpdateSession(ctx context.Context, id string, u SessionUpdate, now time.Time) (*Session, error)
	// ClaimRegistration is the agent's registration, atomically: if session
	// id is starting and its registration hash equals hash, agentHash is
	// stored and the session becomes ready at now. The same hash works
	// again while the session has been ready for less than retry (a lost
	// answer), replacing agentHash; clearing the hash (UpdateSession)
	// ends that. ENOTFOUND if the session or the hash does not match;
	// ECONFLICT if the session is neither starting nor within retry.
	ClaimRegistration(ctx context.Context, id string, hash, agentHash []byte, now time.Time, retry time.Duration) (*Session, error)
	DeleteSession(ctx context.Context, id string) error
}

// Settings keeps deployment-wide values shared by every api process: the
// join secret's hash, signing keys.
type Settings interface {
	// Setting returns the value of key; ENOTFOUND if unset.
	Setting(ctx context.Context, key string) ([]byte, error)
	SetSetting(ctx context.Context, key string, value []byte) error
	// SetSettingIfAbsent stores value unless key is set, and returns the
	// value that is stored after the call: the first writer wins.
	SetSettingIfAbsent(ctx context.Context, key string, value []byte) ([]byte, error)
	// DeleteSetting removes key; removing an unset key is no error.
	DeleteSetting(ctx context.Context, key string) error
	// SpendOnce records a one-time value (a single sign-on login state's
	// hash) as used until expires, for every process on the store;
	// ECONFLICT when it was used already. Records over at now go.
	SpendOnce(ctx context.Context, id string, expires, now time.Time) error
}
