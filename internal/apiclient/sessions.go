package apiclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// Session is a session as the api shows it.
type Session struct {
	ID        string `json:"id"`
	User      string `json:"user_id"`
	Workspace string `json:"workspace_id"`
	Node      string `json:"node_id,omitempty"`
	Container string `json:"container,omitempty"`
	// State is pending, starting, warm, ready, suspended, stopping,
	// stopped or failed; Reason says why it failed.
	State       string     `json:"state"`
	Reason      string     `json:"reason,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	ReadyAt     *time.Time `json:"ready_at,omitempty"`
	StoppedAt   *time.Time `json:"stopped_at,omitempty"`
	HeartbeatAt *time.Time `json:"heartbeat_at,omitempty"`
	// EndReason is why it ended: idle, lifetime, user, admin, lost or
	// failed.
	EndReason string `json:"end_reason,omitempty"`
	// ExpiresAt is when the lifetime ends. EndsAt and EndsFor are when
	// and why (idle or lifetime) a running session ends if nothing
	// changes, EndsIn the same in seconds from the answer (for a client
	// whose clock is not the server's), WarnSeconds how long before that
	// its viewer warns, Extendable whether its user may push it later.
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	EndsAt      *time.Time `json:"ends_at,omitempty"`
	EndsFor     string     `json:"ends_for,omitempty"`
	EndsIn      *int64     `json:"ends_in_seconds,omitempty"`
	WarnSeconds int        `json:"warn_seconds,omitempty"`
	Extendable  bool       `json:"extendable,omitempty"`
	// ResumeBy is when a suspended session's grace ends (ResumeIn: in
	// seconds from the answer).
	ResumeBy *time.Time `json:"resume_by,omitempty"`
	ResumeIn *int64     `json:"resume_in_seconds,omitempty"`
	// Connect is, in the answer of a launch that handed out a warm
	// session, what ConnectSession would answer.
	Connect *ConnectAnswer `json:"connect,omitempty"`
}

// Settled reports whether the session is past launching: neither pending
// nor starting.
func (s *Session) Settled() bool {
	return s.State != string(airlock.SessionPending) && s.State != string(airlock.SessionStarting)
}

// CreateSessionRequest launches a session of a workspace (by name). The
// viewer's settings are optional: its language, IANA time zone and
// device scale factor. LaunchKey makes the request safe to send again:
// asked again with the same key, the api answers the session the first
// asking made.
type CreateSessionRequest struct {
	Workspace string  `json:"workspace"`
	Locale    string  `json:"locale,omitempty"`
	TimeZone  string  `json:"timezone,omitempty"`
	Scale     float64 `json:"scale,omitempty"`
	LaunchKey string  `json:"launch_key,omitempty"`
}

// ConnectAnswer is a token for the session's signal relay, bound to the
// caller and the session, with the ICE servers to reach its peer.
type ConnectAnswer struct {
	Token      string      `json:"token"`
	SignalURL  string      `json:"signal_url"`
	ExpiresAt  int64       `json:"expires_at"`
	ICEServers []ICEServer `json:"ice_servers"`
	// Clipboard is the workspace's clipboard policy, for a viewer to
	// apply (absent in an agent's answer).
	Clipboard string `json:"clipboard,omitempty"`
}

// ICEServer is a STUN or TURN server, as WebRTC's RTCIceServer.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// ListSessions lists the caller's sessions, or with all every user's (an
// admin's call).
func (c *Client) ListSessions(ctx context.Context, all bool) ([]Session, error) {
	p := route("sessions")
	if all {
		p += "?all=1"
	}
	return list[Session](ctx, c, p)
}

// CreateSession launches a session; it is ready at once when a warm one
// was handed out, else starting (see WaitSession).
func (c *Client) CreateSession(ctx context.Context, req CreateSessionRequest) (*Session, error) {
	return call[Session](ctx, c, http.MethodPost, route("sessions"), req)
}

// Session is the session id as it is now.
func (c *Client) Session(ctx context.Context, id string) (*Session, error) {
	return get[Session](ctx, c, route("sessions", id))
}

// SessionJSON is the session id as the api words it, every field, for a
// display of all it says.
func (c *Client) SessionJSON(ctx context.Context, id string) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.Do(ctx, http.MethodGet, route("sessions", id), nil, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// WaitSession is Session once it has settled (see Session.Settled), or
// after wait (at most a minute) if it has not: a long poll the api
// answers as soon as the state settles.
func (c *Client) WaitSession(ctx context.Context, id string, wait time.Duration) (*Session, error) {
	return get[Session](ctx, c, route("sessions", id)+"?"+url.Values{"wait": {wait.String()}}.Encode())
}

// DeleteSession ends a session: its container is stopped and removed.
// The answer is the session, stopped.
func (c *Client) DeleteSession(ctx context.Context, id string) (*Session, error) {
	return call[Session](ctx, c, http.MethodDelete, route("sessions", id), nil)
}

// ExtendSession counts as the user's input and moves the session's
// lifetime as far as its workspace allows.
func (c *Client) ExtendSession(ctx context.Context, id string) (*Session, error) {
	return call[Session](ctx, c, http.MethodPost, route("sessions", id, "extend"), nil)
}

// ResumeSession starts a suspended session again; the answer is the
// session, starting.
func (c *Client) ResumeSession(ctx context.Context, id string) (*Session, error) {
	return call[Session](ctx, c, http.MethodPost, route("sessions", id, "resume"), nil)
}

// ConnectSession is a viewer's token for the relay of a ready session.
func (c *Client) ConnectSession(ctx context.Context, id string) (*ConnectAnswer, error) {
	return call[ConnectAnswer](ctx, c, http.MethodPost, route("sessions", id, "connect"), struct{}{})
}
