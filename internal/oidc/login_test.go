package oidc

import (
	"errors"
	"github.com/airlock-rbi/airlock/internal/oidc/oidctest"
	"net/url"
	"slices"
	"strconv"
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
		Issuer:       h.Issuer,
		ClientID:     c.ID,
		ClientSecret: c.Secret,
		RedirectURL:  redirectURL,
		Scopes:       []string{"openid", "email", "profile", "groups"},
		RootCAs:      h.Roots,
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
func (r *rp) login(t *testing.T, b *browser, returnTo string, edit func(string) string) (Callback, *Login) {
	t.Helper()
	if b == nil {
		b = r.h.newBrowser(t)
	}
	l, err := r.p.Begin(returnTo)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	u := l.AuthURL
	if edit != nil {
		u = edit(u)
	}
	loc, err := b.Follow(t.Context(), u, redirectURL)
	if err != nil {
		t.Fatalf("the browser did not reach the callback: %v", err)
	}
	return CallbackFromQuery(loc.Query()), l
}

// finish logs in all the way and returns the result.
func (r *rp) finish(t *testing.T) (*Result, error) {
	t.Helper()
	cb, l := r.login(t, nil, "/", nil)
	return r.p.Finish(t.Context(), cb, l.Sealed)
}

func TestHydra(t *testing.T) {
	h := startHydra(t)
	t.Run("login", func(t *testing.T) { testLogin(t, h) })
	t.Run("groups", func(t *testing.T) { testGroups(t, h) })
	t.Run("access denied", func(t *testing.T) { testAccessDenied(t, h) })
	t.Run("logout", func(t *testing.T) { testLogout(t, h) })
	t.Run("discovery", func(t *testing.T) { testDiscovery(t, h) })
	t.Run("bad ID tokens", func(t *testing.T) { testBadTokens(t, h) })
	t.Run("bad states and codes", func(t *testing.T) { testBadStates(t, h) })
}

var alice = map[string]any{
	"groups": []string{"engineering", "admins", "engineering"},
	"email":  "alice@example.com", "email_verified": true,
	"name": "Alice Liddell", "preferred_username": "alice",
}

func testLogin(t *testing.T, h *hydra) {
	for _, public := range []bool{false, true} {
		name := "confidential client"
		if public {
			name = "public client with PKCE alone"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := h.newRP(t, &behaviour{Subject: "alice", Claims: alice}, public)
			if public && r.client.Secret != "" {
				t.Fatalf("a public client got a secret")
			}
			cb, l := r.login(t, nil, "/workspaces?tab=mine", nil)
			if cb.Error != "" || cb.Code == "" || cb.State != l.State {
				t.Fatalf("callback %+v, want a code and state %q", cb, l.State)
			}
			res, err := r.p.Finish(t.Context(), cb, l.Sealed)
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			want := Identity{
				Issuer: h.Issuer, Subject: "alice",
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
}

// testGroups covers the forms of the groups claim as Hydra delivers them,
// and what an absent claim means with and without RequireGroups.
func testGroups(t *testing.T, h *hydra) {
	cases := []struct {
		name    string
		claims  map[string]any
		opts    []rpOption
		want    []string
		present bool
		wantErr error
		errText string
	}{
		{name: "array", claims: map[string]any{"groups": []string{"a", "b"}}, want: []string{"a", "b"}, present: true},
		{name: "one string", claims: map[string]any{"groups": "admins"}, want: []string{"admins"}, present: true},
		{name: "empty array means no group", claims: map[string]any{"groups": []string{}}, want: []string{}, present: true},
		{name: "absent, kept", claims: map[string]any{"email": "bob@example.com"}, present: false},
		{name: "absent, strict", claims: map[string]any{"email": "bob@example.com"}, opts: []rpOption{requireGroups},
			wantErr: ErrGroupsMissing, errText: `has no "groups" claim and this provider requires one`},
		{name: "present, strict", claims: map[string]any{"groups": []string{"a"}}, opts: []rpOption{requireGroups},
			want: []string{"a"}, present: true},
		{name: "claim of another name", claims: map[string]any{"roles": []string{"r1"}, "groups": []string{"not-these"}},
			opts: []rpOption{func(c *Config) { c.GroupsClaim = "roles" }}, want: []string{"r1"}, present: true},
		{name: "a number", claims: map[string]any{"groups": 42}, wantErr: ErrClaims, errText: `claim "groups" is a number`},
		{name: "an object", claims: map[string]any{"groups": map[string]any{"a": true}}, wantErr: ErrClaims, errText: "is an object"},
		{name: "array with a number", claims: map[string]any{"groups": []any{"a", 7}}, wantErr: ErrClaims, errText: "element 1 is a number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := h.newRP(t, &behaviour{Subject: "bob", Claims: tc.claims}, false, tc.opts...)
			res, err := r.finish(t)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("Finish error %v, want %v with %q", err, tc.wantErr, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			id := res.Identity
			if id.GroupsPresent != tc.present || !slices.Equal(id.Groups, tc.want) || (tc.present && id.Groups == nil) {
				t.Fatalf("groups %q present %v, want %q present %v", id.Groups, id.GroupsPresent, tc.want, tc.present)
			}
		})
	}
}

func requireGroups(c *Config) { c.RequireGroups = true }

func testAccessDenied(t *testing.T, h *hydra) {
	t.Parallel()
	r := h.newRP(t, &behaviour{Subject: "carol", Deny: "carol may not use Airlock"}, false)
	cb, l := r.login(t, nil, "/", nil)
	if cb.Error != "access_denied" || cb.Code != "" {
		t.Fatalf("callback %+v, want error=access_denied and no code", cb)
	}
	_, err := r.p.Finish(t.Context(), cb, l.Sealed)
	var pe *ProviderError
	if !errors.Is(err, ErrAccessDenied) || !errors.Is(err, ErrProvider) || !errors.As(err, &pe) {
		t.Fatalf("Finish error %v, want a ProviderError with ErrAccessDenied", err)
	}
	if pe.Code != "access_denied" || !strings.Contains(pe.Description, "carol may not use Airlock") ||
		!strings.Contains(err.Error(), "carol may not use Airlock") {
		t.Fatalf("ProviderError %+v (%q), want the app's description", pe, err)
	}
	// The refused login spent its state as any other.
	if _, err := r.p.Finish(t.Context(), cb, l.Sealed); !errors.Is(err, ErrStateReplayed) {
		t.Fatalf("second Finish: %v, want ErrStateReplayed", err)
	}
}

// testLogout logs in, then follows LogoutURL through Hydra's logout flow
// (the app accepts it) to the post-logout redirect.
func testLogout(t *testing.T, h *hydra) {
	t.Parallel()
	r := h.newRP(t, &behaviour{Subject: "dave", Claims: alice}, false)
	b := h.newBrowser(t)
	cb, l := r.login(t, b, "/", nil)
	res, err := r.p.Finish(t.Context(), cb, l.Sealed)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	u, err := r.p.LogoutURL(res.IDToken, postLogoutURL)
	if err != nil {
		t.Fatalf("LogoutURL: %v", err)
	}
	lu, _ := url.Parse(u)
	if q := lu.Query(); q.Get("id_token_hint") != res.IDToken || q.Get("post_logout_redirect_uri") != postLogoutURL || q.Get("client_id") != r.client.ID {
		t.Fatalf("LogoutURL %s lacks a parameter", lu.Redacted())
	}
	loc, err := b.Follow(t.Context(), u, postLogoutURL)
	if err != nil {
		t.Fatalf("logout did not reach the post-logout redirect: %v", err)
	}
	if loc.Host != "airlock.test" {
		t.Fatalf("ended at %s", loc)
	}
	// Hydra's session is gone: the next login asks the app again rather
	// than skipping it, which the app sees as a fresh login (not checked
	// here); an unregistered post-logout URL is refused by Hydra.
	bad, _ := r.p.LogoutURL(res.IDToken, "https://elsewhere.test/")
	if _, err := h.newBrowser(t).Follow(t.Context(), bad, "https://elsewhere.test/"); err == nil {
		t.Fatalf("Hydra redirected to an unregistered post-logout URL")
	}
}

func testDiscovery(t *testing.T, h *hydra) {
	base := Config{ClientID: "x", RedirectURL: redirectURL, RootCAs: h.Roots}
	cases := []struct {
		name    string
		edit    func(*Config)
		wantErr error
		errText string
	}{
		{"good", func(c *Config) { c.Issuer = h.Issuer }, nil, ""},
		// Hydra's own public port serves the same document, whose issuer is
		// the front: the configured issuer is not the one it names.
		{"issuer mismatch", func(c *Config) { c.Issuer = h.Public }, ErrIssuerMismatch, `says issuer "` + h.Issuer + `", configured "` + h.Public + `"`},
		{"trailing slash is another issuer", func(c *Config) { c.Issuer = h.Issuer + "/" }, ErrIssuerMismatch, "configured"},
		{"unreachable", func(c *Config) { c.Issuer = "https://127.0.0.1:" + strconv.Itoa(oidctest.FreePort(t)) }, ErrDiscovery, "the issuer is unreachable"},
		{"untrusted certificate", func(c *Config) { c.Issuer = h.Issuer; c.RootCAs = nil }, ErrDiscovery, "certificate"},
		{"not an issuer", func(c *Config) { c.Issuer = h.Issuer + "/oauth2" }, ErrDiscovery, "404"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := base
			tc.edit(&cfg)
			_, err := New(t.Context(), cfg)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.errText) {
				t.Fatalf("New error %v, want %v with %q", err, tc.wantErr, tc.errText)
			}
		})
	}
}

func identityEqual(a, b Identity) bool {
	return a.Issuer == b.Issuer && a.Subject == b.Subject && a.Email == b.Email &&
		a.EmailVerified == b.EmailVerified && a.Name == b.Name &&
		a.PreferredUsername == b.PreferredUsername && a.GroupsPresent == b.GroupsPresent &&
		slices.Equal(a.Groups, b.Groups)
}
