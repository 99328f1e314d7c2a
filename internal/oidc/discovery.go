package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// maxDiscoveryBytes bounds the discovery document read: real ones are a few
// kilobytes.
const maxDiscoveryBytes = 1 << 20

// discovery is the part of the OpenID Provider Metadata Airlock uses.
type discovery struct {
	Issuer                        string   `json:"issuer"`
	AuthorizationEndpoint         string   `json:"authorization_endpoint"`
	TokenEndpoint                 string   `json:"token_endpoint"`
	JWKSURI                       string   `json:"jwks_uri"`
	UserinfoEndpoint              string   `json:"userinfo_endpoint"`
	EndSessionEndpoint            string   `json:"end_session_endpoint"`
	IDTokenSigningAlgs            []string `json:"id_token_signing_alg_values_supported"`
	CodeChallengeMethods          []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
	AuthorizationResponseIssParam bool     `json:"authorization_response_iss_parameter_supported"`
}

// discover fetches and checks the issuer's discovery document. We fetch it
// ourselves rather than through oidc.NewProvider so that an unreachable
// issuer and an issuer mismatch each get an error of their own, and so the
// fields go-oidc does not keep (end_session_endpoint, PKCE methods) are read
// from the same fetch.
func discover(ctx context.Context, client *http.Client, issuer string) (*discovery, error) {
	wellKnown := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, wellKnown, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDiscovery, wellKnown, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: the issuer is unreachable: GET %s: %w", ErrDiscovery, wellKnown, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscoveryBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %w", ErrDiscovery, wellKnown, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: GET %s: %s", ErrDiscovery, wellKnown, resp.Status)
	}
	if len(body) > maxDiscoveryBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrDiscovery, wellKnown, maxDiscoveryBytes)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return nil, fmt.Errorf("%w: %s has Content-Type %q, want application/json", ErrDiscovery, wellKnown, ct)
		}
	}
	return parseDiscovery(body, issuer, wellKnown)
}

// parseDiscovery reads and checks a discovery document fetched from where
// for issuer.
func parseDiscovery(body []byte, issuer, where string) (*discovery, error) {
	var d discovery
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("%w: %s is not a discovery document: %w", ErrDiscovery, where, err)
	}
	if d.Issuer != issuer {
		return nil, fmt.Errorf("%w: %s says issuer %q, configured %q", ErrIssuerMismatch, where, d.Issuer, issuer)
	}
	for _, ep := range []struct{ name, v string }{
		{"authorization_endpoint", d.AuthorizationEndpoint},
		{"token_endpoint", d.TokenEndpoint},
		{"jwks_uri", d.JWKSURI},
	} {
		if ep.v == "" {
			return nil, fmt.Errorf("%w: %s has no %s", ErrDiscovery, where, ep.name)
		}
		if u, err := url.Parse(ep.v); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("%w: %s: %s %q is not an absolute http(s) URL", ErrDiscovery, where, ep.name, ep.v)
		}
	}
	// An empty list means the provider does not say, and most that do PKCE
	// say nothing; a list without S256 means it would ignore our challenge.
	if len(d.CodeChallengeMethods) > 0 && !slices.Contains(d.CodeChallengeMethods, "S256") {
		return nil, fmt.Errorf("%w: %s offers PKCE methods %q but not S256", ErrDiscovery, where, d.CodeChallengeMethods)
	}
	return &d, nil
}
