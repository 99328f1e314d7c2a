package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
)

// passwordChange is a user's change of their own password.
type passwordChange struct {
	Current string `json:"current"`
	New     string `json:"new"`
}

// passwordReset is an admin's reset of someone's password.
type passwordReset struct {
	New string `json:"new"`
}

// passwordSet is the answer to both: how many web sessions were signed
// out.
type passwordSet struct {
	WebSessionsEnded int `json:"web_sessions_ended"`
}

// changePassword sets the caller's password, given the current one: a
// stolen session alone cannot lock its owner out. The caller's other web
// sessions end; the one making the change, and API tokens, stay.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) error {
	var req passwordChange
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Current == "" || req.New == "" {
		return airlock.Errorf(airlock.EINVALID, "current and new are required")
	}
	ctx := r.Context()
	c := callerOf(ctx)
	if err := ssoHasNoPassword(c.User); err != nil {
		return err
	}
	// The current password is guessed here as at sign-in (by whoever holds
	// a stolen session), so it is throttled and hashed the same way.
	attempt, refused := s.guesses.Begin(clientAddr(r), c.User.Name)
	if refused != nil {
		return throttled(w, refused)
	}
	ok, err := s.hasher.Verify(ctx, auth.Urgent, req.Current, c.User.PasswordHash)
	if errors.Is(err, auth.ErrHashBusy) {
		attempt.Abandon()
		return s.hashBusy(w, err)
	}
	if err != nil {
		attempt.Abandon()
		return fmt.Errorf("verify the password of %s: %w", c.User.Name, err)
	}
	if !ok {
		attempt.Failed()
		s.record(ctx, &airlock.AuditEvent{Actor: c.User.Name, Action: "user.password.change", Target: c.User.Name,
			Outcome: airlock.OutcomeFailure, Detail: "wrong current password"})
		// 403, not 401: the caller is signed in, and a client that signs
		// out on 401 would lose the session for a typo.
		return airlock.Errorf(airlock.EFORBIDDEN, "the current password is wrong")
	}
	attempt.Succeeded()
	if req.New == req.Current {
		return airlock.Errorf(airlock.EINVALID, "the new password is the same as the current one")
	}
	ended, err := s.setPassword(ctx, c.User, req.New, keptSession(c, c.User))
	if err != nil {
		return s.hashBusy(w, err)
	}
	s.audit(ctx, c.User.Name, "user.password.change", c.User.Name, fmt.Sprintf("%d other web sessions ended", ended))
	writeJSON(w, http.StatusOK, passwordSet{WebSessionsEnded: ended})
	return nil
}

// resetPassword is an admin setting a user's password without the
// current one; every web session of that user ends (but the admin's own,
// when they reset themselves from the portal).
func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) error {
	var req passwordReset
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.New == "" {
		return airlock.Errorf(airlock.EINVALID, "new is required")
	}
	ctx := r.Context()
	u, err := s.store.UserByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	c := callerOf(ctx)
	ended, err := s.setPassword(ctx, u, req.New, keptSession(c, u))
	if err != nil {
		return s.hashBusy(w, err)
	}
	s.audit(ctx, c.User.Name, "user.password.reset", u.Name, fmt.Sprintf("%d web sessions ended", ended))
	writeJSON(w, http.StatusOK, passwordSet{WebSessionsEnded: ended})
	return nil
}

// keptSession is the web session that survives a new password for u: the
// caller's own, if they are u and signed in by cookie.
func keptSession(c *caller, u *airlock.User) string {
	if c.Web && c.User.ID == u.ID {
		return c.TokenID
	}
	return ""
}

// setPassword hashes password under the policy of user creation and
// stores it, ending u's web sessions but keep.
func (s *Server) setPassword(ctx context.Context, u *airlock.User, password, keep string) (int, error) {
	if err := ssoHasNoPassword(u); err != nil {
		return 0, err
	}
	hash, err := s.hashPassword(ctx, password)
	if errors.Is(err, auth.ErrWeakPassword) {
		return 0, airlock.Errorf(airlock.EINVALID, "new password: %v", err)
	}
	if errors.Is(err, auth.ErrHashBusy) {
		return 0, s.hashBusy(nil, err)
	}
	if err != nil {
		return 0, fmt.Errorf("hash the password of %s: %w", u.Name, err)
	}
	ended, err := s.store.SetPassword(ctx, u.ID, hash, keep, s.clock.now())
	if err != nil {
		return 0, fmt.Errorf("set the password of %s: %w", u.Name, err)
	}
	// The cached record has the old hash; and what the ended sign-ins
	// hold must not outlive them: the relay closes the viewers they
	// connected (a stolen session's among them) at once.
	s.authCache.dropUser(u.ID)
	for _, id := range ended {
		s.revoker.RevokeGrant(id)
	}
	return len(ended), nil
}

// ssoHasNoPassword refuses a password for a user made by single sign-on:
// they sign in at their identity provider, and a local password would be
// a second way in that the provider's policies (MFA, offboarding) do not
// govern.
func ssoHasNoPassword(u *airlock.User) error {
	if u.SSOIssuer == "" {
		return nil
	}
	return airlock.Errorf(airlock.EINVALID, "%s signs in with single sign-on at %s: their password is kept there, not by Airlock", u.Name, u.SSOIssuer)
}
