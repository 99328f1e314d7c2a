package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/oidc"
	"github.com/airlock-rbi/airlock/internal/oidc/oidctest"
)

// TestSSOUserHasNoPassword: a user made by single sign-on cannot sign in
// with a password (whatever is sent, in the time a real check takes), and
// neither they nor an admin can give them one.
func TestSSOUserHasNoPassword(t *testing.T) {
	e := newEnv(t)
	u := &airlock.User{ID: newID(), Name: "carol", Role: airlock.RoleUser, SSOIssuer: "https://idp.example.com", SSOSubject: "c-1"}
	if err := e.st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"", "anything-at-all", e.srv.dummy} {
		if pw == "" {
			continue // refused as a missing field before any check
		}
		rec := e.do(req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"user": "carol", "password": pw}})
		wantError(t, rec, "unauthorized", "user name or password is wrong")
	}
	if ev := e.lastEvent("auth.login"); ev.Detail != "no password: a single sign-on user" {
		t.Errorf("refusal recorded as %q", ev.Detail)
	}
	rec := e.do(req{Method: "POST", Path: "/api/v1/users/carol/password", Bearer: e.adminTok, Body: map[string]string{"new": "a-local-password-1"}})
	wantError(t, rec, "invalid", "carol signs in with single sign-on at https://idp.example.com")

	// Carol herself, signed in (a token made here as a sign-in would).
	tok, err := auth.NewToken(auth.KindAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateAPIToken(context.Background(), &airlock.APIToken{ID: tok.ID, UserID: u.ID, Name: "t", Hash: tok.Hash(), CreatedAt: e.clk.Now()}); err != nil {
		t.Fatal(err)
	}
	rec = e.do(req{Method: "POST", Path: "/api/v1/users/me/password", Bearer: tok.String(), Body: map[string]string{"current": "x", "new": "a-local-password-1"}})
	wantError(t, rec, "invalid", "single sign-on")
	if got, err := e.st.UserByID(context.Background(), u.ID); err != nil || got.PasswordHash != "" {
		t.Fatalf("carol's password hash after: %q %v", got.PasswordHash, err)
	}
	wantStatus(t, e.do(req{Method: "GET", Path: "/api/v1/me", Bearer: tok.String()}), http.StatusOK)
}

// ssoEnv is an api with single sign-on through a real Hydra, whose login
// app signs in as *who says.
type ssoEnv struct {
	*env
	hydra *oidctest.Hydra
	who   *oidctest.Behaviour
}

const ssoRedirect = "https://airlock.test" + ssoCallbackPath

func newSSOEnv(t *testing.T) *ssoEnv {
	h := oidctest.Start(t)
	who := &oidctest.Behaviour{}
	c := h.NewClient(t, who, false, ssoRedirect, "https://airlock.test/")
	p, err := oidc.New(t.Context(), oidc.Config{Issuer: h.Issuer, ClientID: c.ID, ClientSecret: c.Secret, RedirectURL: ssoRedirect,
		Scopes: []string{"openid", "email", "profile", "groups"}, RootCAs: h.Roots})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) {
		o.SSO = &SSO{Provider: p, Name: "Test IdP", AdminGroups: []string{"airlock-admins"}, PostLogoutURL: "https://airlock.test/"}
	})
	return &ssoEnv{env: e, hydra: h, who: who}
}

// signIn walks a browser through the api's login, Hydra and back: the
// callback's answer, and the web session cookie it set (if any).
func (e *ssoEnv) signIn(t *testing.T, returnTo string) (*httptest.ResponseRecorder, string) {
	t.Helper()
	rec := e.do(req{Method: "GET", Path: ssoLoginPath + "?return_to=" + url.QueryEscape(returnTo)})
	wantStatus(t, rec, http.StatusFound)
	state := rec.Result().Cookies()
	if len(state) != 1 || !strings.HasPrefix(state[0].Name, "__Host-") || !state[0].HttpOnly || !state[0].Secure {
		t.Fatalf("login state cookie: %+v", state)
	}
	loc, err := e.hydra.NewBrowser(t).Follow(t.Context(), rec.Header().Get("Location"), ssoRedirect)
	if err != nil {
		t.Fatal(err)
	}
	cb := e.do(req{Method: "GET", Path: ssoCallbackPath + "?" + loc.RawQuery, Header: map[string]string{"Cookie": state[0].String()}})
	for _, c := range cb.Result().Cookies() {
		if c.Name == cookieName && c.Value != "" {
			return cb, c.String()
		}
	}
	return cb, ""
}

func (e *ssoEnv) me(t *testing.T, cookie string) userView {
	t.Helper()
	rec := e.do(req{Method: "GET", Path: "/api/v1/me", Header: map[string]string{"Cookie": cookie}})
	wantStatus(t, rec, http.StatusOK)
	var u userView
	mustJSON(t, rec, &u)
	return u
}

