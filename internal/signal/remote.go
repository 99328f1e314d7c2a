package signal

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/airlock-rbi/airlock/internal/apiclient"
	"github.com/airlock-rbi/airlock/internal/gateway"
	"github.com/airlock-rbi/airlock/internal/pki"
)

// RevokePath is the relay's internal route by which an api in another
// process cuts off a session's, a user's or a grant's connections.
const RevokePath = "/internal/v1/revoke"

// revokeRequest is RevokePath's body: one of its fields is set.
type revokeRequest struct {
	Session string `json:"session,omitempty"`
	User    string `json:"user,omitempty"`
	Grant   string `json:"grant,omitempty"`
}

// RevokeHandler serves RevokePath on the relay's internal listener, for
// api peers only.
func (s *Server) RevokeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if role, ok := gateway.PeerRole(r); !ok || role != pki.RoleAPI {
			writeError(w, http.StatusForbidden, "forbidden", "only the api revokes on the relay")
			return
		}
		var req revokeRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "invalid", "revoke: "+err.Error())
			return
		}
		switch {
		case req.Session != "":
			s.RevokeSession(req.Session)
		case req.User != "":
			s.RevokeUser(req.User)
		case req.Grant != "":
			s.RevokeGrant(req.Grant)
		default:
			writeError(w, http.StatusBadRequest, "invalid", "revoke: give session, user or grant")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// Remote is a relay in another process, as the api revokes on it: each
// revocation is sent at once and, while the relay does not answer, again
// with backoff for up to a minute (the log says when one is given up).
type Remote struct {
	api *apiclient.Client
	log *slog.Logger
	ctx context.Context
	wg  sync.WaitGroup
}

// NewRemote reaches the relay's internal listener at base with tlsCfg
// (the api's certificate); sends end with ctx.
func NewRemote(ctx context.Context, base string, tlsCfg *tls.Config, log *slog.Logger) (*Remote, error) {
	c, err := apiclient.New(apiclient.Options{Server: base, TLS: tlsCfg, Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("the relay at %s: %w", base, err)
	}
	return &Remote{api: c, log: log, ctx: ctx}, nil
}

func (r *Remote) RevokeSession(id string) { r.send(revokeRequest{Session: id}) }
func (r *Remote) RevokeUser(id string)    { r.send(revokeRequest{User: id}) }
func (r *Remote) RevokeGrant(id string)   { r.send(revokeRequest{Grant: id}) }

// Wait waits for the sends in flight (they end with the context).
func (r *Remote) Wait() { r.wg.Wait() }

func (r *Remote) send(req revokeRequest) {
	r.wg.Go(func() {
		backoff := 100 * time.Millisecond
		deadline := time.Now().Add(time.Minute)
		for {
			err := r.api.Do(r.ctx, http.MethodPost, RevokePath, req, nil)
			if err == nil {
				return
			}
			if time.Now().After(deadline) || r.ctx.Err() != nil {
				r.log.Error("revoke on the relay: given up", "revocation", req, "err", err)
				return
			}
			r.log.Warn("revoke on the relay: retrying", "revocation", req, "err", err)
			select {
			case <-r.ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
		}
	})
}
