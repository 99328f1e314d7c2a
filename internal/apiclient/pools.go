package apiclient

import (
	"context"
	"net/http"
	"time"
)

// Pool is a workspace's warm pool: its setting and how many sessions are
// warm (ready to hand out) and starting.
type Pool struct {
	Workspace string `json:"workspace"`
	Size      int    `json:"size"`
	// MaxAge is how long a warm session may wait before it is recycled.
	MaxAge   string `json:"max_age,omitempty"`
	Warm     int    `json:"warm"`
	Starting int    `json:"starting"`
	// Nodes counts the warm sessions on each node, by name.
	Nodes     map[string]int `json:"nodes,omitempty"`
	UpdatedAt *time.Time     `json:"updated_at,omitempty"`
}

// SetPoolRequest sets a pool: Size sessions kept warm (0: none), each
// recycled after MaxAge ("" the default, 1h).
type SetPoolRequest struct {
	Size   int    `json:"size"`
	MaxAge string `json:"max_age,omitempty"`
}

// ListPools lists the workspaces' pools.
func (c *Client) ListPools(ctx context.Context) ([]Pool, error) {
	return list[Pool](ctx, c, route("pools"))
}

// SetPool sets the pool of workspace.
func (c *Client) SetPool(ctx context.Context, workspace string, req SetPoolRequest) (*Pool, error) {
	return call[Pool](ctx, c, http.MethodPut, route("pools", workspace), req)
}
