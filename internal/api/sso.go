package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/oidc"
)

// SSO is single sign-on through one OpenID Connect provider. Users who
// sign in there for the first time are made here, linked to the
// provider's account by its issuer and subject, never by name or e-mail
// (which a provider may let people change or reuse); they have no
// password.
type SSO struct {
	Provider *oidc.Provider
	// Name is what the sign-in page calls the provider ("Sign in with
	// Name").
	Name string
	// AdminGroups: a user whose groups claim names one of them has the
	// admin role, one whose claim names none the user role. Without the
	// claim the role stays as it was (a new user's: user).
	AdminGroups []string
	// PostLogoutURL is where the provider sends the browser back after
	// signing out there (registered at the provider); empty: the
	// provider's own page.
	PostLogoutURL string
}

const (
	ssoLoginPath    = "/api/v1/auth/sso/login"
	ssoCallbackPath = "/api/v1/auth/sso/callback"
)

type ssoView struct {
	Enabled bool   `json:"enabled"`
	Name    string `json:"name,omitempty"`
	Login   string `json:"login,omitempty"`
}

// ssoInfo tells the sign-in page whether to offer single sign-on.
func (s *Server) ssoInfo(w http.ResponseWriter, r *http.Request) error {
	sso := s.sso.Load()
	if sso == nil {
		writeJSON(w, http.StatusOK, ssoView{})
		return nil
	}
	writeJSON(w, http.StatusOK, ssoView{Enabled: true, Name: sso.Name, Login: ssoLoginPath})
	return nil
}

// SetSSO turns single sign-on on (or, with nil, off): the server starts
// before a provider that did not answer at start has been reached.
func (s *Server) SetSSO(sso *SSO) { s.sso.Store(sso) }

var errNoSSO = airlock.Errorf(airlock.ENOTFOUND, "single sign-on is not configured on this server")

// ssoLogin sends the browser to the provider, keeping the login's state
// in a cookie of its own.
func (s *Server) ssoLogin(w http.ResponseWriter, r *http.Request) error {
	sso := s.sso.Load()
	if sso == nil {
		return errNoSSO
	}
	l, err := sso.Provider.Begin(r.URL.Query().Get("return_to"))
	if err != nil {
		return airlock.Errorf(airlock.EINVALID, "return_to: %v", err)
	}
	http.SetCookie(w, l.Cookie())
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, l.AuthURL, http.StatusFound)
	return nil
}

