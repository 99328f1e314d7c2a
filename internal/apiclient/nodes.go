package apiclient

import (
	"context"
	"net/http"
	"time"
)

// Node is a provision node as admins see it.
type Node struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// URL is the node's Docker API door.
	URL   string `json:"url"`
	State string `json:"state"`
	// Draining: the node takes no new sessions.
	Draining bool `json:"draining"`
	Capacity int  `json:"capacity"`
	// Active counts the node's active sessions.
	Active        int               `json:"active"`
	Isolation     []string          `json:"isolation"`
	Labels        map[string]string `json:"labels,omitempty"`
	CertNotAfter  time.Time         `json:"cert_not_after"`
	LastHeartbeat time.Time         `json:"last_heartbeat"`
	CreatedAt     time.Time         `json:"created_at"`
}

// DockerEnv is a short-lived admin certificate for driving a node with
// the stock docker CLI, and the address to drive it at.
type DockerEnv struct {
	DockerHost string    `json:"docker_host"`
	CA         string    `json:"ca"`
	Cert       string    `json:"cert"`
	Key        string    `json:"key"`
	NotAfter   time.Time `json:"not_after"`
}

// CreateJoinTokenRequest is a join token to make. Each zero field takes
// the api's default: TTL 1h, Uses 1, Capacity 20, Isolation standard.
type CreateJoinTokenRequest struct {
	TTL       string   `json:"ttl,omitempty"`
	Uses      int      `json:"uses,omitempty"`
	Capacity  int      `json:"capacity,omitempty"`
	Isolation []string `json:"isolation,omitempty"`
}

// JoinToken is a join token as admins see it; Token, the secret, is in
// the answer of its creation only.
type JoinToken struct {
	ID        string    `json:"id"`
	Token     string    `json:"token,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Uses      int       `json:"uses"`
	UsesLeft  int       `json:"uses_left"`
	// Capacity and Isolation bound what an enrolled node may advertise.
	Capacity  int      `json:"capacity"`
	Isolation []string `json:"isolation"`
	// State is active, expired or used.
	State string `json:"state"`
}

// ListNodes lists the provision nodes.
func (c *Client) ListNodes(ctx context.Context) ([]Node, error) {
	return list[Node](ctx, c, route("nodes"))
}

// DrainNode stops new sessions on a node; its sessions run until they end.
func (c *Client) DrainNode(ctx context.Context, name string) (*Node, error) {
	return call[Node](ctx, c, http.MethodPost, route("nodes", name, "drain"), nil)
}

// UndrainNode lets a drained node take new sessions again.
func (c *Client) UndrainNode(ctx context.Context, name string) (*Node, error) {
	return call[Node](ctx, c, http.MethodPost, route("nodes", name, "undrain"), nil)
}

// DeleteNode removes a node and revokes its certificates. A node with
// active sessions is refused unless force, which fails them.
func (c *Client) DeleteNode(ctx context.Context, name string, force bool) error {
	p := route("nodes", name)
	if force {
		p += "?force=1"
	}
	return c.Do(ctx, http.MethodDelete, p, nil, nil)
}

// NodeDockerEnv issues the caller (an admin) a certificate for the
// node's Docker API door.
func (c *Client) NodeDockerEnv(ctx context.Context, name string) (*DockerEnv, error) {
	return call[DockerEnv](ctx, c, http.MethodPost, route("nodes", name, "docker-env"), struct{}{})
}

// CreateJoinToken makes a token nodes enroll with.
func (c *Client) CreateJoinToken(ctx context.Context, req CreateJoinTokenRequest) (*JoinToken, error) {
	return call[JoinToken](ctx, c, http.MethodPost, route("nodes", "join-tokens"), req)
}

// ListJoinTokens lists the join tokens, without their secrets.
func (c *Client) ListJoinTokens(ctx context.Context) ([]JoinToken, error) {
	return list[JoinToken](ctx, c, route("nodes", "join-tokens"))
}

// DeleteJoinToken revokes a join token.
func (c *Client) DeleteJoinToken(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, route("nodes", "join-tokens", id), nil, nil)
}
