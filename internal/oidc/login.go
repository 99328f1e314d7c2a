package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Login is a begun login: send the browser to AuthURL and keep Sealed until
// the callback, in the cookie Cookie returns.
type Login struct {
	// AuthURL is the provider's authorization endpoint with this login's
	// state, nonce and PKCE challenge.
	AuthURL string
	// State is the login's state parameter; the callback carries it back.
	State string
	// Sealed is the LoginState, encrypted and authenticated under
	// Config.StateKey: opaque to the browser, which holds it.
	Sealed string
	// Expires is when the login stops being accepted.
	Expires time.Time

	maxAge int // the cookie's Max-Age: Config.StateTTL in seconds
}

// Begin starts a login that returns to returnTo (a local path, "/" when
// empty; anything else fails with ErrReturnTo) and returns where to send
// the browser and what to keep. It makes a fresh state, nonce and PKCE
// verifier; nothing is stored.
func (p *Provider) Begin(returnTo string) (*Login, error) {
	rt, err := checkReturnTo(returnTo)
	if err != nil {
		return nil, err
	}
	exp := p.cfg.Now().Add(p.cfg.StateTTL).Truncate(time.Second)
	ls := LoginState{
		State:    randomString(),
		Nonce:    randomString(),
		Verifier: oauth2.GenerateVerifier(),
		ReturnTo: rt,
		Expires:  exp.Unix(),
	}
	authURL := p.oauth.AuthCodeURL(ls.State, oauth2.S256ChallengeOption(ls.Verifier), gooidc.Nonce(ls.Nonce))
	return &Login{AuthURL: authURL, State: ls.State, Sealed: p.sealer.Seal(ls), Expires: exp, maxAge: int(p.cfg.StateTTL / time.Second)}, nil
}

// Callback is what the provider sent back to Config.RedirectURL.
type Callback struct {
	State            string
	Code             string
	Error            string
	ErrorDescription string
	ErrorURI         string
	// Issuer is the iss parameter of RFC 9207, which tells a callback from
	// this provider from one a mix-up attack routed from another.
	Issuer string
}

// CallbackFromQuery reads a Callback from the callback request's query.
func CallbackFromQuery(q url.Values) Callback {
	return Callback{
		State:            q.Get("state"),
		Code:             q.Get("code"),
		Error:            q.Get("error"),
		ErrorDescription: q.Get("error_description"),
		ErrorURI:         q.Get("error_uri"),
		Issuer:           q.Get("iss"),
	}
}

// Result is a finished login.
type Result struct {
	Identity Identity
	// ReturnTo is the local path given to Begin.
	ReturnTo string
	// IDToken is the raw ID token, for LogoutURL's id_token_hint. It is a
	// credential of sorts (it names the user to the provider): keep it with
	// the session, server side, and never log it.
	IDToken string
	// Expiry is the ID token's expiry. Airlock's session need not end then;
	// it is there for a caller that wants to bound the session by it.
	Expiry time.Time
}

