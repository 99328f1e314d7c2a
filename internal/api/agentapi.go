package api

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
)

const (
	// agentAudience is the audience of agent credentials.
	agentAudience = "airlock-agent"
	// agentCredentialTTL: each heartbeat renews the credential.
	agentCredentialTTL = 10 * time.Minute
)

// heartbeatRequest is what an agent reports with each heartbeat: whether
// a viewer is connected, and how long ago its last input came (absent or
// negative: none since the agent started). An agent of an older image
// sends none of it.
type heartbeatRequest struct {
	Viewer      bool   `json:"viewer,omitempty"`
	InputIdleMS *int64 `json:"input_idle_ms,omitempty"`
}

type registerRequest struct {
	Session string `json:"session"`
	Token   string `json:"token"`
}

type registration struct {
	SessionID        string `json:"session_id"`
	Credential       string `json:"credential"`
	ExpiresAt        int64  `json:"expires_at"`
	HeartbeatSeconds int    `json:"heartbeat_seconds"`
	// Warm: the session is a pool's, no one's yet: the agent waits for
	// its hand-out (POST /api/v1/agent/claim) before it starts the
	// desktop.
	Warm bool `json:"warm,omitempty"`
	// Bound (claim answers only): the session was handed out; Clipboard
	// is then the policy the user gets, Locale, TimeZone and Scale the
	// launching viewer's (as the workspace allows them; empty or 0: the
	// workspace's own).
	Bound     bool    `json:"bound,omitempty"`
	Clipboard string  `json:"clipboard,omitempty"`
	Locale    string  `json:"locale,omitempty"`
	TimeZone  string  `json:"timezone,omitempty"`
	Scale     float64 `json:"scale,omitempty"`
}

// registerRetryWindow is how long after an agent's first registration
// the same token registers again: an agent whose answer was lost (a
// connection cut after the server committed) retries and gets a fresh
// credential instead of failing the session. The agent's first heartbeat
// closes the window early (it has its credential then).
const registerRetryWindow = 30 * time.Second

var errBadRegistration = airlock.Errorf(airlock.EUNAUTHORIZED, "registration token is not valid for this session (a token works once, or again within 30s until the agent's first heartbeat)")

// agentSubject prefixes the subject of agent credentials; the rest is the
// registration's generation, a random value whose hash the session keeps
// (AgentHash). A retried registration draws a new generation, so the
// credentials of the first one stop working.
const agentSubject = "agent:"

// registerAgent exchanges a session's registration token for an agent
// credential; the session becomes ready.
func (s *Server) registerAgent(w http.ResponseWriter, r *http.Request) error {
	var req registerRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	tok, err := auth.ParseToken(req.Token)
	if err != nil || tok.Kind != auth.KindRegister || req.Session == "" {
		s.refusal(r.Context(), "", "agent.refused", req.Session, "registration: not a registration token")
		return errBadRegistration
	}
	now := s.clock.now()
	subject := agentSubject + newID()
	cred, exp, err := s.agentCredential(req.Session, subject, now)
	if err != nil {
		return err
	}
	gen := generationHash(subject)
	sess, err := s.store.ClaimRegistration(r.Context(), req.Session, tok.Hash(), gen[:], now, registerRetryWindow)
	switch airlock.ErrorCode(err) {
	case "":
	case airlock.ENOTFOUND:
		s.log.Warn("refused agent registration", "session", req.Session)
		s.refusal(r.Context(), "", "agent.refused", req.Session, "registration: the token does not match the session")
		return errBadRegistration
	case airlock.ECONFLICT:
		// Only a caller holding the session's token gets here: the
		// store's reason (not starting, or the retry window is over) is
		// theirs to read.
		s.log.Warn("refused agent registration", "session", req.Session, "err", err)
		return err
	default:
		return err
	}
	if sess.ReadyAt != nil && sess.ReadyAt.Before(now) {
		s.log.Warn("agent registered again (its first answer was lost?); the first credential no longer works", "session", sess.ID)
		s.audit(r.Context(), "agent", "session.reregister", sess.ID, "")
	} else {
		s.watch.notify(sess.ID)
		s.audit(r.Context(), "agent", "session.ready", sess.ID, "")
	}
	// A pool's session claims its hand-out, which a handed-out one (its
	// answer lost, or resumed from suspension) gets at once, with its
	// user's settings.
	writeJSON(w, http.StatusOK, registration{SessionID: sess.ID, Credential: cred, ExpiresAt: exp.Unix(), HeartbeatSeconds: s.heartbeatSeconds(),
		Warm: sess.Pooled()})
	return nil
}

