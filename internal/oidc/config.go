package oidc

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Defaults of the Config fields left zero.
const (
	DefaultGroupsClaim = "groups"
	DefaultStateTTL    = 10 * time.Minute
	// StateKeySize is the length of Config.StateKey: an AES-256 key.
	StateKeySize = 32
	// defaultHTTPTimeout bounds each request to the issuer when Config gives
	// no HTTPClient: go-oidc fetches signing keys with a context that is never
	// cancelled, so the client's own timeout is the only bound there.
	defaultHTTPTimeout = 15 * time.Second
)

// DefaultScopes are asked for when Config.Scopes is empty: openid for the ID
// token, email and profile for the claims Identity carries. Most providers
// need a scope of their own (often "groups") before they send groups.
var DefaultScopes = []string{"openid", "email", "profile"}

// Config is one OpenID Connect provider as the api sees it. The zero value of
// every optional field works; Issuer, ClientID and RedirectURL are required.
type Config struct {
	// Issuer is the provider's issuer URL exactly as its discovery document
	// and its ID tokens spell it (https://idp.example.com/realms/x). Discovery
	// is fetched from Issuer + "/.well-known/openid-configuration".
	Issuer string
	// ClientID is the OAuth 2.0 client Airlock is registered as.
	ClientID string
	// ClientSecret authenticates a confidential client at the token endpoint
	// (client_secret_basic, or client_secret_post when the provider announces
	// only that). Empty for a public client, which then relies on PKCE alone.
	ClientSecret string
	// RedirectURL is Airlock's callback, registered at the provider
	// (https://airlock.example.com/api/v1/auth/oidc/callback).
	RedirectURL string
	// Scopes asked for; "openid" is added when missing. Default DefaultScopes.
	Scopes []string
	// GroupsClaim is the ID token claim holding the user's groups. Default
	// "groups".
	GroupsClaim string
	// RequireGroups refuses a login whose ID token has no groups claim
	// (ErrGroupsMissing). Off, a login without the claim succeeds with
	// Identity.GroupsPresent false, and the caller keeps the user's groups.
	RequireGroups bool

	// HTTPClient talks to the issuer (discovery, keys, token endpoint). When
	// nil, one is made with a timeout, trusting RootCAs.
	HTTPClient *http.Client
	// RootCAs are the CAs trusted for the issuer's certificate when
	// HTTPClient is nil; nil means the system's.
	RootCAs *x509.CertPool

	// StateKey seals the login state handed to the browser (AES-256-GCM,
	// StateKeySize bytes). Every api process serving logins for this provider
	// needs the same key; when nil a random key is made, which works for one
	// process (all-in-one) and makes a login begun on another process fail
	// with ErrStateUnknown.
	StateKey []byte
	// StateTTL is how long a login may take between Begin and Finish.
	// Default DefaultStateTTL.
	StateTTL time.Duration
	// Spent records the login states already used, so each is used once.
	// Default: a MemorySpent, right for one process; several api processes
	// need one shared record (the store).
	Spent SpentStates
	// Now is the clock for the state's expiry and the ID token's. Default
	// time.Now.
	Now func() time.Time
}

// withDefaults checks c and returns a copy with the defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if c.Issuer == "" {
		return c, fmt.Errorf("%w: Issuer is empty", ErrConfig)
	}
	iu, err := url.Parse(c.Issuer)
	if err != nil || iu.Host == "" || (iu.Scheme != "https" && iu.Scheme != "http") {
		return c, fmt.Errorf("%w: Issuer %q is not an http(s) URL", ErrConfig, c.Issuer)
	}
	if iu.RawQuery != "" || iu.Fragment != "" {
		return c, fmt.Errorf("%w: Issuer %q has a query or fragment, which OIDC Discovery forbids", ErrConfig, c.Issuer)
	}
	if c.ClientID == "" {
		return c, fmt.Errorf("%w: ClientID is empty", ErrConfig)
	}
	ru, err := url.Parse(c.RedirectURL)
	if c.RedirectURL == "" || err != nil || ru.Host == "" || (ru.Scheme != "https" && ru.Scheme != "http") {
		return c, fmt.Errorf("%w: RedirectURL %q is not an absolute http(s) URL", ErrConfig, c.RedirectURL)
	}
	if len(c.Scopes) == 0 {
		c.Scopes = slices.Clone(DefaultScopes)
	} else if !slices.Contains(c.Scopes, "openid") {
		c.Scopes = append([]string{"openid"}, c.Scopes...)
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = DefaultGroupsClaim
	}
	if c.StateTTL < 0 {
		return c, fmt.Errorf("%w: StateTTL %s is negative", ErrConfig, c.StateTTL)
	}
	if c.StateTTL == 0 {
		c.StateTTL = DefaultStateTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.StateKey == nil {
		c.StateKey = randomBytes(StateKeySize)
	} else if len(c.StateKey) != StateKeySize {
		return c, fmt.Errorf("%w: StateKey has %d bytes, want %d", ErrConfig, len(c.StateKey), StateKeySize)
	}
	if c.Spent == nil {
		c.Spent = NewMemorySpent(c.Now)
	}
	if c.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}
		c.HTTPClient = &http.Client{Transport: tr, Timeout: defaultHTTPTimeout}
	}
	return c, nil
}
