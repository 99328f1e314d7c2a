package portal_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/airlock-rbi/airlock/internal/infra"
	"github.com/airlock-rbi/airlock/internal/oidc/oidctest"
)

// TestSSOSignIn: with single sign-on on, the sign-in page offers "Sign in
// with …"; reached with the keyboard and followed, it goes through a real
// Hydra (whose login app signs in sam, in the provider's admin group) and
// back to the portal, signed in as a user the server made, an admin.
func TestSSOSignIn(t *testing.T) {
	h := oidctest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	public := "https://" + addr
	c := h.NewClient(t, &oidctest.Behaviour{Subject: "sam-7", Claims: map[string]any{
		"preferred_username": "sam", "email": "sam@example.com", "groups": []string{"staff", "airlock-admins"}}},
		false, public+"/api/v1/auth/sso/callback", public+"/")
	dir := t.TempDir()
	secret, ca := filepath.Join(dir, "secret"), filepath.Join(dir, "idp-ca.pem")
	if err := os.WriteFile(secret, []byte(c.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, h.RootPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServerWith(t, addr, func(cfg *infra.Config) {
		cfg.SSO = infra.SSOConfig{Issuer: h.Issuer, ClientID: c.ID, ClientSecretFile: secret, PublicURL: public,
			Name: "Test IdP", CAFile: ca, AdminGroups: []string{"airlock-admins"}}
	})
	// The provider is discovered in the background.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var info struct{ Enabled bool }
		if err := s.call("", "GET", "/auth/sso", nil, &info); err == nil && info.Enabled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("single sign-on did not come on within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}

	p := s.openBrowser()
	p.run(chromedp.Navigate(s.base + "/"))
	p.waitFor(`window.airlockStarted === true && !document.getElementById('view-login').hidden && !document.getElementById('login-sso').hidden`)
	if got := p.textOf("#login-sso-link"); got != "Sign in with Test IdP" {
		t.Fatalf("the single sign-on link says %q", got)
	}
	p.tabTo("#login-sso-link")
	p.keys(kb.Enter)
	p.waitFor(`location.origin === ` + fmt.Sprintf("%q", s.base) + ` && window.airlockStarted === true && !document.getElementById('view-home').hidden`)
	if got := p.textOf("#me-name"); got != "sam" {
		t.Fatalf("signed in as %q, want sam\npage shows: %s", got, p.text())
	}
	var users []struct{ Name, Role string }
	s.must("GET", "/users", nil, &users)
	found := false
	for _, u := range users {
		if u.Name == "sam" {
			found = true
			if u.Role != "admin" {
				t.Errorf("sam's role %s, want admin by the provider's group", u.Role)
			}
		}
	}
	if !found {
		t.Fatalf("no user sam after the sign-in: %+v", users)
	}
	var events struct {
		Events []struct{ Actor, Action, Detail string }
	}
	s.must("GET", "/audit?action=auth.login&actor=sam", nil, &events)
	if len(events.Events) != 1 {
		t.Fatalf("sign-in audited as %+v", events.Events)
	}

	// Signing out signs out at the provider too, and comes back here.
	p.tabTo("#logout")
	p.keys(kb.Enter)
	p.waitFor(`location.origin === ` + fmt.Sprintf("%q", s.base) + ` && window.airlockStarted === true && !document.getElementById('view-login').hidden`)
}
