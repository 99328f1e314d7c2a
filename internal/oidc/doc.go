// Package oidc is Airlock's single sign-on: the OpenID Connect
// authorization code flow with PKCE (S256) against one provider, built on
// github.com/coreos/go-oidc/v3 and golang.org/x/oauth2.
//
// # How the api uses it
//
// At start, one Provider per configured provider:
//
//	p, err := oidc.New(ctx, oidc.Config{
//		Issuer:       "https://idp.example.com",
//		ClientID:     "airlock",
//		ClientSecret: secret,                 // "" for a public client
//		RedirectURL:  "https://airlock.example.com/api/v1/auth/oidc/callback",
//		Scopes:       []string{"openid", "email", "profile", "groups"},
//		StateKey:     key,                    // 32 bytes, the same on every api process
//		Spent:        store,                  // shared record of used states (see SpentStates)
//	})
//
// New fetches the discovery document with ctx and fails with ErrDiscovery
// when the issuer is unreachable, or ErrIssuerMismatch when the document
// names another issuer.
//
// The login route begins a login and sends the browser away:
//
//	l, err := p.Begin(r.URL.Query().Get("return_to")) // a local path, or ErrReturnTo
//	http.SetCookie(w, l.Cookie())
//	http.Redirect(w, r, l.AuthURL, http.StatusFound)
//
// The callback route finishes it:
//
//	cb := oidc.CallbackFromQuery(r.URL.Query())
//	http.SetCookie(w, oidc.ClearStateCookie(cb.State))
//	res, err := p.Finish(r.Context(), cb, oidc.KeptState(r, cb.State))
//	// err: map with errors.Is (ErrAccessDenied, ErrState*, ErrIDToken, ...)
//	// res.Identity: find or create the user by (Issuer, Subject);
//	// if res.Identity.GroupsPresent, set the user's groups to Groups,
//	// otherwise leave them as they are.
//	// res.ReturnTo: where to redirect; res.IDToken: keep for logout.
//
// Logout ends Airlock's session, then sends the browser to
// p.LogoutURL(idToken, postLogoutURL) when the provider has one (ErrNoLogout
// otherwise).
//
// # Login state: kept by the browser, used once
//
// Begin stores nothing. The login's state, nonce, PKCE verifier, return
// path and expiry are sealed (AES-256-GCM under Config.StateKey, bound to
// the issuer and client ID) into Login.Sealed, which travels in a cookie
// named after the state (__Host-airlock-oidc-<state>; Secure, HttpOnly,
// SameSite=Lax, Max-Age Config.StateTTL). At the callback, Finish opens it
// and refuses, each with its own error:
//   - no cookie for the callback's state, or one that does not open
//     (tampered, another key, another provider): ErrStateUnknown. A state
//     from another browser's login lands here, as the browser has no cookie
//     for it;
//   - a cookie whose sealed state is not the callback's: ErrStateMismatch;
//   - a login older than Config.StateTTL: ErrStateExpired;
//   - a state already used: ErrStateReplayed.
//
// Once is enforced by Config.Spent: Finish records a hash of the state as
// spent, until the state's expiry, before it exchanges the code, so a
// replayed callback (the same cookie and query again, even from a copy of
// the cookie) fails whatever became of the first. The default MemorySpent
// serves one process; several api processes must share one record. The
// provider adds its own once: a code exchanged twice fails with ErrExchange.
//
// # Groups
//
// The groups claim (Config.GroupsClaim, default "groups") may be a JSON
// array of strings or a single string (one group); anything else fails the
// login with ErrClaims. A claim that is absent, null or "" (OIDC Core 5.3.2:
// a claim not returned is omitted, not null or empty) gives
// Identity.GroupsPresent false, and the caller must then keep the user's
// groups as they are: treating absent as empty would wipe every user's
// groups the day the provider stops sending the claim (a lost scope, a
// changed mapping). An empty array is present: the user is in no group.
// With Config.RequireGroups a login without the claim fails instead, with
// ErrGroupsMissing saying so.
//
// # What it checks
//
// go-oidc verifies the ID token's signature against the provider's JWKS
// (refetched on an unknown key ID), its issuer, audience and expiry. This
// package checks the nonce against the login's (go-oidc leaves it to the
// caller), the authorized party when there are several audiences, and the
// iss parameter of the callback (RFC 9207) when there is one or the
// provider announces it. Errors never repeat a code, a token or a sealed
// state; ProviderError repeats the provider's error_description, which is
// untrusted text.
//
// What it leaves out: HTTP routes, users and groups in the store, sessions
// (the api's), the userinfo endpoint (the claims are read from the ID token
// alone), distributed claims, refresh tokens, and front- or back-channel
// logout.
//
// This is security-sensitive code: changes to the state format, the checks
// or their order deserve a second reviewer.
package oidc