func (s *Server) agentCredential(sessionID, subject string, now time.Time) (string, time.Time, error) {
	exp := now.Add(agentCredentialTTL)
	cred, err := s.signer.Sign(auth.Claims{Subject: subject, Session: sessionID, Role: "agent", Audience: agentAudience, Expires: exp.Unix()})
	return cred, exp, err
}

// generationHash is what the session keeps of a credential's subject.
func generationHash(subject string) [32]byte { return sha256Sum(subject) }

// agentSession checks the agent credential r bears and returns its
// claims with the session it is for, which is ready. A credential of a
// registration that a retry replaced is refused.
func (s *Server) agentSession(r *http.Request) (auth.Claims, *airlock.Session, error) {
	return s.agentSessionIn(r, airlock.SessionReady)
}

// agentSessionIn is agentSession for a session in one of states. A
// credential refused as invalid is recorded in the audit log; one of a
// session that ended is not (its agent's last heartbeats are expected).
func (s *Server) agentSessionIn(r *http.Request, states ...airlock.SessionState) (auth.Claims, *airlock.Session, error) {
	claims, sess, err := s.agentSessionOf(r, states...)
	if airlock.ErrorCode(err) == airlock.EUNAUTHORIZED {
		s.refusal(r.Context(), "", "agent.refused", claims.Session, r.URL.Path+": "+airlock.ErrorMessage(err))
	}
	return claims, sess, err
}

func (s *Server) agentSessionOf(r *http.Request, states ...airlock.SessionState) (auth.Claims, *airlock.Session, error) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return auth.Claims{}, nil, airlock.Errorf(airlock.EUNAUTHORIZED, "agent credential required")
	}
	claims, err := s.signer.Verify(strings.TrimSpace(raw), agentAudience)
	if err != nil {
		if errors.Is(err, auth.ErrTokenExpired) {
			return auth.Claims{}, nil, airlock.Errorf(airlock.EUNAUTHORIZED, "agent credential expired")
		}
		return auth.Claims{}, nil, airlock.Errorf(airlock.EUNAUTHORIZED, "agent credential is not valid")
	}
	sess, err := s.store.SessionByID(r.Context(), claims.Session)
	if airlock.ErrorCode(err) == airlock.ENOTFOUND || (err == nil && !slices.Contains(states, sess.State)) {
		return auth.Claims{}, nil, airlock.Errorf(airlock.EFORBIDDEN, "session %s is no longer running", claims.Session)
	}
	if err != nil {
		return auth.Claims{}, nil, err
	}
	// Credentials signed before generations existed have the bare
	// subject "agent" and no generation to compare; they are the only
	// credential of their session, as no retry could replace them.
	if claims.Subject != "agent" {
		gen := generationHash(claims.Subject)
		if !strings.HasPrefix(claims.Subject, agentSubject) || subtle.ConstantTimeCompare(gen[:], sess.AgentHash) != 1 {
			return auth.Claims{}, nil, airlock.Errorf(airlock.EUNAUTHORIZED, "agent credential of session %s was replaced by a later registration", claims.Session)
		}
	}
	return claims, sess, nil
}