// ssoCallback finishes a login the provider sends back: the user is
// found or made, signed in with a web session, and sent where the login
// began. A refusal is a short page saying what was wrong: a browser, not
// a program, is on the other end.
func (s *Server) ssoCallback(w http.ResponseWriter, r *http.Request) error {
	sso := s.sso.Load()
	if sso == nil {
		return errNoSSO
	}
	ctx := r.Context()
	cb := oidc.CallbackFromQuery(r.URL.Query())
	http.SetCookie(w, oidc.ClearStateCookie(cb.State))
	res, err := sso.Provider.Finish(ctx, cb, oidc.KeptState(r, cb.State))
	if err != nil {
		s.ssoFailed(ctx, err.Error())
		status := http.StatusBadRequest
		switch {
		case errors.Is(err, oidc.ErrAccessDenied), errors.Is(err, oidc.ErrGroupsMissing):
			status = http.StatusForbidden
		case errors.Is(err, oidc.ErrExchange), errors.Is(err, oidc.ErrDiscovery):
			status = http.StatusBadGateway
		}
		ssoRefusal(w, status, err.Error())
		return nil
	}
	u, err := s.ssoUser(ctx, sso, res.Identity)
	if err != nil {
		s.ssoFailed(ctx, airlock.ErrorMessage(err))
		if code := airlock.ErrorCode(err); code != airlock.EINTERNAL {
			ssoRefusal(w, status(code), airlock.ErrorMessage(err))
			return nil
		}
		return err
	}
	if err := s.ssoGroups(ctx, u, res.Identity); err != nil {
		return err
	}
	if err := s.startWebSession(ctx, w, u, res.IDToken); err != nil {
		return err
	}
	s.audit(ctx, u.Name, "auth.login", u.Name, "single sign-on at "+res.Identity.Issuer)
	to := res.ReturnTo
	if to == "" {
		to = "/"
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// ssoFailed records a refused single sign-on; who it was is often not
// known (the provider's answer did not verify).
func (s *Server) ssoFailed(ctx context.Context, why string) {
	s.record(ctx, &airlock.AuditEvent{ActorKind: airlock.ActorAnonymous, Action: "auth.login", Target: "single sign-on",
		Outcome: airlock.OutcomeFailure, Detail: why})
}

func ssoRefusal(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "Single sign-on failed: %s\n\nGo back to the sign-in page and try again, or ask your administrator.\n", msg)
}

// ssoUser is the user linked to id, made on its first login; its role
// follows the groups claim when the token has one.
func (s *Server) ssoUser(ctx context.Context, sso *SSO, id oidc.Identity) (*airlock.User, error) {
	role := airlock.RoleUser
	if id.GroupsPresent && slices.ContainsFunc(id.Groups, func(g string) bool { return slices.Contains(sso.AdminGroups, g) }) {
		role = airlock.RoleAdmin
	}
	u, err := s.store.UserBySSO(ctx, id.Issuer, id.Subject)
	switch {
	case err == nil:
		if id.GroupsPresent && u.Role != role {
			prev := u.Role
			u.Role = role
			if err := s.store.UpdateUser(ctx, u); err != nil {
				return nil, fmt.Errorf("set the role of %s: %w", u.Name, err)
			}
			s.audit(ctx, "system", "user.role", u.Name, fmt.Sprintf("%s -> %s by the groups claim of %s", prev, role, id.Issuer))
			if prev == airlock.RoleAdmin {
				// What they hold as an admin (viewers of others'
				// sessions) ends with the role.
				s.revoker.RevokeUser(u.ID)
			}
		}
		return u, nil
	case airlock.ErrorCode(err) != airlock.ENOTFOUND:
		return nil, err
	}
	for _, name := range ssoNames(id) {
		u := &airlock.User{ID: newID(), Name: name, Role: role, SSOIssuer: id.Issuer, SSOSubject: id.Subject}
		err := s.store.CreateUser(ctx, u)
		if err == nil {
			s.audit(ctx, "system", "user.create", u.Name, fmt.Sprintf("role %s, first single sign-on at %s as %s", role, id.Issuer, id.Subject))
			return u, nil
		}
		if airlock.ErrorCode(err) != airlock.ECONFLICT {
			return nil, err
		}
		// The name is taken (or, in a race, this account was just
		// linked by a concurrent first login: look again).
		if u, err := s.store.UserBySSO(ctx, id.Issuer, id.Subject); err == nil {
			return u, nil
		}
	}
	return nil, airlock.Errorf(airlock.ECONFLICT, "no free user name for %s of %s", id.Subject, id.Issuer)
}

// ssoGroups makes u a member, by the identity provider, of exactly the
// groups that map a name in id's groups claim (Group.IdPGroups). A
// token without the claim changes nothing: a provider that leaves it
// out (a scope not granted, a claim too long for a token) must not
// empty everyone's groups; --sso-require-groups refuses such a token
// before this. Memberships given by hand stay either way.
func (s *Server) ssoGroups(ctx context.Context, u *airlock.User, id oidc.Identity) error {
	if !id.GroupsPresent {
		return nil
	}
	all, err := s.store.ListGroups(ctx)
	if err != nil {
		return err
	}
	var ids []string
	for _, g := range all {
		if slices.ContainsFunc(g.IdPGroups, func(n string) bool { return slices.Contains(id.Groups, n) }) {
			ids = append(ids, g.ID)
		}
	}
	before, err := s.store.GroupsOfUser(ctx, u.ID)
	if err != nil {
		return err
	}
	if err := s.store.SetSSOGroups(ctx, u.ID, ids, s.clock.now()); err != nil {
		return fmt.Errorf("groups of %s from the groups claim: %w", u.Name, err)
	}
	after, err := s.store.GroupsOfUser(ctx, u.ID)
	if err != nil {
		return err
	}
	if groupNames(before) != groupNames(after) {
		s.audit(ctx, "system", "group.sso", u.Name, fmt.Sprintf("groups %s by the groups claim of %s (was %s)", groupNames(after), id.Issuer, groupNames(before)))
	}
	return nil
}

var notNameChar = regexp.MustCompile(`[^a-z0-9._-]+`)

// ssoNames are the names a new user may get, best first: the preferred
// user name and the e-mail's local part, each made a valid name, then
// with -2 … -9, then one from the account's hash, which is free unless
// the same account were linked twice.
func ssoNames(id oidc.Identity) []string {
	// A claim that needs no change to be a name goes before one that
	// lost characters on the way ("ÉLODIE" would be "lodie").
	var clean, changed []string
	for _, c := range []string{id.PreferredUsername, strings.SplitN(id.Email, "@", 2)[0]} {
		lower := strings.ToLower(c)
		n := strings.Trim(notNameChar.ReplaceAllString(lower, "-"), "-._")
		if len(n) > 50 {
			n = n[:50]
		}
		if n == "" || n == "me" || airlock.ValidName("user", n) != nil || slices.Contains(clean, n) || slices.Contains(changed, n) {
			continue
		}
		if n == lower {
			clean = append(clean, n)
		} else {
			changed = append(changed, n)
		}
	}
	bases := append(clean, changed...)
	names := slices.Clone(bases)
	for _, b := range bases {
		for i := 2; i <= 9; i++ {
			names = append(names, fmt.Sprintf("%s-%d", b, i))
		}
	}
	sum := sha256.Sum256([]byte(id.Issuer + "\x00" + id.Subject))
	return append(names, "sso-"+hex.EncodeToString(sum[:6]))
}

// startWebSession signs u in in this browser: a web session and its
// cookie, keeping the provider's ID token of a single sign-on.
func (s *Server) startWebSession(ctx context.Context, w http.ResponseWriter, u *airlock.User, idToken string) error {
	now := s.clock.now()
	tok, err := auth.NewToken(auth.KindWeb)
	if err != nil {
		return err
	}
	ws := &airlock.WebSession{ID: tok.ID, UserID: u.ID, Hash: tok.Hash(), CreatedAt: now, ExpiresAt: now.Add(s.webTTL), SSOIDToken: idToken}
	if err := s.store.CreateWebSession(ctx, ws); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok.String(), Path: "/", Expires: ws.ExpiresAt,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	return nil
}
