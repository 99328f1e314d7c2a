package api

import (
	"errors"
	"net/http"
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
	heartbeatSeconds   = 10
)

type registerRequest struct {
	Session string `json:"session"`
	Token   string `json:"token"`
}

type registration struct {
	SessionID        string `json:"session_id"`
	Credential       string `json:"credential"`
	ExpiresAt        int64  `json:"expires_at"`
	HeartbeatSeconds int    `json:"heartbeat_seconds"`
}

var errBadRegistration = airlock.Errorf(airlock.EUNAUTHORIZED, "registration token is not valid for this session (tokens work once)")

// registerAgent exchanges a session's one-time registration token for an
// agent credential; the session becomes ready.
func (s *Server) registerAgent(w http.ResponseWriter, r *http.Request) error {
	var req registerRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	tok, err := auth.ParseToken(req.Token)
	if err != nil || tok.Kind != auth.KindRegister || req.Session == "" {
		return errBadRegistration
	}
	now := s.clock.now()
	cred, exp, err := s.agentCredential(req.Session, now)
	if err != nil {
		return err
	}
	credTok := sha256Sum(cred)
	sess, err := s.store.ClaimRegistration(r.Context(), req.Session, tok.Hash(), credTok[:], now)
	switch airlock.ErrorCode(err) {
	case "":
	case airlock.ENOTFOUND:
		s.log.Warn("refused agent registration", "session", req.Session)
		return errBadRegistration
	case airlock.ECONFLICT:
		return airlock.Errorf(airlock.ECONFLICT, "session %s is not starting", req.Session)
	default:
		return err
	}
	s.watch.notify(sess.ID)
	s.audit(r.Context(), "agent", "session.ready", sess.ID, "")
	writeJSON(w, http.StatusOK, registration{SessionID: sess.ID, Credential: cred, ExpiresAt: exp.Unix(), HeartbeatSeconds: heartbeatSeconds})
	return nil
}

func (s *Server) agentCredential(sessionID string, now time.Time) (string, time.Time, error) {
	exp := now.Add(agentCredentialTTL)
	cred, err := s.signer.Sign(auth.Claims{Subject: "agent", Session: sessionID, Role: "agent", Audience: agentAudience, Expires: exp.Unix()})
	return cred, exp, err
}

// agentHeartbeat records that an agent is alive and renews its credential.
// A session that is no longer ready refuses the agent for good.
func (s *Server) agentHeartbeat(w http.ResponseWriter, r *http.Request) error {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return airlock.Errorf(airlock.EUNAUTHORIZED, "agent credential required")
	}
	claims, err := s.signer.Verify(strings.TrimSpace(raw), agentAudience)
	if err != nil {
		if errors.Is(err, auth.ErrTokenExpired) {
			return airlock.Errorf(airlock.EUNAUTHORIZED, "agent credential expired")
		}
		return airlock.Errorf(airlock.EUNAUTHORIZED, "agent credential is not valid")
	}
	now := s.clock.now()
	sess, err := s.store.UpdateSession(r.Context(), claims.Session, airlock.SessionUpdate{
		From: []airlock.SessionState{airlock.SessionReady}, LastHeartbeat: &now,
	}, now)
	if code := airlock.ErrorCode(err); code == airlock.ECONFLICT || code == airlock.ENOTFOUND {
		return airlock.Errorf(airlock.EFORBIDDEN, "session %s is no longer running", claims.Session)
	} else if err != nil {
		return err
	}
	cred, exp, err := s.agentCredential(sess.ID, now)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, registration{SessionID: sess.ID, Credential: cred, ExpiresAt: exp.Unix(), HeartbeatSeconds: heartbeatSeconds})
	return nil
}