// agentHeartbeat records that an agent is alive and renews its credential.
// A session that is no longer ready refuses the agent for good. The
// first heartbeat also ends the registration token's retry window: the
// agent has its credential.
func (s *Server) agentHeartbeat(w http.ResponseWriter, r *http.Request) error {
	claims, cur, err := s.agentSession(r)
	if err != nil {
		return err
	}
	var req heartbeatRequest
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if len(body) > 0 {
		if err := decodeBytes(body, &req); err != nil {
			return err
		}
	}
	now := s.clock.now()
	var noToken []byte
	u := airlock.SessionUpdate{From: []airlock.SessionState{airlock.SessionReady}, LastHeartbeat: &now, RegisterHash: &noToken}
	if req.Viewer {
		u.LastViewerAt = &now
	}
	if req.InputIdleMS != nil && *req.InputIdleMS >= 0 {
		// Input only moves forward: a user's extension counts as input
		// the agent never saw. The agent lives inside the session, so
		// what it reports can keep only its own session up, and never
		// past its lifetime.
		in := now.Add(-time.Duration(*req.InputIdleMS) * time.Millisecond).Truncate(time.Microsecond)
		if cur.LastInputAt == nil || in.After(*cur.LastInputAt) {
			u.LastInputAt = &in
		}
	}
	sess, err := s.store.UpdateSession(r.Context(), claims.Session, u, now)
	if code := airlock.ErrorCode(err); code == airlock.ECONFLICT || code == airlock.ENOTFOUND {
		return airlock.Errorf(airlock.EFORBIDDEN, "session %s is no longer running", claims.Session)
	} else if err != nil {
		return err
	}
	cred, exp, err := s.agentCredential(sess.ID, claims.Subject, now)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, registration{SessionID: sess.ID, Credential: cred, ExpiresAt: exp.Unix(), HeartbeatSeconds: s.heartbeatSeconds()})
	return nil
}

// heartbeatSeconds is the heartbeat period agents are told, at least 1.
func (s *Server) heartbeatSeconds() int { return max(int(s.beat/time.Second), 1) }

// claimWait is how long an agent's claim waits for its hand-out before
// it is answered unbound (and asks again): well inside the heartbeat
// timeout, since a warm agent's claims are its heartbeats, and inside
// the agent's own 15 s request timeout.
const claimWait = 10 * time.Second

// agentClaim is a warm agent waiting for its session's hand-out. Each
// call counts as a heartbeat and renews the credential; once the session
// is handed out, the answer is bound, with a credential of a new
// generation (the warm one stops working) and the user's settings.
func (s *Server) agentClaim(w http.ResponseWriter, r *http.Request) error {
	claims, sess, err := s.agentSessionIn(r, airlock.SessionWarm, airlock.SessionReady)
	if err != nil {
		return err
	}
	if !sess.Pooled() {
		return airlock.Errorf(airlock.ECONFLICT, "session %s was launched for its user, not for a pool: there is nothing to claim", sess.ID)
	}
	if sess.State == airlock.SessionWarm {
		if sess, err = s.waitState(r.Context(), sess.ID, claimWait, s.store.SessionByID, airlock.SessionWarm); err != nil {
			return err
		}
	}
	now := s.clock.now()
	var noToken []byte
	u := airlock.SessionUpdate{From: []airlock.SessionState{sess.State}, LastHeartbeat: &now, RegisterHash: &noToken}
	subject := claims.Subject
	bound := sess.State == airlock.SessionReady
	if bound {
		subject = agentSubject + newID()
		gen := generationHash(subject)
		hash := gen[:]
		u.AgentHash = &hash
	} else if sess.State != airlock.SessionWarm {
		return airlock.Errorf(airlock.EFORBIDDEN, "session %s is no longer running", sess.ID)
	}
	if sess, err = s.store.UpdateSession(r.Context(), sess.ID, u, now); err != nil {
		if code := airlock.ErrorCode(err); code == airlock.ECONFLICT || code == airlock.ENOTFOUND {
			return airlock.Errorf(airlock.EFORBIDDEN, "session %s is no longer running", claims.Session)
		}
		return err
	}
	cred, exp, err := s.agentCredential(sess.ID, subject, now)
	if err != nil {
		return err
	}
	ans := registration{SessionID: sess.ID, Credential: cred, ExpiresAt: exp.Unix(), HeartbeatSeconds: s.heartbeatSeconds(),
		Warm: !bound, Bound: bound}
	if bound {
		ws, err := s.store.WorkspaceByID(r.Context(), sess.WorkspaceID)
		if err != nil {
			return err
		}
		ws = sess.Policy.Apply(ws)
		ans.Clipboard = string(ws.Clipboard.OrDefault())
		ans.Locale, ans.TimeZone, ans.Scale = airlock.SessionDisplay(ws, sess.Viewer)
		s.audit(r.Context(), "agent", "session.bound", sess.ID, sess.UserID)
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}