// TestSSOLogin: a first sign-in through the provider makes the user (name
// from the token, role from the groups claim), a later one finds the same
// user and follows the claim, an absent claim keeps the role, and the
// provider's refusal and a replayed callback are refused with what was
// wrong.
func TestSSOLogin(t *testing.T) {
	e := newSSOEnv(t)
	rec := e.do(req{Method: "GET", Path: "/api/v1/auth/sso"})
	var info ssoView
	mustJSON(t, rec, &info)
	if !info.Enabled || info.Name != "Test IdP" || info.Login != ssoLoginPath {
		t.Fatalf("sso info %+v", info)
	}

	// Groups that follow the provider's: devs maps "devs" and
	// "developers"; ops maps "ops"; staff is given by hand.
	for _, g := range []*airlock.Group{{ID: "g-devs", Name: "devs", IdPGroups: []string{"devs", "developers"}},
		{ID: "g-ops", Name: "ops", IdPGroups: []string{"ops"}}, {ID: "g-staff", Name: "staff"}} {
		if err := e.st.CreateGroup(t.Context(), g); err != nil {
			t.Fatal(err)
		}
	}
	groupsOf := func(name string) string {
		t.Helper()
		u, err := e.st.UserByName(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		gs, err := e.st.GroupsOfUser(t.Context(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return groupNames(gs)
	}

	*e.who = oidctest.Behaviour{Subject: "dana-42", Claims: map[string]any{"preferred_username": "Dana.K", "email": "dana@example.com", "groups": []string{"devs"}}}
	cb, cookie := e.signIn(t, "/#/sessions")
	if cb.Code != http.StatusSeeOther || cb.Header().Get("Location") != "/#/sessions" || cookie == "" {
		t.Fatalf("callback: %d %q %s", cb.Code, cb.Header().Get("Location"), cb.Body)
	}
	u := e.me(t, cookie)
	if u.Name != "dana.k" || u.Role != "user" {
		t.Fatalf("first sign-in made %+v, want dana.k, a user", u)
	}
	stored, err := e.st.UserByName(t.Context(), "dana.k")
	if err != nil || stored.SSOSubject != "dana-42" || stored.SSOIssuer != e.hydra.Issuer || stored.PasswordHash != "" {
		t.Fatalf("stored %+v %v", stored, err)
	}

	if got := groupsOf("dana.k"); got != "devs, everyone" {
		t.Fatalf("after the first sign-in dana.k is in %s; want devs (by the claim), everyone", got)
	}
	if err := e.st.AddGroupMember(t.Context(), "g-staff", stored.ID, e.clk.Now()); err != nil {
		t.Fatal(err)
	}

	// Promoted at the provider: admin at the next sign-in, same user;
	// moved from devs to ops there, and here; staff, by hand, stays.
	e.who.Claims = map[string]any{"preferred_username": "dana.renamed", "groups": []string{"ops", "airlock-admins"}}
	_, cookie = e.signIn(t, "/")
	if u2 := e.me(t, cookie); u2.ID != u.ID || u2.Name != "dana.k" || u2.Role != "admin" {
		t.Fatalf("second sign-in: %+v, want the same user, now admin", u2)
	}
	if got := groupsOf("dana.k"); got != "ops, staff, everyone" {
		t.Fatalf("after the claim moved dana.k to ops: %s; want ops, staff, everyone", got)
	}
	if ev := e.lastEvent("group.sso"); ev.Target != "dana.k" || !strings.Contains(ev.Detail, "(was devs, staff, everyone)") {
		t.Errorf("audit of the change: %+v", ev)
	}
	// No groups claim: the role and the groups stay.
	e.who.Claims = map[string]any{"preferred_username": "dana.k"}
	_, cookie = e.signIn(t, "/")
	if u3 := e.me(t, cookie); u3.Role != "admin" {
		t.Fatalf("sign-in without a groups claim: role %s, want it kept (admin)", u3.Role)
	}
	if got := groupsOf("dana.k"); got != "ops, staff, everyone" {
		t.Fatalf("after a sign-in without a groups claim: %s; want them kept", got)
	}
	// A claim naming no mapped group: none of the provider's; staff stays.
	e.who.Claims = map[string]any{"preferred_username": "dana.k", "groups": []string{"developers-not"}}
	e.signIn(t, "/")
	if got := groupsOf("dana.k"); got != "staff, everyone" {
		t.Fatalf("after a claim naming no mapped group: %s; want staff, everyone", got)
	}
	// Another account with the same preferred name gets another name.
	*e.who = oidctest.Behaviour{Subject: "dana-43", Claims: map[string]any{"preferred_username": "dana.k", "groups": []string{}}}
	_, cookie = e.signIn(t, "/")
	if u4 := e.me(t, cookie); u4.Name != "dana.k-2" || u4.ID == u.ID || u4.Role != "user" {
		t.Fatalf("a second account named dana.k: %+v", u4)
	}

	// Signing out hands the browser the provider's sign-out, with the
	// sign-in's ID token as the hint and the way back.
	rec = e.do(req{Method: "POST", Path: "/api/v1/auth/logout", Header: map[string]string{"Cookie": cookie}})
	wantStatus(t, rec, http.StatusOK)
	var out logoutView
	mustJSON(t, rec, &out)
	lu, err := url.Parse(out.LogoutURL)
	if err != nil || !strings.HasPrefix(out.LogoutURL, e.hydra.Issuer+"/") || lu.Query().Get("id_token_hint") == "" ||
		lu.Query().Get("post_logout_redirect_uri") != "https://airlock.test/" {
		t.Fatalf("logout URL %q", out.LogoutURL)
	}
	wantStatus(t, e.do(req{Method: "GET", Path: "/api/v1/me", Header: map[string]string{"Cookie": cookie}}), http.StatusUnauthorized)

	// Refused at the provider.
	*e.who = oidctest.Behaviour{Subject: "eve", Deny: "eve may not use Airlock"}
	cb, cookie = e.signIn(t, "/")
	if cb.Code != http.StatusForbidden || cookie != "" || !strings.Contains(cb.Body.String(), "eve may not use Airlock") {
		t.Fatalf("denied at the provider: %d %q %s", cb.Code, cookie, cb.Body)
	}
	if ev := e.lastEvent("auth.login"); ev.Outcome != "failure" || ev.Target != "single sign-on" {
		t.Fatalf("refusal recorded as %+v", ev)
	}

	// A callback used twice.
	*e.who = oidctest.Behaviour{Subject: "dana-42", Claims: map[string]any{"preferred_username": "dana.k"}}
	rec = e.do(req{Method: "GET", Path: ssoLoginPath})
	state := rec.Result().Cookies()[0]
	loc, err := e.hydra.NewBrowser(t).Follow(t.Context(), rec.Header().Get("Location"), ssoRedirect)
	if err != nil {
		t.Fatal(err)
	}
	first := e.do(req{Method: "GET", Path: ssoCallbackPath + "?" + loc.RawQuery, Header: map[string]string{"Cookie": state.String()}})
	again := e.do(req{Method: "GET", Path: ssoCallbackPath + "?" + loc.RawQuery, Header: map[string]string{"Cookie": state.String()}})
	if first.Code != http.StatusSeeOther || again.Code != http.StatusBadRequest || !strings.Contains(again.Body.String(), "already used") {
		t.Fatalf("replayed callback: first %d, again %d %s", first.Code, again.Code, again.Body)
	}
	// A return path that leaves the site.
	wantError(t, e.do(req{Method: "GET", Path: ssoLoginPath + "?return_to=" + url.QueryEscape("//evil.example/")}), "invalid", "return_to")
}

func TestSSONotConfigured(t *testing.T) {
	e := newEnv(t)
	var info ssoView
	mustJSON(t, e.do(req{Method: "GET", Path: "/api/v1/auth/sso"}), &info)
	if info.Enabled {
		t.Fatal("sso enabled without a provider")
	}
	wantError(t, e.do(req{Method: "GET", Path: ssoLoginPath}), "not_found", "single sign-on is not configured")
}

func TestSSONames(t *testing.T) {
	for _, tc := range []struct {
		pref, email string
		first       []string
	}{
		{"Dana.K", "", []string{"dana.k"}},
		{"", "Fred Smith@example.com", []string{"fred-smith"}},
		{"me", "me@example.com", nil},
		{"ÉLODIE", "elodie@example.com", []string{"elodie", "lodie"}},
		{"Dana.K", "dana.k@example.com", []string{"dana.k", "dana.k-2"}},
		{"", "", nil},
	} {
		names := ssoNames(oidc.Identity{Issuer: "i", Subject: "s", PreferredUsername: tc.pref, Email: tc.email})
		for i, want := range tc.first {
			if names[i] != want {
				t.Errorf("%q/%q: names %v, want %v first", tc.pref, tc.email, names, tc.first)
			}
		}
		last := names[len(names)-1]
		if !strings.HasPrefix(last, "sso-") || airlock.ValidName("user", last) != nil {
			t.Errorf("%q/%q: last resort %q", tc.pref, tc.email, last)
		}
		for _, n := range names {
			if airlock.ValidName("user", n) != nil {
				t.Errorf("invalid name %q offered", n)
			}
		}
	}
}
