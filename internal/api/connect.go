package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/signal"
	"github.com/airlock-rbi/airlock/internal/turn"
)

// connectTTL bounds a connect token: long enough to open the signal
// connection, short enough that a leaked one is soon worthless; the relay
// closes a connection when its token expires, and the client reconnects
// with a fresh one.
const connectTTL = 5 * time.Minute

// MaxTokenTTL is the longest lifetime of any token the api signs: a
// retired signing key must verify that long after a rotation.
const MaxTokenTTL = max(connectTTL, agentCredentialTTL)

// Revoker ends, at once, what holds a connect token of a session, a user
// or a sign-in (web session or API token ID) that is gone.
type Revoker interface {
	RevokeSession(id string)
	RevokeUser(id string)
	RevokeGrant(id string)
}

type noRevoker struct{}

func (noRevoker) RevokeSession(string) {}
func (noRevoker) RevokeUser(string)    {}
func (noRevoker) RevokeGrant(string)   {}

// signalPath is where the relay is mounted, on the same origin as the api.
const signalPath = "/api/v1/signal"

type connectResponse struct {
	Token      string           `json:"token"`
	SignalURL  string           `json:"signal_url"`
	ExpiresAt  int64            `json:"expires_at"`
	ICEServers []turn.ICEServer `json:"ice_servers"`
	// Clipboard is the workspace's clipboard policy, for the viewer to
	// apply: it comes from here, never from the agent, which a
	// compromised session controls.
	Clipboard airlock.ClipboardPolicy `json:"clipboard,omitempty"`
}

// ICE gives the ICE servers (STUN, and TURN with fresh credentials bound
// to the session) for a client of a session in role (signal.RoleViewer
// or signal.RoleAgent); nil when the deployment has none.
type ICE func(session, subject, role string, now time.Time) []turn.ICEServer

// connect gives the caller a signed token for the session's signal relay,
// bound to the user, the session and the viewer role, with the ICE servers.
func (s *Server) connect(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	sess, err := s.visibleSession(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if sess.State != airlock.SessionReady {
		return airlock.Errorf(airlock.ECONFLICT, "session %s is %s; it can be viewed once ready", sess.ID, sess.State)
	}
	c := callerOf(ctx)
	u := c.User
	// The sign-in goes into the token so that signing out revokes it.
	resp, err := s.connectAnswer(r, u.ID, sess.ID, signal.RoleViewer, c.TokenID)
	if err != nil {
		return err
	}
	if resp.Clipboard, err = s.clipboardOf(ctx, sess); err != nil {
		return err
	}
	s.audit(ctx, u.Name, "session.connect", sess.ID, "")
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// agentConnect gives a registered agent its token for the relay. A warm
// agent takes its place on the relay before its hand-out, so that its
// user's viewer finds it there; no viewer can join before (a viewer's
// connect needs the session ready and its own).
func (s *Server) agentConnect(w http.ResponseWriter, r *http.Request) error {
	_, sess, err := s.agentSessionIn(r, airlock.SessionReady, airlock.SessionWarm)
	if err != nil {
		return err
	}
	resp, err := s.connectAnswer(r, "agent-"+sess.ID, sess.ID, signal.RoleAgent, "")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) connectAnswer(r *http.Request, subject, session, role, grant string) (connectResponse, error) {
	now := s.clock.now()
	exp := now.Add(connectTTL)
	tok, err := s.signer.Sign(auth.Claims{Subject: subject, Session: session, Role: role, Grant: grant, Audience: signal.Audience, Expires: exp.Unix()})
	if err != nil {
		return connectResponse{}, err
	}
	resp := connectResponse{Token: tok, SignalURL: signalURL(r), ExpiresAt: exp.Unix(), ICEServers: []turn.ICEServer{}}
	if s.ice != nil {
		resp.ICEServers = s.ice(session, subject, role, now)
	}
	return resp, nil
}

// signalURL is the relay on the host the client reached the api by.
func signalURL(r *http.Request) string {
	return "wss://" + r.Host + signalPath
}

// clipboardOf is the clipboard policy a viewer of sess applies: its
// workspace's under the session's policy, or off when the workspace is
// gone. The agent enforces the
// policy it was started with; the stricter of the two holds.
func (s *Server) clipboardOf(ctx context.Context, sess *airlock.Session) (airlock.ClipboardPolicy, error) {
	ws, err := s.store.WorkspaceByID(ctx, sess.WorkspaceID)
	if airlock.ErrorCode(err) == airlock.ENOTFOUND {
		return airlock.ClipboardOff, nil
	}
	if err != nil {
		return "", fmt.Errorf("workspace of session %s: %w", sess.ID, err)
	}
	return sess.Policy.Apply(ws).Clipboard.OrDefault(), nil
}
