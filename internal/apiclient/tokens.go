package apiclient

import (
	"context"
	"net/http"
	"time"
)

// Token is one of the caller's API tokens; Token, the secret, is in the
// answer of its creation only.
type Token struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	Token      string     `json:"token,omitempty"`
}

// CreateTokenRequest is an API token to make; TTL is a Go duration
// ("720h"), empty for none.
type CreateTokenRequest struct {
	Name string `json:"name"`
	TTL  string `json:"ttl,omitempty"`
}

// ListTokens lists the caller's API tokens.
func (c *Client) ListTokens(ctx context.Context) ([]Token, error) {
	return list[Token](ctx, c, route("tokens"))
}

// CreateToken makes an API token for the caller.
func (c *Client) CreateToken(ctx context.Context, req CreateTokenRequest) (*Token, error) {
	return call[Token](ctx, c, http.MethodPost, route("tokens"), req)
}

// RevokeToken revokes an API token: the caller's own, or any (an admin).
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, route("tokens", id), nil, nil)
}
