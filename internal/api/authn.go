package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
)

// cookieName holds a browser's web session token. The __Host- prefix
// makes browsers accept it only when set Secure, with Path=/ and no
// Domain: a sibling subdomain, or a plain-http answer on the same host,
// cannot plant or overwrite it (session fixation).
const cookieName = "__Host-airlock_session"

// caller is who made a request: a request fact, carried in the context.
type caller struct {
	User *airlock.User
	// TokenID is the API token or web session used.
	TokenID string
	Web     bool
}

type callerKey struct{}

func callerOf(ctx context.Context) *caller {
	c, _ := ctx.Value(callerKey{}).(*caller)
	return c
}

// timeLastUsedGranularity: a token's last use is written at most this
// often, so a busy CLI does not turn every read into a write. It is
// informational; failing to record it does not fail the request.
const timeLastUsedGranularity = time.Minute

var errUnauthenticated = airlock.Errorf(airlock.EUNAUTHORIZED, "sign in or send a valid API token (Authorization: Bearer alk_…)")

// authed runs h for a signed-in caller.
func (s *Server) authed(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.callerFrom(r)
		if err != nil {
			return err
		}
		if c == nil {
			if c, err = s.authenticate(r); err != nil {
				return err
			}
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
	}
}

// admin runs h for a signed-in admin.
func (s *Server) admin(h handlerFunc) handlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request) error {
		if callerOf(r.Context()).User.Role != airlock.RoleAdmin {
			return airlock.Errorf(airlock.EFORBIDDEN, "this needs the admin role")
		}
		return h(w, r)
	})
}

func (s *Server) authenticate(r *http.Request) (*caller, error) {
	ctx := r.Context()
	now := s.clock.now()
	if h := r.Header.Get("Authorization"); h != "" {
		raw, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil, airlock.Errorf(airlock.EUNAUTHORIZED, "the Authorization header must be \"Bearer <token>\"")
		}
		tok, err := auth.ParseToken(strings.TrimSpace(raw))
		if err != nil || tok.Kind != auth.KindAPI {
			return nil, errUnauthenticated
		}
		// A cached token whose last use is due to be written goes the
		// store's way once, which writes it and records the use.
		if c, touch := s.authCache.get(tok, now); c != nil && !touch {
			return c, nil
		}
		t, err := s.store.APITokenByID(ctx, tok.ID)
		if airlock.ErrorCode(err) == airlock.ENOTFOUND {
			return nil, errUnauthenticated
		}
		if err != nil {
			return nil, err
		}
		if !auth.VerifyTokenHash(tok, t.Hash) || !t.Active(now) {
			return nil, errUnauthenticated
		}
		u, err := s.store.UserByID(ctx, t.UserID)
		if err != nil {
			return nil, errUnauthenticated
		}
		if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > timeLastUsedGranularity {
			if err := s.store.TouchAPIToken(ctx, t.ID, now); err != nil {
				s.log.Warn("record token use", "token", t.ID, "err", err)
			}
			s.tokenUsed(ctx, t, u, now)
		}
		c := &caller{User: u, TokenID: t.ID}
		s.authCache.put(tok, c, t.ExpiresAt, now)
		return c, nil
	}
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return nil, errUnauthenticated
	}
	tok, err := auth.ParseToken(ck.Value)
	if err != nil || tok.Kind != auth.KindWeb {
		return nil, errUnauthenticated
	}
	if c, _ := s.authCache.get(tok, now); c != nil {
		return c, nil
	}
	ws, err := s.store.WebSessionByID(ctx, tok.ID)
	if airlock.ErrorCode(err) == airlock.ENOTFOUND {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	if !auth.VerifyTokenHash(tok, ws.Hash) || !now.Before(ws.ExpiresAt) {
		return nil, errUnauthenticated
	}
	u, err := s.store.UserByID(ctx, ws.UserID)
	if err != nil {
		return nil, errUnauthenticated
	}
	c := &caller{User: u, TokenID: ws.ID, Web: true}
	s.authCache.put(tok, c, &ws.ExpiresAt, now)
	return c, nil
}
