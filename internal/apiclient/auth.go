package apiclient

import (
	"context"
	"net/http"
)

// LoginRequest is a sign-in with a password. Token asks for an API token
// named TokenName (the CLI, a script) instead of a browser's cookie.
type LoginRequest struct {
	User      string `json:"user"`
	Password  string `json:"password"`
	Token     bool   `json:"token,omitempty"`
	TokenName string `json:"token_name,omitempty"`
}

// LoginAnswer is who signed in and, when asked for, their new API token
// (shown this once).
type LoginAnswer struct {
	User  User   `json:"user"`
	Token string `json:"token,omitempty"`
}

// Login signs in with a password. The client goes on with its own token;
// WithToken makes one that sends the answer's.
func (c *Client) Login(ctx context.Context, req LoginRequest) (*LoginAnswer, error) {
	return call[LoginAnswer](ctx, c, http.MethodPost, route("auth", "login"), req)
}

// Logout ends the sign-in the client's token is (an API token is
// revoked). The answer's URL, for a browser signed in by single sign-on,
// is where it signs out at the identity provider too; it is empty for a
// token.
func (c *Client) Logout(ctx context.Context) (logoutURL string, err error) {
	var ans struct {
		LogoutURL string `json:"logout_url"`
	}
	if err := c.Do(ctx, http.MethodPost, route("auth", "logout"), nil, &ans); err != nil {
		return "", err
	}
	return ans.LogoutURL, nil
}

// Me is the signed-in user.
func (c *Client) Me(ctx context.Context) (*User, error) {
	return get[User](ctx, c, route("me"))
}
