package api

import (
	"context"
	"net/http"
	"testing"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
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
