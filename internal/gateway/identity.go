package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Kind is what sort of caller an Identity is.
type Kind string

const (
	// KindUser is a signed-in user, by web session cookie or API token.
	KindUser Kind = "user"
)

// Identity is a caller the gateway verified. A service behind the gateway
// reads it with IdentityFrom and does not authenticate again.
type Identity struct {
	Kind Kind `json:"kind"`
	// UserID and UserName name the user; Role is their Airlock role
	// ("admin" or "user").
	UserID   string `json:"user_id,omitempty"`
	UserName string `json:"user_name,omitempty"`
	Role     string `json:"role,omitempty"`
	// TokenID is the API token or web session the caller used: revoking
	// it ends this identity.
	TokenID string `json:"token_id,omitempty"`
	// Web is set when the credential was a browser's session cookie
	// rather than an API token.
	Web bool `json:"web,omitempty"`
	// Local is what an Authenticator in the same process already loaded
	// for the service it fronts (the api keeps the user record here, so
	// it does not read it twice). It never leaves the process.
	Local any `json:"-"`
}

type identityKey struct{}

// WithIdentity returns ctx carrying id. Only the gateway, and the side of
// an internal listener that checked its peer's certificate, call it: a
// context value cannot come from a client.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom is the verified caller of a request, or nil when the
// request did not come through the gateway or the route is public.
func IdentityFrom(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}

// IdentityHeader carries a verified identity from the gateway to a
// service in another process, over the internal zone's mutual TLS. A
// client's own is always removed (see stripClientHeaders).
const IdentityHeader = "Airlock-Identity"

// encodeIdentity is the header value: base64url of the JSON form, so no
// field can break the header's syntax.
func encodeIdentity(id *Identity) string {
	b, _ := json.Marshal(id) // a struct of strings and a bool cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeIdentity parses an IdentityHeader value.
func DecodeIdentity(v string) (*Identity, error) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("%s header: not base64url: %w", IdentityHeader, err)
	}
	var id Identity
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&id); err != nil {
		return nil, fmt.Errorf("%s header: %w", IdentityHeader, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s header: data after the identity", IdentityHeader)
	}
	if id.Kind != KindUser || id.UserID == "" {
		return nil, fmt.Errorf("%s header: kind %q with user %q is not an identity the gateway issues", IdentityHeader, id.Kind, id.UserID)
	}
	return &id, nil
}

// clientHeaders are the request headers that claim an identity or a
// forwarding path. None may come from a client: a service trusting
// X-Forwarded-For or a user header would let anyone be anyone.
var clientHeaders = []string{
	IdentityHeader,
	ClientAddrHeader,
	ClientCertHeader,
	"Forwarded",
	"X-Forwarded-For",
	"X-Forwarded-Host",
	"X-Forwarded-Proto",
	"X-Forwarded-Port",
	"X-Forwarded-Prefix",
	"X-Forwarded-User",
	"X-Forwarded-Email",
	"X-Forwarded-Groups",
	"X-Real-Ip",
	"X-Client-Ip",
	"X-Remote-User",
	"X-Remote-Group",
	"X-Auth-Request-User",
	"X-Auth-Request-Email",
	"Remote-User",
	"True-Client-Ip",
	"Cf-Connecting-Ip",
}

// stripClientHeaders removes clientHeaders and anything under the
// X-Airlock- prefix, which is Airlock's to set.
func stripClientHeaders(h http.Header) {
	for _, k := range clientHeaders {
		delete(h, k)
	}
	for k := range h {
		if strings.HasPrefix(k, "X-Airlock-") {
			delete(h, k)
		}
	}
}
