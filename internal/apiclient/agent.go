package apiclient

import (
	"context"
	"net/http"
)

// The calls of a session's agent. Each is made with the agent's own
// bearer rather than the client's: the registration token, then the
// credential each answer renews.

// AgentRegistration is the api's answer to an agent's registration,
// heartbeat or claim.
type AgentRegistration struct {
	SessionID string `json:"session_id"`
	// Credential authenticates the agent's later calls; it expires and is
	// replaced by each heartbeat's answer.
	Credential       string `json:"credential"`
	ExpiresAt        int64  `json:"expires_at"`
	HeartbeatSeconds int    `json:"heartbeat_seconds"`
	// Warm: the session is a pool's and no one's yet: the agent claims
	// (ClaimSession) until it is handed out, Bound, with the user's
	// Clipboard policy.
	Warm      bool   `json:"warm,omitempty"`
	Bound     bool   `json:"bound,omitempty"`
	Clipboard string `json:"clipboard,omitempty"`
	// Locale, TimeZone and Scale (bound answers) are the launching
	// viewer's, as the workspace allows them; empty or 0: the
	// workspace's own.
	Locale   string  `json:"locale,omitempty"`
	TimeZone string  `json:"timezone,omitempty"`
	Scale    float64 `json:"scale,omitempty"`
}

// AgentActivity is what a heartbeat reports: whether a viewer is
// connected, and how long ago the last input came (nil: none yet).
type AgentActivity struct {
	Viewer      bool   `json:"viewer,omitempty"`
	InputIdleMS *int64 `json:"input_idle_ms,omitempty"`
}

// Transfer is a file crossing between a session's browser and its
// viewer, as the agent reports it before letting it cross.
type Transfer struct {
	// Direction is download or upload.
	Direction string `json:"direction"`
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
}

// RegisterAgent exchanges a session's one-time registration token for
// the agent's first credential.
func (c *Client) RegisterAgent(ctx context.Context, session, registerToken string) (*AgentRegistration, error) {
	body := struct {
		Session string `json:"session"`
		Token   string `json:"token"`
	}{session, registerToken}
	return callAs[AgentRegistration](ctx, c, "", http.MethodPost, route("agent", "register"), body)
}

// AgentHeartbeat reports the agent alive, with its activity, and renews
// its credential.
func (c *Client) AgentHeartbeat(ctx context.Context, credential string, a AgentActivity) (*AgentRegistration, error) {
	return callAs[AgentRegistration](ctx, c, credential, http.MethodPost, route("agent", "heartbeat"), a)
}

// ClaimSession is a warm agent waiting for its session's hand-out: a
// long poll answered bound once it is handed out, or unbound after a
// while (ask again). It counts as a heartbeat.
func (c *Client) ClaimSession(ctx context.Context, credential string) (*AgentRegistration, error) {
	return callAs[AgentRegistration](ctx, c, credential, http.MethodPost, route("agent", "claim"), nil)
}

// AgentConnect is the agent's token for its session's signal relay.
func (c *Client) AgentConnect(ctx context.Context, credential string) (*ConnectAnswer, error) {
	return callAs[ConnectAnswer](ctx, c, credential, http.MethodPost, route("agent", "connect"), nil)
}

// ReportTransfer records a file transfer in the audit log, as the
// session's user's; the file may cross once this returned nil.
func (c *Client) ReportTransfer(ctx context.Context, credential string, t Transfer) error {
	_, err := callAs[struct{}](ctx, c, credential, http.MethodPost, route("agent", "transfer"), t)
	return err
}
