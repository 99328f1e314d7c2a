package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// User is an account as the api shows it. MaxSessions 0 is the server's
// default limit.
type User struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Role        string    `json:"role"`
	MaxSessions int       `json:"max_sessions,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// CreateUserRequest is a new local account (an admin's call). Role ""
// is user; MaxSessions 0 is the server's default.
type CreateUserRequest struct {
	Name        string `json:"name"`
	Password    string `json:"password"`
	Role        string `json:"role"`
	MaxSessions int    `json:"max_sessions"`
}

// PasswordAnswer is the answer to a password change or reset: how many
// browser sign-ins it ended (API tokens stay valid).
type PasswordAnswer struct {
	WebSessionsEnded int `json:"web_sessions_ended"`
}

// UserPolicy is the policy a user's sessions run under, per workspace,
// each field with the rule it came from.
type UserPolicy struct {
	User        string            `json:"user"`
	Groups      []string          `json:"groups"`
	MaxSessions int               `json:"max_sessions"`
	Workspaces  []WorkspacePolicy `json:"workspaces"`
}

// WorkspacePolicy is a user's policy for one workspace: whether the
// user's groups grant it, which, and the fields that hold.
type WorkspacePolicy struct {
	Workspace string                   `json:"workspace"`
	Granted   bool                     `json:"granted"`
	GrantedBy []string                 `json:"granted_by"`
	Fields    []airlock.EffectiveField `json:"fields"`
}

// ListUsers lists the accounts.
func (c *Client) ListUsers(ctx context.Context) ([]User, error) {
	return list[User](ctx, c, route("users"))
}

// CreateUser adds a local account.
func (c *Client) CreateUser(ctx context.Context, req CreateUserRequest) (*User, error) {
	return call[User](ctx, c, http.MethodPost, route("users"), req)
}

// DeleteUser removes an account that has no active sessions.
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, route("users", name), nil, nil)
}

// ChangePassword changes the caller's own password, which it must know.
func (c *Client) ChangePassword(ctx context.Context, current, next string) (*PasswordAnswer, error) {
	return call[PasswordAnswer](ctx, c, http.MethodPost, route("users", "me", "password"),
		struct {
			Current string `json:"current"`
			New     string `json:"new"`
		}{current, next})
}

// ResetPassword sets another user's password (an admin's call).
func (c *Client) ResetPassword(ctx context.Context, name, next string) (*PasswordAnswer, error) {
	return call[PasswordAnswer](ctx, c, http.MethodPost, route("users", name, "password"),
		struct {
			New string `json:"new"`
		}{next})
}

// UserPolicy is the effective policy of user name, for every workspace or
// only the one named by workspace. Name "me" is the caller, whose policy
// needs no admin role to read: then only the workspaces the caller may
// launch are listed.
func (c *Client) UserPolicy(ctx context.Context, name, workspace string) (*UserPolicy, error) {
	p := route("users", name, "policy")
	if name == "me" {
		p = route("me", "policy")
	}
	if workspace != "" {
		p += "?" + url.Values{"workspace": {workspace}}.Encode()
	}
	return get[UserPolicy](ctx, c, p)
}
