package oidc

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestConfig(t *testing.T) {
	good := Config{Issuer: "https://idp.test", ClientID: "airlock", RedirectURL: "https://airlock.test/cb"}
	c, err := good.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Scopes, " ") != "openid email profile" || c.GroupsClaim != "groups" || c.StateTTL != DefaultStateTTL ||
		len(c.StateKey) != StateKeySize || c.Spent == nil || c.Now == nil || c.HTTPClient == nil || c.HTTPClient.Timeout == 0 {
		t.Fatalf("defaults not filled: %+v", c)
	}
	withScopes := good
	withScopes.Scopes = []string{"email", "groups"}
	if c, _ := withScopes.withDefaults(); strings.Join(c.Scopes, " ") != "openid email groups" {
		t.Fatalf("openid not added: %q", c.Scopes)
	}

	cases := []struct {
		name    string
		edit    func(*Config)
		errText string
	}{
		{"no issuer", func(c *Config) { c.Issuer = "" }, "Issuer is empty"},
		{"issuer not a URL", func(c *Config) { c.Issuer = "idp.test" }, "not an http(s) URL"},
		{"issuer with a query", func(c *Config) { c.Issuer = "https://idp.test/?x=1" }, "query or fragment"},
		{"no client", func(c *Config) { c.ClientID = "" }, "ClientID is empty"},
		{"no redirect", func(c *Config) { c.RedirectURL = "" }, "RedirectURL"},
		{"relative redirect", func(c *Config) { c.RedirectURL = "/cb" }, "not an absolute http(s) URL"},
		{"short key", func(c *Config) { c.StateKey = make([]byte, 16) }, "StateKey has 16 bytes, want 32"},
		{"negative TTL", func(c *Config) { c.StateTTL = -1 }, "negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			_, err := cfg.withDefaults()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.errText) {
				t.Fatalf("error %v, want ErrConfig with %q", err, tc.errText)
			}
		})
	}
}

func TestParseDiscovery(t *testing.T) {
	const iss = "https://idp.test"
	doc := func(extra string) string {
		return `{"issuer":"https://idp.test","authorization_endpoint":"https://idp.test/auth",` +
			`"token_endpoint":"https://idp.test/token","jwks_uri":"https://idp.test/jwks"` + extra + `}`
	}
	cases := []struct {
		name    string
		body    string
		wantErr error
		errText string
	}{
		{"ok/minimal", doc(""), nil, ""},
		{"ok/S256 offered", doc(`,"code_challenge_methods_supported":["plain","S256"]`), nil, ""},
		{"fail/not JSON", "<html>", ErrDiscovery, "not a discovery document"},
		{"fail/another issuer", strings.Replace(doc(""), `"issuer":"https://idp.test"`, `"issuer":"https://idp.test/"`, 1), ErrIssuerMismatch, `says issuer "https://idp.test/", configured "https://idp.test"`},
		{"fail/no token endpoint", strings.Replace(doc(""), `"token_endpoint":"https://idp.test/token",`, "", 1), ErrDiscovery, "has no token_endpoint"},
		{"fail/relative jwks", strings.Replace(doc(""), `"https://idp.test/jwks"`, `"/jwks"`, 1), ErrDiscovery, `jwks_uri "/jwks" is not an absolute`},
		{"fail/no S256", doc(`,"code_challenge_methods_supported":["plain"]`), ErrDiscovery, "but not S256"},
		{"fail/wrong type", doc(`,"end_session_endpoint":7`), ErrDiscovery, "not a discovery document"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := parseDiscovery([]byte(tc.body), iss, "the document")
			if tc.wantErr == nil {
				if err != nil || d.Issuer != iss {
					t.Fatalf("parseDiscovery = %+v, %v", d, err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.errText) || d != nil {
				t.Fatalf("error %v, want %v with %q", err, tc.wantErr, tc.errText)
			}
		})
	}
}

func TestLogoutURL(t *testing.T) {
	p := &Provider{cfg: Config{Issuer: "https://idp.test", ClientID: "airlock"}, disc: &discovery{}}
	if _, err := p.LogoutURL("tok", "https://airlock.test/"); !errors.Is(err, ErrNoLogout) || !strings.Contains(err.Error(), "no end_session_endpoint") {
		t.Fatalf("no endpoint: %v, want ErrNoLogout", err)
	}
	p.disc.EndSessionEndpoint = "https://idp.test/logout?ui=1"
	got, err := p.LogoutURL("tok", "https://airlock.test/bye")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(got)
	q := u.Query()
	if u.Host != "idp.test" || u.Path != "/logout" || q.Get("ui") != "1" || q.Get("id_token_hint") != "tok" ||
		q.Get("post_logout_redirect_uri") != "https://airlock.test/bye" || q.Get("client_id") != "airlock" {
		t.Fatalf("LogoutURL = %s", got)
	}
	got, _ = p.LogoutURL("", "")
	if q, _ := url.ParseQuery(strings.SplitN(got, "?", 2)[1]); q.Has("id_token_hint") || q.Has("post_logout_redirect_uri") {
		t.Fatalf("empty arguments not left out: %s", got)
	}
	if _, err := p.LogoutURL("tok", "/bye"); err == nil || !strings.Contains(err.Error(), "not an absolute") {
		t.Fatalf("relative post-logout redirect: %v", err)
	}
}

func TestStateCookie(t *testing.T) {
	l := &Login{State: "abc_-1", Sealed: "v1.sealed", maxAge: 600}
	c := l.Cookie()
	if c.Name != "__Host-airlock-oidc-abc_-1" || c.Value != "v1.sealed" || c.Path != "/" || c.Domain != "" ||
		!c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.MaxAge != 600 {
		t.Fatalf("cookie %+v", c)
	}
	if err := c.Valid(); err != nil {
		t.Fatalf("cookie not valid: %v", err)
	}
	r := httptest.NewRequest("GET", "/cb?state=abc_-1", nil)
	r.AddCookie(c)
	r.AddCookie(&http.Cookie{Name: StateCookieName("other"), Value: "v1.other"})
	if got := KeptState(r, "abc_-1"); got != "v1.sealed" {
		t.Fatalf("KeptState = %q", got)
	}
	if got := KeptState(r, "nope"); got != "" {
		t.Fatalf("KeptState of an unknown state = %q", got)
	}
	if got := KeptState(r, ""); got != "" {
		t.Fatalf("KeptState of no state = %q", got)
	}
	if d := ClearStateCookie("abc_-1"); d.Name != c.Name || d.MaxAge >= 0 || d.Path != "/" || !d.Secure {
		t.Fatalf("clear cookie %+v", d)
	}
}
