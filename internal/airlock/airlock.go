// Package airlock is the domain of the Airlock platform: users, API
// tokens, workspaces, provision nodes and sessions, their states and the
// rules between them, the error vocabulary every other package speaks, and
// the Store the api keeps them in.
//
// It imports nothing of Airlock's own and does no I/O. Adapters live
// beside it: internal/store implements Store on SQLite and PostgreSQL,
// internal/api serves it over HTTP, internal/provision runs containers.
package airlock

import (
	"regexp"
	"time"
)

// Role is what a user may do.
type Role string

const (
	// RoleAdmin manages users, workspaces and nodes and sees every session.
	RoleAdmin Role = "admin"
	// RoleUser launches and uses their own sessions.
	RoleUser Role = "user"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleUser }

// User is a local account.
type User struct {
	ID           string
	Name         string
	Role         Role
	PasswordHash string // argon2id, PHC format; never leaves the api
	// MaxSessions bounds the user's active sessions; 0 means the server default.
	MaxSessions int
	// SSOIssuer and SSOSubject link a user made by single sign-on to the
	// identity provider's account (its issuer URL and the subject there);
	// both empty for a local user. They never change.
	SSOIssuer, SSOSubject string
	CreatedAt             time.Time
	UpdatedAt             time.Time
}

// APIToken is a bearer credential for the CLI and automation. Only its
// hash is stored.
type APIToken struct {
	ID         string // the public part of the token, also its lookup key
	UserID     string
	Name       string
	Hash       []byte
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Active reports whether the token may be used at now.
func (t *APIToken) Active(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// WebSession is a browser's signed-in session, keyed by its cookie's ID.
type WebSession struct {
	ID        string
	UserID    string
	Hash      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
	// SSOIDToken is the identity provider's ID token of a single sign-on,
	// kept (server side only) as the hint that signs the browser out
	// there too; empty for a password sign-in.
	SSOIDToken string
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidName checks the names of users, workspaces and nodes: lower case,
// digits, '.', '_' and '-', at most 63 characters, so they are safe in
// container labels, URLs and logs.
func ValidName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return Errorf(EINVALID, "%s name %q must be 1-63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit", kind, name)
	}
	return nil
}

// Labels every session container carries, beside the provision node's own
// airlock.managed.
const (
	LabelSession   = "airlock.session"
	LabelWorkspace = "airlock.workspace"
	LabelUser      = "airlock.user"
	// LabelDeployment names the deployment (its CA) that owns a container:
	// deployments sharing a Docker engine leave each other's alone.
	LabelDeployment = "airlock.deployment"
)

// Now truncates to microseconds, the precision both stores keep, so a
// value read back compares equal to the one written.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
