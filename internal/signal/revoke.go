package signal

import (
	"time"
)

// revokedMemory is how long a revocation is remembered to refuse new
// connections: longer than any connect token lives (the api's are good
// for 5 minutes), so every token minted before the revocation has expired
// by the time it is forgotten.
const revokedMemory = 15 * time.Minute

// What a revocation names.
type revokeKind uint8

const (
	revokeSession revokeKind = iota + 1 // both peers of a session
	revokeUser                          // the viewers of a user
	revokeGrant                         // the viewers of one sign-in
)

type revocation struct {
	kind revokeKind
	id   string
}

// revoked is when a revocation was made and until when it is kept.
type revoked struct {
	at, until time.Time
}

func (r revocation) reason() string {
	switch r.kind {
	case revokeSession:
		return "revoked: the session ended"
	case revokeUser:
		return "revoked: the user was deleted"
	}
	return "revoked: signed out"
}

// matches reports whether a peer with these claims is revoked by r.
func (r revocation) matches(role, session, subject, grant string) bool {
	switch r.kind {
	case revokeSession:
		return session == r.id
	case revokeUser:
		return role == RoleViewer && subject == r.id
	case revokeGrant:
		return grant == r.id
	}
	return false
}

// RevokeSession closes both peers of session id at once with 4403 and
// refuses the tokens minted until now: the session has ended, or was
// suspended. A token minted later (in a later second: tokens carry their
// issue time to the second) is for the session resumed, as the api
// mints none for a session that is not running.
func (s *Server) RevokeSession(id string) { s.revoke(revocation{revokeSession, id}) }

// RevokeUser closes every viewer of user id with 4403 and refuses the
// user's tokens: the user was deleted.
func (s *Server) RevokeUser(id string) { s.revoke(revocation{revokeUser, id}) }

// RevokeGrant closes every viewer whose token was minted under the sign-in
// id (a web session or API token) with 4403 and refuses such tokens: the
// user signed out or the token was revoked.
func (s *Server) RevokeGrant(id string) { s.revoke(revocation{revokeGrant, id}) }

func (s *Server) revoke(r revocation) {
	if r.id == "" {
		return // an empty ID would match every token that lacks the claim
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.revoked {
		if !now.Before(v.until) {
			delete(s.revoked, k)
		}
	}
	s.revoked[r] = revoked{at: now, until: now.Add(revokedMemory)}
	for _, pr := range s.sessions {
		for _, p := range []*peer{pr.viewer, pr.agent} {
			if p != nil && r.matches(p.role, p.session, p.subject, p.grant) {
				p.requestClose(closeRevoked, r.reason())
			}
		}
	}
	s.log.Info("signal: revoked", "kind", r.kind, "id", r.id)
}

// revokedLocked returns the revocation that refuses a peer with these
// claims (its token issued at issued, Unix seconds), if any. s.mu must
// be held.
func (s *Server) revokedLocked(role, session, subject, grant string, issued int64) (revocation, bool) {
	now := time.Now()
	candidates := []revocation{{revokeSession, session}}
	if role == RoleViewer {
		candidates = append(candidates, revocation{revokeUser, subject})
	}
	if grant != "" {
		candidates = append(candidates, revocation{revokeGrant, grant})
	}
	for _, r := range candidates {
		v, ok := s.revoked[r]
		if !ok || !now.Before(v.until) {
			continue
		}
		if r.kind == revokeSession && issued > v.at.Unix() {
			continue // minted for the session resumed
		}
		return r, true
	}
	return revocation{}, false
}
