package oidc

import (
	"context"
	"fmt"
	"net/url"
	"slices"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Provider is one configured OpenID Connect provider, discovered. It is safe
// for concurrent use; it holds no per-login state (that is sealed into the
// Login handed out by Begin, and the once-only record is Config.Spent).
type Provider struct {
	cfg      Config
	disc     *discovery
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier
	sealer   *sealer
}

// New checks cfg, fetches the issuer's discovery document with ctx and
// returns the Provider. It fails with ErrConfig for a config that cannot
// work, ErrDiscovery when the issuer is unreachable or its document is not
// usable, and ErrIssuerMismatch when the document names another issuer.
// The signing keys are fetched on the first login, and again whenever a
// token names a key not yet seen (key rotation).
func New(ctx context.Context, cfg Config) (*Provider, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d, err := discover(ctx, cfg.HTTPClient, cfg.Issuer)
	if err != nil {
		return nil, err
	}
	algs := d.IDTokenSigningAlgs
	// "none" in the list would be a provider offering unsigned tokens; go-oidc
	// refuses them anyway, and so do we, before it gets there.
	algs = slices.DeleteFunc(slices.Clone(algs), func(a string) bool { return a == "none" })
	pc := gooidc.ProviderConfig{
		IssuerURL:   d.Issuer,
		AuthURL:     d.AuthorizationEndpoint,
		TokenURL:    d.TokenEndpoint,
		JWKSURL:     d.JWKSURI,
		UserInfoURL: d.UserinfoEndpoint,
		Algorithms:  algs,
	}
	// The key set keeps this context (without its cancellation) for every
	// later key fetch: only the HTTP client in it matters.
	op := pc.NewProvider(gooidc.ClientContext(ctx, cfg.HTTPClient))
	sl, err := newSealer(cfg.StateKey, cfg.Issuer, cfg.ClientID)
	if err != nil {
		return nil, err
	}
	ep := op.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	if cfg.ClientSecret == "" || (len(d.TokenEndpointAuthMethods) > 0 &&
		!slices.Contains(d.TokenEndpointAuthMethods, "client_secret_basic") &&
		slices.Contains(d.TokenEndpointAuthMethods, "client_secret_post")) {
		// A public client sends only client_id in the form; a provider that
		// takes only client_secret_post gets the secret there too.
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &Provider{
		cfg:  cfg,
		disc: d,
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     ep,
			RedirectURL:  cfg.RedirectURL,
			Scopes:       cfg.Scopes,
		},
		verifier: op.Verifier(&gooidc.Config{
			ClientID:             cfg.ClientID,
			SupportedSigningAlgs: algs,
			Now:                  cfg.Now,
		}),
		sealer: sl,
	}, nil
}

// Issuer returns the provider's issuer URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// LogoutURL returns the provider's end_session_endpoint with the parameters
// of OpenID Connect RP-Initiated Logout 1.0: id_token_hint (the login's
// Result.IDToken, so the provider knows whose session to end without
// asking), post_logout_redirect_uri (where the provider sends the browser
// afterwards; it must be registered at the provider) and client_id. Empty
// arguments are left out. It fails with ErrNoLogout when the discovery
// document has no end_session_endpoint: the caller then only ends Airlock's
// own session.
func (p *Provider) LogoutURL(idTokenHint, postLogoutRedirect string) (string, error) {
	if p.disc.EndSessionEndpoint == "" {
		return "", fmt.Errorf("%w: %s announces no end_session_endpoint", ErrNoLogout, p.cfg.Issuer)
	}
	u, err := url.Parse(p.disc.EndSessionEndpoint)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w: end_session_endpoint %q is not a URL", ErrNoLogout, p.disc.EndSessionEndpoint)
	}
	if postLogoutRedirect != "" {
		pu, err := url.Parse(postLogoutRedirect)
		if err != nil || pu.Host == "" || (pu.Scheme != "https" && pu.Scheme != "http") {
			return "", fmt.Errorf("oidc: post-logout redirect %q is not an absolute http(s) URL", postLogoutRedirect)
		}
	}
	q := u.Query()
	if idTokenHint != "" {
		q.Set("id_token_hint", idTokenHint)
	}
	if postLogoutRedirect != "" {
		q.Set("post_logout_redirect_uri", postLogoutRedirect)
	}
	q.Set("client_id", p.cfg.ClientID)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
