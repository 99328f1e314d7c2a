package apiclient

import (
	"context"
	"net/http"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// The calls of a provision node: fetching the deployment CA, enrolling
// with a join token, and then, with its client certificate (the
// client's TLS), renewing it, heartbeats and reports of its refusals.

// EnrollRequest is a node joining: what it advertises, the join token and
// a CSR for a key it made itself.
type EnrollRequest struct {
	Token     string            `json:"token"`
	Name      string            `json:"name"`
	URL       string            `json:"url"`
	Capacity  int               `json:"capacity"`
	Isolation []string          `json:"isolation"`
	Labels    map[string]string `json:"labels,omitempty"`
	CSR       string            `json:"csr"`
}

// NodeCertificate is a node's signed certificate and the deployment CA,
// PEM.
type NodeCertificate struct {
	NodeID   string    `json:"node_id,omitempty"`
	Cert     string    `json:"cert"`
	CA       string    `json:"ca"`
	NotAfter time.Time `json:"not_after"`
}

// CACertificate is the deployment CA certificate, PEM, as the server
// serves it to anyone. The caller judges it: a joining node over an
// unverified connection accepts it only by its join token's fingerprint.
func (c *Client) CACertificate(ctx context.Context) ([]byte, error) {
	return c.read(ctx, c.token, http.MethodGet, route("ca"), nil)
}

// EnrollNode joins a node with a join token.
func (c *Client) EnrollNode(ctx context.Context, req EnrollRequest) (*NodeCertificate, error) {
	return call[NodeCertificate](ctx, c, http.MethodPost, route("nodes", "enroll"), req)
}

// RenewNode has the node's certificate (the one the client presents)
// replaced by one for csrPEM's key.
func (c *Client) RenewNode(ctx context.Context, csrPEM string) (*NodeCertificate, error) {
	return call[NodeCertificate](ctx, c, http.MethodPost, route("nodes", "renew"),
		struct {
			CSR string `json:"csr"`
		}{csrPEM})
}

// NodeHeartbeat tells the api the node is alive.
func (c *Client) NodeHeartbeat(ctx context.Context) error {
	return c.Do(ctx, http.MethodPost, route("nodes", "heartbeat"), struct{}{}, nil)
}

// ReportNodeEvents records the node's refusals in the audit log: the
// whole batch, or (a 400) none of it.
func (c *Client) ReportNodeEvents(ctx context.Context, b airlock.NodeEventBatch) error {
	return c.Do(ctx, http.MethodPost, route("nodes", "events"), b, nil)
}
