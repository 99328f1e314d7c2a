package api

import (
	"context"
	"net/http"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
)

type tokenView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	// Token is the secret, shown once at creation.
	Token string `json:"token,omitempty"`
}

func viewToken(t *airlock.APIToken) tokenView {
	return tokenView{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.store.ListAPITokens(r.Context(), callerOf(r.Context()).User.ID)
	if err != nil {
		return err
	}
	out := make([]tokenView, 0, len(ts))
	for _, t := range ts {
		out = append(out, viewToken(t))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type createTokenRequest struct {
	Name string `json:"name"`
	// TTL is a Go duration ("720h"); empty means no expiry.
	TTL string `json:"ttl,omitempty"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req createTokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := airlock.ValidName("token", req.Name); err != nil {
		return err
	}
	var expires *time.Time
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 || d > 366*24*time.Hour {
			return airlock.Errorf(airlock.EINVALID, "ttl %q must be a duration such as 720h, at most a year", req.TTL)
		}
		t := s.clock.now().Add(d)
		expires = &t
	}
	secret, err := s.issueAPIToken(r.Context(), callerOf(r.Context()).User, req.Name, expires)
	if err != nil {
		return err
	}
	tok, _ := auth.ParseToken(secret)
	stored, err := s.store.APITokenByID(r.Context(), tok.ID)
	if err != nil {
		return err
	}
	v := viewToken(stored)
	v.Token = secret
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// issueAPIToken stores a new token for u and returns its secret form.
func (s *Server) issueAPIToken(ctx context.Context, u *airlock.User, name string, expires *time.Time) (string, error) {
	tok, err := auth.NewToken(auth.KindAPI)
	if err != nil {
		return "", err
	}
	t := &airlock.APIToken{ID: tok.ID, UserID: u.ID, Name: name, Hash: tok.Hash(), CreatedAt: s.clock.now(), ExpiresAt: expires}
	if err := s.store.CreateAPIToken(ctx, t); err != nil {
		return "", err
	}
	detail := name
	if expires != nil {
		detail += " expires " + expires.Format(time.RFC3339)
	}
	s.audit(ctx, u.Name, "token.create", t.ID, detail)
	return tok.String(), nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	t, err := s.store.APITokenByID(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	c := callerOf(ctx)
	if t.UserID != c.User.ID && c.User.Role != airlock.RoleAdmin {
		// The store's own words for a missing token: no existence oracle.
		return airlock.Errorf(airlock.ENOTFOUND, "API token %q not found", t.ID)
	}
	if err := s.store.RevokeAPIToken(ctx, t.ID, s.clock.now()); err != nil {
		return err
	}
	s.revoker.RevokeGrant(t.ID)
	s.audit(ctx, c.User.Name, "token.revoke", t.ID, t.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
