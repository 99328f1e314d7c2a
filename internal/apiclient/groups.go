package apiclient

import (
	"context"
	"net/http"
	"time"
)

// GroupPolicy is what a group sets for its members' sessions, or a grant
// for one workspace's; a nil field is not set there. Durations are
// written as Go writes them ("30m", "8h").
type GroupPolicy struct {
	MaxSessions *int    `json:"max_sessions,omitempty"`
	Idle        *string `json:"idle_timeout,omitempty"`
	Lifetime    *string `json:"lifetime,omitempty"`
	MaxLifetime *string `json:"max_lifetime,omitempty"`
	// Clipboard is off, to-container, from-container or both.
	Clipboard *string `json:"clipboard,omitempty"`
	Downloads *bool   `json:"downloads,omitempty"`
	Uploads   *bool   `json:"uploads,omitempty"`
}

// Empty reports whether p sets nothing (the api answers no policy then).
func (p *GroupPolicy) Empty() bool {
	return p == nil || *p == GroupPolicy{}
}

// Grant is a workspace a group grants, by name, with its own rule.
type Grant struct {
	Workspace string       `json:"workspace"`
	Policy    *GroupPolicy `json:"policy,omitempty"`
}

// GroupSpec is a group as it is written: PUT replaces all of it (its
// members aside), so an edit reads the group first.
type GroupSpec struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Priority orders groups that set the same field: the lowest wins.
	Priority int `json:"priority"`
	// AllWorkspaces grants every workspace, present and future, besides
	// those Workspaces grants one by one.
	AllWorkspaces bool         `json:"all_workspaces,omitempty"`
	Workspaces    []Grant      `json:"workspaces,omitempty"`
	Policy        *GroupPolicy `json:"policy,omitempty"`
	// IdPGroups are the names in the single sign-on groups claim that
	// make a user a member.
	IdPGroups []string `json:"idp_groups,omitempty"`
}

// Group is a group as the api lists it.
type Group struct {
	ID string `json:"id"`
	GroupSpec
	Members int `json:"members"`
	// BuiltIn is the group everyone, whose members are every user.
	BuiltIn   bool      `json:"built_in,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// GroupDetail is one group with its members.
type GroupDetail struct {
	Group
	MemberList []Member `json:"member_list"`
}

// Member is a user in a group, and how they came to be: local (added by
// an admin) or sso (the identity provider's groups claim).
type Member struct {
	User   string    `json:"user"`
	Source string    `json:"source"`
	Since  time.Time `json:"since"`
}

// ListGroups lists the groups, everyone included.
func (c *Client) ListGroups(ctx context.Context) ([]Group, error) {
	return list[Group](ctx, c, route("groups"))
}

// Group is the group name with its members.
func (c *Client) Group(ctx context.Context, name string) (*GroupDetail, error) {
	return get[GroupDetail](ctx, c, route("groups", name))
}

// CreateGroup adds a group.
func (c *Client) CreateGroup(ctx context.Context, g GroupSpec) (*Group, error) {
	return call[Group](ctx, c, http.MethodPost, route("groups"), g)
}

// PutGroup replaces the group name with g (renamed, if g names another);
// its members stay.
func (c *Client) PutGroup(ctx context.Context, name string, g GroupSpec) (*Group, error) {
	return call[Group](ctx, c, http.MethodPut, route("groups", name), g)
}

// DeleteGroup removes a group; its members lose what it granted.
func (c *Client) DeleteGroup(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, route("groups", name), nil, nil)
}

// AddGroupMember makes user a member of group.
func (c *Client) AddGroupMember(ctx context.Context, group, user string) error {
	return c.Do(ctx, http.MethodPut, route("groups", group, "members", user), nil, nil)
}

// RemoveGroupMember ends user's membership of group.
func (c *Client) RemoveGroupMember(ctx context.Context, group, user string) error {
	return c.Do(ctx, http.MethodDelete, route("groups", group, "members", user), nil, nil)
}
