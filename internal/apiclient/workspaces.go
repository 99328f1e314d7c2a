package apiclient

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// Workspace is a catalog entry as the api shows it. Env and Egress are
// shown to admins only; Browser's further policies too.
type Workspace struct {
	ID          string `json:"id,omitempty"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Image       string `json:"image"`
	// Isolation is standard, hardened or sandboxed.
	Isolation string `json:"isolation,omitempty"`
	// NodeLabels are the labels a node must carry to run the sessions.
	NodeLabels map[string]string `json:"node_labels,omitempty"`
	NanoCPUs   int64             `json:"nano_cpus,omitempty"`
	Memory     int64             `json:"memory,omitempty"`
	PidsLimit  int64             `json:"pids_limit,omitempty"`
	ShmSize    int64             `json:"shm_size,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	StartURL   string            `json:"start_url,omitempty"`
	// Seccomp names a profile the server knows; empty is Docker's default.
	Seccomp   string `json:"seccomp"`
	Clipboard string `json:"clipboard"`
	// Egress is the policy of a hardened or sandboxed workspace; nil for
	// a standard one (or a caller who may not see it).
	Egress   *Egress                `json:"egress,omitempty"`
	Mode     string                 `json:"mode"`
	Browser  *airlock.BrowserPolicy `json:"browser,omitempty"`
	Audio    string                 `json:"audio"`
	Locale   string                 `json:"locale,omitempty"`
	TimeZone string                 `json:"timezone,omitempty"`
	MaxScale float64                `json:"max_scale,omitempty"`
	SessionLimits
	CreatedAt *time.Time `json:"created_at,omitempty"`
	// Granted says, in a listing, whether the caller's groups grant the
	// workspace (an admin sees those they do not, too).
	Granted *bool `json:"granted,omitempty"`
}

// Egress is a workspace's egress policy: the first rule that matches a
// destination decides.
type Egress struct {
	Rules []airlock.EgressRule `json:"rules"`
}

// SessionLimits are a workspace's session limits, as Go durations
// ("30m"); each empty takes the deployment's default.
type SessionLimits struct {
	IdleTimeout       string `json:"idle_timeout,omitempty"`
	ViewerIdleTimeout string `json:"viewer_idle_timeout,omitempty"`
	Lifetime          string `json:"lifetime,omitempty"`
	MaxLifetime       string `json:"max_lifetime,omitempty"`
	// OnExpiry is remove or suspend; ResumeGrace is how long a suspended
	// session may be resumed.
	OnExpiry    string `json:"on_expiry,omitempty"`
	ResumeGrace string `json:"resume_grace,omitempty"`
}

// WorkspaceSettings are a workspace's settings by their JSON names
// (Workspace's). A map rather than a Workspace, because an update is a
// merge that tells apart what a struct cannot: a field absent stays as
// it is, null or 0 goes back to the default, and a "browser" object
// changes only the policy fields it names. A creation takes the settings
// given and the defaults for the rest.
type WorkspaceSettings map[string]any

// ListWorkspaces lists the catalog: a user's granted workspaces, or every
// one for an admin.
func (c *Client) ListWorkspaces(ctx context.Context) ([]Workspace, error) {
	return list[Workspace](ctx, c, route("workspaces"))
}

// Workspace is the workspace name.
func (c *Client) Workspace(ctx context.Context, name string) (*Workspace, error) {
	return get[Workspace](ctx, c, route("workspaces", name))
}

// WorkspaceJSON is the workspace name as the api words it, every field,
// for a display of all it says (this package's Workspace may lag behind).
func (c *Client) WorkspaceJSON(ctx context.Context, name string) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.Do(ctx, http.MethodGet, route("workspaces", name), nil, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// CreateWorkspace adds the workspace named by s["name"].
func (c *Client) CreateWorkspace(ctx context.Context, s WorkspaceSettings) (*Workspace, error) {
	return call[Workspace](ctx, c, http.MethodPost, route("workspaces"), s)
}

// UpdateWorkspace changes the settings s names (see WorkspaceSettings).
// Sessions already launched keep what they were launched with.
func (c *Client) UpdateWorkspace(ctx context.Context, name string, s WorkspaceSettings) (*Workspace, error) {
	return call[Workspace](ctx, c, http.MethodPatch, route("workspaces", name), s)
}

// DeleteWorkspace removes a workspace none of whose sessions are active;
// its pool's, no one's yet, go with it.
func (c *Client) DeleteWorkspace(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, route("workspaces", name), nil, nil)
}