// Finish completes the login the callback answers. sealed is the Login's
// Sealed kept since Begin ("" when the cookie is missing). In order it:
// opens sealed and checks it is this callback's login and not expired;
// spends the state (Config.Spent), so a second Finish of it fails even if
// this one fails further on; refuses a callback naming another issuer;
// returns the provider's error, if it sent one, as a *ProviderError;
// exchanges the code with the PKCE verifier; verifies the ID token
// (signature, issuer, audience, expiry by go-oidc; nonce and authorized
// party here) and reads the Identity from its claims.
//
// Each refusal wraps one sentinel of this package saying what was wrong.
func (p *Provider) Finish(ctx context.Context, cb Callback, sealed string) (*Result, error) {
	ls, err := p.openState(ctx, cb.State, sealed)
	if err != nil {
		return nil, err
	}
	if cb.Issuer != "" && cb.Issuer != p.cfg.Issuer {
		return nil, fmt.Errorf("%w: the callback's iss is %q, not this provider's %q (a mix-up of providers?)", ErrCallback, cb.Issuer, p.cfg.Issuer)
	}
	if cb.Issuer == "" && p.disc.AuthorizationResponseIssParam {
		return nil, fmt.Errorf("%w: the provider announces the iss parameter (RFC 9207) but the callback has none", ErrCallback)
	}
	if cb.Error != "" {
		return nil, &ProviderError{Code: cb.Error, Description: cb.ErrorDescription, URI: cb.ErrorURI}
	}
	if cb.Code == "" {
		return nil, fmt.Errorf("%w: the callback has neither a code nor an error", ErrCallback)
	}

	hctx := context.WithValue(ctx, oauth2.HTTPClient, p.cfg.HTTPClient)
	tok, err := p.oauth.Exchange(hctx, cb.Code, oauth2.VerifierOption(ls.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode != "" {
			msg := re.ErrorCode
			if re.ErrorDescription != "" {
				msg += fmt.Sprintf(" (%q)", re.ErrorDescription)
			}
			return nil, fmt.Errorf("%w: the token endpoint refused the code: %s", ErrExchange, msg)
		}
		if errors.As(err, &re) {
			return nil, fmt.Errorf("%w: the token endpoint answered %s", ErrExchange, re.Response.Status)
		}
		return nil, fmt.Errorf("%w: %w", ErrExchange, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, fmt.Errorf("%w (scopes asked: %s)", ErrNoIDToken, strings.Join(p.cfg.Scopes, " "))
	}
	return p.verify(ctx, raw, ls)
}

// openState checks the callback's state against the kept one and spends it.
func (p *Provider) openState(ctx context.Context, state, sealed string) (LoginState, error) {
	if state == "" {
		return LoginState{}, fmt.Errorf("%w: the callback has no state parameter", ErrStateUnknown)
	}
	if !isBase64URL(state) || len(state) > 128 {
		return LoginState{}, fmt.Errorf("%w: the callback's state is not one Airlock makes", ErrStateUnknown)
	}
	ls, err := p.sealer.Open(sealed)
	if err != nil {
		return LoginState{}, err
	}
	if subtle.ConstantTimeCompare([]byte(ls.State), []byte(state)) != 1 {
		return LoginState{}, fmt.Errorf("%w: the kept state was made for another login than this callback's", ErrStateMismatch)
	}
	now := p.cfg.Now()
	if exp := ls.ExpiresAt(); now.After(exp) {
		return LoginState{}, fmt.Errorf("%w: the login began more than %s ago (expired %s)", ErrStateExpired, p.cfg.StateTTL, exp.UTC().Format(time.RFC3339))
	}
	id := sha256.Sum256([]byte(ls.State))
	if err := p.cfg.Spent.Spend(ctx, hex.EncodeToString(id[:]), ls.ExpiresAt()); err != nil {
		if errors.Is(err, ErrStateReplayed) {
			return LoginState{}, err
		}
		return LoginState{}, fmt.Errorf("record the login state as used: %w", err)
	}
	return ls, nil
}

// verify checks the ID token and reads the identity from it.
func (p *Provider) verify(ctx context.Context, raw string, ls LoginState) (*Result, error) {
	it, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, classifyVerifyError(err)
	}
	if subtle.ConstantTimeCompare([]byte(it.Nonce), []byte(ls.Nonce)) != 1 {
		if it.Nonce == "" {
			return nil, tokenError(ErrNonceMismatch, "the token has no nonce")
		}
		return nil, tokenError(ErrNonceMismatch, "the token's nonce is not the one this login sent (a token from another login?)")
	}
	var extra struct {
		AZP string `json:"azp"`
	}
	if err := it.Claims(&extra); err != nil {
		return nil, tokenError(ErrMalformed, "claims: %v", err)
	}
	// OIDC Core 3.1.3.7 items 4 and 5: with several audiences, the token must
	// name us as the party it was issued to.
	if len(it.Audience) > 1 && extra.AZP != p.cfg.ClientID {
		return nil, tokenError(ErrWrongAudience, "the token has audiences %q and authorized party %q, not %q", it.Audience, extra.AZP, p.cfg.ClientID)
	}
	if extra.AZP != "" && extra.AZP != p.cfg.ClientID {
		return nil, tokenError(ErrWrongAudience, "the token's authorized party is %q, not %q", extra.AZP, p.cfg.ClientID)
	}
	if it.Subject == "" {
		return nil, tokenError(ErrMalformed, "the token has no sub")
	}

	var payload rawClaims
	if err := it.Claims(&payload); err != nil {
		return nil, tokenError(ErrMalformed, "claims: %v", err)
	}
	id := Identity{Issuer: it.Issuer, Subject: it.Subject}
	distributed, err := identityClaims(payload, p.cfg.GroupsClaim, &id)
	if err != nil {
		return nil, err
	}
	if !id.GroupsPresent && p.cfg.RequireGroups {
		why := "the provider must be set up to send it (often a groups scope and a claim mapping)"
		if distributed {
			why = "the provider moved it to a distributed claim source (too many groups?), which Airlock does not fetch"
		}
		return nil, fmt.Errorf("%w: the ID token for %q has no %q claim and this provider requires one: %s", ErrGroupsMissing, id.Subject, p.cfg.GroupsClaim, why)
	}
	return &Result{Identity: id, ReturnTo: ls.ReturnTo, IDToken: raw, Expiry: it.Expiry}, nil
}

// rawClaims captures the ID token's payload as it is.
type rawClaims []byte

func (r *rawClaims) UnmarshalJSON(b []byte) error {
	*r = slices.Clone(b)
	return nil
}

// classifyVerifyError maps go-oidc's refusal to this package's sentinels.
// go-oidc returns typed errors only for expiry; the rest are matched on its
// messages, pinned with go-oidc's version (v3.21.0): the tests against a real
// provider produce each of them, so a release that rewords one fails them.
// Whatever is not recognised is still a refusal (ErrIDToken) with go-oidc's
// text.
func classifyVerifyError(err error) error {
	var expired *gooidc.TokenExpiredError
	if errors.As(err, &expired) {
		return tokenError(ErrExpired, "the token expired at %s", expired.Expiry.UTC().Format(time.RFC3339))
	}
	msg := err.Error()
	kind := error(nil)
	switch {
	case strings.Contains(msg, "malformed jwt") && strings.Contains(msg, "algorithm"):
		kind = ErrBadSignature // signed with an algorithm the provider does not announce, or "none"
	case strings.Contains(msg, "malformed jwt"), strings.Contains(msg, "multiple signatures"),
		strings.Contains(msg, "failed to unmarshal claims"):
		kind = ErrMalformed
	case strings.Contains(msg, "id token not signed"), strings.Contains(msg, "failed to verify signature"):
		kind = ErrBadSignature
	case strings.Contains(msg, "issued by a different provider"):
		kind = ErrWrongIssuer
	case strings.Contains(msg, "expected audience"):
		kind = ErrWrongAudience
	case strings.Contains(msg, "nbf"):
		kind = ErrNotYetValid
	}
	if kind == nil {
		return fmt.Errorf("%w: %w", ErrIDToken, err)
	}
	return fmt.Errorf("%w: %w: %w", ErrIDToken, kind, err)
}
