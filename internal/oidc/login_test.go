package oidc

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a Provider's Now, movable by the test.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time            { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration)   { c.offset.Add(int64(d)) }
func (c *clock) setOffset(d time.Duration) { c.offset.Store(int64(d)) }

var _ = (*clock).setOffset

// rp is a relying party under test: a Hydra client and its Provider.
type rp struct {
	h      *hydra
	client hydraClient
	p      *Provider
	clock  *clock
}

// rpOption edits the Config of a new rp.
type rpOption func(*Config)

func (h *hydra) newRP(t *testing.T, b *behaviour, public bool, opts ...rpOption) *rp {
	t.Helper()
	c := h.newClient(t, b, public)
	r := &rp{h: h, client: c, clock: &clock{}}
	cfg := Config{
		Issuer:       h.issuer,
		ClientID:     c.ID,
		ClientSecret: c.Secret,
		RedirectURL:  redirectURL,
		Scopes:       []string{"openid", "email", "profile", "groups"},
		RootCAs:      h.roots,
		Now:          r.clock.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r.p = p
	return r
}

// login begins a login and walks a fresh browser through Hydra and the app
// to the callback. edit, when set, changes the authorization URL first.
func (r *rp) login(t *testing.T, returnTo string, edit func(string) string) (Callback, *Login) {
	t.Helper()
	l, err := r.p.Begin(returnTo)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	u := l.AuthURL
	if edit != nil {
		u = edit(u)
	}
	loc, err := r.h.newBrowser(t).follow(t.Context(), u, redirectURL)
	if err != nil {
		t.Fatalf("the browser did not reach the callback: %v", err)
	}
	return CallbackFromQuery(loc.Query()), l
}

// finish logs in all the way and returns the result.
func (r *rp) finish(t *testing.T) (*Result, error) {
	t.Helper()
	cb, l := r.login(t, "/", nil)
	return r.p.Finish(t.Context(), cb, l.Sealed)
}

func TestHydra(t *testing.T) {
	h := startHydra(t)

	t.Run("login with groups", func(t *testing.T) {
		t.Parallel()
		r := h.newRP(t, &behaviour{subject: "alice", claims: map[string]any{
			"groups": []string{"engineering", "admins", "engineering"},
			"email":  "alice@example.com", "email_verified": true,
			"name": "Alice Liddell", "preferred_username": "alice",
		}}, false)
		cb, l := r.login(t, "/workspaces?tab=mine", nil)
		if cb.Error != "" || cb.Code == "" || cb.State != l.State {
			t.Fatalf("callback %+v, want a code and state %q", cb, l.State)
		}
		res, err := r.p.Finish(t.Context(), cb, l.Sealed)
		if err != nil {
			t.Fatalf("Finish: %v", err)
		}
		want := Identity{
			Issuer: h.issuer, Subject: "alice",
			Email: "alice@example.com", EmailVerified: true,
			Name: "Alice Liddell", PreferredUsername: "alice",
			Groups: []string{"engineering", "admins"}, GroupsPresent: true,
		}
		if !identityEqual(res.Identity, want) {
			t.Fatalf("identity\n got %+v\nwant %+v", res.Identity, want)
		}
		if res.ReturnTo != "/workspaces?tab=mine" {
			t.Errorf("ReturnTo = %q", res.ReturnTo)
		}
		if res.IDToken == "" || !res.Expiry.After(time.Now()) {
			t.Errorf("IDToken %d bytes, Expiry %s", len(res.IDToken), res.Expiry)
		}
	})
}

func identityEqual(a, b Identity) bool {
	return a.Issuer == b.Issuer && a.Subject == b.Subject && a.Email == b.Email &&
		a.EmailVerified == b.EmailVerified && a.Name == b.Name &&
		a.PreferredUsername == b.PreferredUsername && a.GroupsPresent == b.GroupsPresent &&
		slices.Equal(a.Groups, b.Groups)
}

var (
	_ = context.Background
	_ = errors.Is
	_ = strings.Contains
)
