package oidc

import (
	"errors"
	"fmt"
)

// Every refusal wraps one of these sentinels, so the api maps a failed login
// to a response with errors.Is, and the wrapped text says what was wrong for
// the operator's log. No error here repeats a code, a token or a sealed
// state; the provider's own error_description is repeated, and is untrusted
// text (see ProviderError).
var (
	// ErrConfig: the Config cannot work (missing issuer, bad state key, ...).
	ErrConfig = errors.New("oidc: bad configuration")
	// ErrDiscovery: the issuer's discovery document could not be fetched or
	// read (unreachable, not 200, not JSON, missing endpoints).
	ErrDiscovery = errors.New("oidc: discovery failed")
	// ErrIssuerMismatch: the discovery document names another issuer than
	// the one configured (OIDC Discovery 1.0 section 4.3 requires equality).
	ErrIssuerMismatch = errors.New("oidc: discovery document is for another issuer")
	// ErrReturnTo: the place to return to after login is not a local path.
	ErrReturnTo = errors.New("oidc: return path is not a local path")

	// ErrStateUnknown: the callback's state matches no kept login state
	// (none kept, not one this server sealed, or tampered with).
	ErrStateUnknown = errors.New("oidc: login state unknown")
	// ErrStateMismatch: the kept login state belongs to another login than
	// the callback's state.
	ErrStateMismatch = errors.New("oidc: login state belongs to another login")
	// ErrStateExpired: the login took longer than Config.StateTTL.
	ErrStateExpired = errors.New("oidc: login state expired")
	// ErrStateReplayed: the login state was already used once.
	ErrStateReplayed = errors.New("oidc: login state already used")

	// ErrProvider: the provider answered the authorization request with an
	// error (access_denied, login_required, ...); see ProviderError.
	ErrProvider = errors.New("oidc: the provider returned an error")
	// ErrAccessDenied: the provider's error was access_denied (the user or a
	// policy at the provider refused).
	ErrAccessDenied = errors.New("oidc: access denied by the provider")
	// ErrCallback: the callback has neither a code nor an error, or names
	// another issuer in its iss parameter (RFC 9207).
	ErrCallback = errors.New("oidc: bad callback")
	// ErrExchange: the token endpoint refused the code (used twice, expired,
	// wrong PKCE verifier, wrong client credentials) or could not be reached.
	ErrExchange = errors.New("oidc: code exchange failed")
	// ErrNoIDToken: the token response has no id_token (scope openid lost).
	ErrNoIDToken = errors.New("oidc: token response has no id_token")

	// ID token refusals. go-oidc checks signature, issuer, audience and
	// expiry; the nonce and the authorized party are checked here.
	ErrIDToken       = errors.New("oidc: ID token refused")
	ErrBadSignature  = errors.New("oidc: ID token signature does not verify")
	ErrMalformed     = errors.New("oidc: ID token is malformed")
	ErrWrongIssuer   = errors.New("oidc: ID token is from another issuer")
	ErrWrongAudience = errors.New("oidc: ID token is for another client")
	ErrExpired       = errors.New("oidc: ID token expired")
	ErrNotYetValid   = errors.New("oidc: ID token not yet valid")
	ErrNonceMismatch = errors.New("oidc: ID token nonce does not match this login")

	// ErrClaims: a claim Airlock reads has the wrong type (email_verified not
	// a boolean, groups not strings, ...).
	ErrClaims = errors.New("oidc: bad claim")
	// ErrGroupsMissing: Config.RequireGroups is on and the ID token has no
	// groups claim.
	ErrGroupsMissing = errors.New("oidc: groups claim missing")

	// ErrNoLogout: the provider announces no end_session_endpoint.
	ErrNoLogout = errors.New("oidc: the provider offers no RP-initiated logout")
)

// ProviderError is an error the provider put in the callback (RFC 6749
// section 4.1.2.1). Code is one of the RFC's codes or the provider's own;
// Description and URI are the provider's text, passed through as is: show
// them escaped, never as HTML.
type ProviderError struct {
	Code        string
	Description string
	URI         string
}

func (e *ProviderError) Error() string {
	msg := "oidc: the provider returned error=" + e.Code
	if e.Description != "" {
		msg += fmt.Sprintf(" (%q)", e.Description)
	}
	if e.URI != "" {
		msg += " see " + e.URI
	}
	return msg
}

// Is makes errors.Is(err, ErrProvider) hold for every provider error and
// errors.Is(err, ErrAccessDenied) for access_denied.
func (e *ProviderError) Is(target error) bool {
	return target == ErrProvider || (target == ErrAccessDenied && e.Code == "access_denied")
}

// tokenError wraps an ID token refusal: ErrIDToken, the precise sentinel and
// the detail.
func tokenError(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrIDToken, kind, fmt.Sprintf(format, args...))
}
