package api

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/auth"
)

func TestCreateToken(t *testing.T) {
	e := newEnv(t)
	var secrets []string
	for _, tc := range []struct {
		name   string
		bearer string // "" is the user's
		body   any
		code   string
		msg    []string
		ttl    time.Duration
	}{
		{name: "ok/no-expiry", body: map[string]string{"name": "ci"}},
		{name: "ok/ttl", body: map[string]string{"name": "month", "ttl": "720h"}, ttl: 720 * time.Hour},
		{name: "ok/ttl-minutes", body: map[string]string{"name": "short", "ttl": "90m"}, ttl: 90 * time.Minute},
		{name: "ok/ttl-one-year", body: map[string]string{"name": "year", "ttl": "8784h"}, ttl: 366 * 24 * time.Hour},
		{name: "ok/same-name-twice", body: map[string]string{"name": "ci"}},
		{name: "ok/admin", bearer: "admin", body: map[string]string{"name": "ops"}},
		{name: "fail/anonymous", bearer: "-", body: map[string]string{"name": "x"}, code: "unauthorized"},
		{name: "fail/name-empty", body: map[string]string{"name": ""}, code: "invalid", msg: []string{"token name"}},
		{name: "fail/name-missing", body: map[string]string{}, code: "invalid", msg: []string{"token name"}},
		{name: "fail/name-spaces", body: map[string]string{"name": "my laptop"}, code: "invalid", msg: []string{`token name "my laptop"`}},
		{name: "fail/name-long", body: map[string]string{"name": strings.Repeat("t", 64)}, code: "invalid", msg: []string{"token name"}},
		{name: "fail/ttl-too-long", body: map[string]string{"name": "x", "ttl": "8785h"}, code: "invalid", msg: []string{`ttl "8785h"`, "at most a year"}},
		{name: "fail/ttl-zero", body: map[string]string{"name": "x", "ttl": "0s"}, code: "invalid", msg: []string{`ttl "0s"`}},
		{name: "fail/ttl-negative", body: map[string]string{"name": "x", "ttl": "-1h"}, code: "invalid", msg: []string{`ttl "-1h"`}},
		{name: "fail/ttl-no-unit", body: map[string]string{"name": "x", "ttl": "3600"}, code: "invalid", msg: []string{`ttl "3600"`}},
		{name: "fail/ttl-days", body: map[string]string{"name": "x", "ttl": "30d"}, code: "invalid", msg: []string{`ttl "30d"`, "720h"}},
		{name: "fail/ttl-garbage", body: map[string]string{"name": "x", "ttl": "forever"}, code: "invalid", msg: []string{`ttl "forever"`}},
		{name: "fail/ttl-number", body: map[string]any{"name": "x", "ttl": 3600}, code: "invalid", msg: []string{`field "ttl" must be a string`}},
		{name: "fail/ttl-overflow", body: map[string]string{"name": "x", "ttl": "9999999999999h"}, code: "invalid", msg: []string{"ttl"}},
		{name: "fail/expires-at-set", body: map[string]string{"name": "x", "expires_at": "2099-01-01T00:00:00Z"}, code: "invalid", msg: []string{`unknown field "expires_at"`}},
		{name: "fail/token-set", body: map[string]string{"name": "x", "token": "alk_chosen"}, code: "invalid", msg: []string{`unknown field "token"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bearer := map[string]string{"": e.userTok, "admin": e.adminTok, "-": ""}[tc.bearer]
			rec := e.do(req{Method: "POST", Path: "/api/v1/tokens", Bearer: bearer, Body: tc.body})
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg...)
				return
			}
			wantStatus(t, rec, http.StatusCreated)
			var tv tokenView
			mustJSON(t, rec, &tv)
			tok, err := auth.ParseToken(tv.Token)
			if err != nil || tok.Kind != auth.KindAPI || tok.ID != tv.ID {
				t.Fatalf("token %q (id %s): %v", tv.Token, tv.ID, err)
			}
			secrets = append(secrets, tv.Token)
			if want := tc.body.(map[string]string)["name"]; tv.Name != want {
				t.Errorf("name %q, want %q", tv.Name, want)
			}
			if !tv.CreatedAt.Equal(e.clk.Now()) {
				t.Errorf("created_at %v, want %v", tv.CreatedAt, e.clk.Now())
			}
			switch {
			case tc.ttl == 0 && tv.ExpiresAt != nil:
				t.Errorf("expires_at %v, want none", tv.ExpiresAt)
			case tc.ttl != 0 && (tv.ExpiresAt == nil || !tv.ExpiresAt.Equal(e.clk.Now().Add(tc.ttl))):
				t.Errorf("expires_at %v, want now+%v", tv.ExpiresAt, tc.ttl)
			}
			wantStatus(t, e.do(req{Method: "GET", Path: "/api/v1/me", Bearer: tv.Token}), http.StatusOK)
		})
	}
	t.Run("ok/secret-shown-once", func(t *testing.T) {
		for _, who := range []string{e.userTok, e.adminTok} {
			rec := e.do(req{Method: "GET", Path: "/api/v1/tokens", Bearer: who})
			wantStatus(t, rec, http.StatusOK)
			body := rec.Body.String()
			for _, s := range secrets {
				tok, _ := auth.ParseToken(s)
				if strings.Contains(body, tok.Secret) {
					t.Errorf("list shows the secret of %s", tok.ID)
				}
			}
			if strings.Contains(body, `"token"`) || strings.Contains(body, "hash") {
				t.Errorf("list has a token or hash field: %s", body)
			}
		}
	})
	t.Run("ok/list-own-only", func(t *testing.T) {
		var mine, theirs []tokenView
		mustJSON(t, e.do(req{Method: "GET", Path: "/api/v1/tokens", Bearer: e.userTok}), &mine)
		mustJSON(t, e.do(req{Method: "GET", Path: "/api/v1/tokens", Bearer: e.adminTok}), &theirs)
		names := func(l []tokenView) []string {
			var n []string
			for _, v := range l {
				n = append(n, v.Name)
			}
			slices.Sort(n)
			return n
		}
		// alice: her login token, ci twice, month, short, year.
		if got, want := names(mine), []string{"ci", "ci", "cli", "month", "short", "year"}; !slices.Equal(got, want) {
			t.Errorf("alice's tokens %v, want %v", got, want)
		}
		if got, want := names(theirs), []string{"cli", "ops"}; !slices.Equal(got, want) {
			t.Errorf("admin's tokens %v, want %v", got, want)
		}
	})
}

func TestRevokeToken(t *testing.T) {
	e := newEnv(t)
	mk := func(bearer, name string) (string, string) {
		var tv tokenView
		mustJSON(t, e.do(req{Method: "POST", Path: "/api/v1/tokens", Bearer: bearer, Body: map[string]string{"name": name}}), &tv)
		return tv.ID, tv.Token
	}
	ownID, ownTok := mk(e.userTok, "own")
	adminID, adminTok := mk(e.adminTok, "admins")
	victimID, victimTok := mk(e.userTok, "victim")
	bob, bobTok := e.addUser("bob", 0)
	_ = bob
	bobID, bobSecret := mk(bobTok, "bobs")

	for _, tc := range []struct {
		name, id, bearer string
		code, msg        string
		dead, alive      string // a token that must stop or keep working
	}{
		{name: "fail/other-users-token", id: adminID, bearer: e.userTok, code: "not_found", msg: `token "` + adminID + `" not found`, alive: adminTok},
		{name: "fail/peer-users-token", id: bobID, bearer: e.userTok, code: "not_found", msg: "not found", alive: bobSecret},
		{name: "fail/unknown", id: "aaaaaaaaaaaa", bearer: e.userTok, code: "not_found", msg: "not found"},
		{name: "fail/anonymous", id: ownID, code: "unauthorized", alive: ownTok},
		{name: "ok/own", id: ownID, bearer: e.userTok, dead: ownTok},
		{name: "ok/own-again", id: ownID, bearer: e.userTok, dead: ownTok},
		{name: "ok/admin-revokes-users-token", id: victimID, bearer: e.adminTok, dead: victimTok},
		{name: "ok/revoke-the-token-in-use", id: bobID, bearer: bobSecret, dead: bobSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(req{Method: "DELETE", Path: "/api/v1/tokens/" + tc.id, Bearer: tc.bearer})
			if tc.code != "" {
				eb := wantError(t, rec, tc.code, tc.msg)
				// Someone else's token and no token at all look the same.
				if tc.code == "not_found" && strings.Contains(eb.Message, "not yours") {
					t.Errorf("message %q tells the token exists", eb.Message)
				}
			} else {
				wantStatus(t, rec, http.StatusNoContent)
			}
			if tc.dead != "" {
				wantError(t, e.do(req{Method: "GET", Path: "/api/v1/me", Bearer: tc.dead}), "unauthorized")
			}
			if tc.alive != "" {
				wantStatus(t, e.do(req{Method: "GET", Path: "/api/v1/me", Bearer: tc.alive}), http.StatusOK)
			}
		})
	}
}

// TestLoginTokenName: the name of a token asked for at login follows the
// same rules as POST /tokens.
func TestLoginTokenName(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, tokenName string
		code            string
	}{
		{"ok/default", "", ""},
		{"ok/valid", "laptop-1", ""},
		{"fail/spaces", "My Laptop", "invalid"},
		{"fail/long", strings.Repeat("x", 5000), "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{
				"user": "alice", "password": userPassword, "token": true, "token_name": tc.tokenName}})
			if tc.code != "" {
				wantError(t, rec, tc.code, "token name")
				return
			}
			wantStatus(t, rec, http.StatusOK)
		})
	}
}

// TestRevokeTokenNoOracle: refusing another user's token must read exactly
// like a token that does not exist, or the answer tells which IDs exist.
func TestRevokeTokenNoOracle(t *testing.T) {
	e := newEnv(t)
	admins, _ := auth.ParseToken(e.adminTok)
	absent := "aaaaaaaaaaaa"
	other := wantError(t, e.do(req{Method: "DELETE", Path: "/api/v1/tokens/" + admins.ID, Bearer: e.userTok}), "not_found")
	none := wantError(t, e.do(req{Method: "DELETE", Path: "/api/v1/tokens/" + absent, Bearer: e.userTok}), "not_found")
	if got, want := other.Message, strings.ReplaceAll(none.Message, absent, admins.ID); got != want {
		t.Errorf("another user's token: %q; a missing one: %q", got, none.Message)
	}
}
