package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/pki"
)

// AuthenticatePath is the api's internal route that verifies a user's
// credential for a gateway in another process.
const AuthenticatePath = "/internal/v1/authenticate"

// RemoteAuth is an Authenticator in another process: the api's internal
// listener at base, reached with tlsCfg (the gateway's certificate). It
// asks on every request, without a cache of its own, so that a sign-out
// or a revoked token ends at once; the api keeps verified credentials
// for a few seconds and drops them when they are revoked.
func RemoteAuth(base string, tlsCfg *tls.Config) Authenticator {
	return &remoteAuth{url: strings.TrimSuffix(base, "/") + AuthenticatePath, client: &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsCfg, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
			ForceAttemptHTTP2: false},
	}}
}

type remoteAuth struct {
	url    string
	client *http.Client
}

// AuthenticateUser sends the request's credential and client address.
func (a *remoteAuth) AuthenticateUser(r *http.Request) (*Identity, error) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, nil)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"Authorization", "Cookie"} {
		if v := r.Header.Values(k); len(v) > 0 {
			req.Header[k] = v
		}
	}
	req.Header.Set(ClientAddrHeader, r.RemoteAddr)
	res, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("authenticate at the api: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("authenticate at the api: %w", err)
	}
	if res.StatusCode == http.StatusOK {
		var id Identity
		if err := json.Unmarshal(body, &id); err != nil || id.Kind != KindUser || id.UserID == "" {
			return nil, fmt.Errorf("authenticate at the api: an answer that is no identity: %.200s", body)
		}
		return &id, nil
	}
	var e struct{ Code, Message string }
	if json.Unmarshal(body, &e) == nil && e.Code != "" && res.StatusCode < 500 {
		return nil, &Refusal{Status: res.StatusCode, Code: e.Code, Message: e.Message}
	}
	return nil, fmt.Errorf("authenticate at the api: %s: %.200s", res.Status, body)
}

// ServeAuthenticate is the api's side of RemoteAuth: auth verifies the
// credential of the request a gateway peer forwarded; log gets what is
// not the caller's fault.
func ServeAuthenticate(auth Authenticator, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if role, ok := PeerRole(r); !ok || role != pki.RoleGateway {
			writeRefusal(w, &Refusal{Status: http.StatusForbidden, Code: "forbidden", Message: "only the gateway asks the api to verify a credential"})
			return
		}
		fwd, err := takeClient(r)
		if err != nil {
			writeRefusal(w, &Refusal{Status: http.StatusBadRequest, Code: "invalid", Message: err.Error()})
			return
		}
		id, err := auth.AuthenticateUser(fwd)
		if err != nil {
			var ref *Refusal
			if !errors.As(err, &ref) {
				log.Error("authenticate for the gateway", "err", err)
				ref = &Refusal{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
			}
			writeRefusal(w, ref)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(id)
	})
}
