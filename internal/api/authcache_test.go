package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/auth"
)

// TestAuthCache: a credential verified once is served from the cache,
// but never for a wrong secret, and never past a revocation made here, a
// password change, its expiry, or (for one made behind the api's back,
// e.g. by another api process) the cache's lifetime.
func TestAuthCache(t *testing.T) {
	me := func(e *env, tok string) int {
		return e.do(req{Method: "GET", Path: "/api/v1/me", Bearer: tok}).Code
	}
	t.Run("wrong secret with a cached ID", func(t *testing.T) {
		e := newEnv(t)
		if c := me(e, e.userTok); c != 200 {
			t.Fatalf("me: %d", c)
		}
		tok, err := auth.ParseToken(e.userTok)
		if err != nil {
			t.Fatal(err)
		}
		tok.Secret = strings.Repeat("a", len(tok.Secret))
		if c := me(e, tok.String()); c != http.StatusUnauthorized {
			t.Fatalf("the cached ID with another secret: %d, want 401", c)
		}
	})
	t.Run("revoked by the api", func(t *testing.T) {
		e := newEnv(t)
		me(e, e.userTok)
		wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/auth/logout", Bearer: e.userTok}), http.StatusNoContent)
		if c := me(e, e.userTok); c != http.StatusUnauthorized {
			t.Fatalf("after sign-out: %d, want 401 at once", c)
		}
	})
	t.Run("user deleted", func(t *testing.T) {
		e := newEnv(t)
		_, bobTok := e.addUser("bob", 0)
		me(e, bobTok)
		wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/users/bob", Bearer: e.adminTok}), http.StatusNoContent)
		if c := me(e, bobTok); c != http.StatusUnauthorized {
			t.Fatalf("after the user's deletion: %d, want 401 at once", c)
		}
	})
	t.Run("password changed", func(t *testing.T) {
		e := newEnv(t)
		me(e, e.userTok)
		rec := e.do(req{Method: "POST", Path: "/api/v1/users/me/password", Bearer: e.userTok,
			Body: map[string]string{"current": userPassword, "new": "another-password-2"}})
		wantStatus(t, rec, http.StatusOK)
		// The old password must no longer be what the next change checks.
		rec = e.do(req{Method: "POST", Path: "/api/v1/users/me/password", Bearer: e.userTok,
			Body: map[string]string{"current": userPassword, "new": "third-password-3"}})
		if rec.Code == http.StatusOK {
			t.Fatalf("a second change with the old password went through: the cached record kept the old hash")
		}
	})
	t.Run("revoked behind the api's back", func(t *testing.T) {
		e := newEnv(t)
		me(e, e.userTok)
		tok, _ := auth.ParseToken(e.userTok)
		if err := e.st.RevokeAPIToken(context.Background(), tok.ID, e.clk.Now()); err != nil {
			t.Fatal(err)
		}
		if c := me(e, e.userTok); c != 200 {
			t.Fatalf("within the cache's lifetime: %d, want 200 (the cache does not know)", c)
		}
		e.clk.Advance(6 * time.Second)
		if c := me(e, e.userTok); c != http.StatusUnauthorized {
			t.Fatalf("past the cache's lifetime: %d, want 401", c)
		}
	})
	t.Run("off", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.AuthCacheTTL = -1 })
		me(e, e.userTok)
		tok, _ := auth.ParseToken(e.userTok)
		if err := e.st.RevokeAPIToken(context.Background(), tok.ID, e.clk.Now()); err != nil {
			t.Fatal(err)
		}
		if c := me(e, e.userTok); c != http.StatusUnauthorized {
			t.Fatalf("cache off: %d, want 401 at once", c)
		}
	})
}
