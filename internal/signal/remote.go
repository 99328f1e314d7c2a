package signal

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

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
			http.Error(w, `{"code":"forbidden","message":"only the api revokes on the relay"}`, http.StatusForbidden)
			return
		}
		var req revokeRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			http.Error(w, fmt.Sprintf(`{"code":"invalid","message":%q}`, "revoke: "+err.Error()), http.StatusBadRequest)
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
			http.Error(w, `{"code":"invalid","message":"revoke: give session, user or grant"}`, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// Remote is a relay in another process, as the api revokes on it: each
// revocation is sent at once and, while the relay does not answer, again
// with backoff for up to a minute (the log says when one is given up).
type Remote struct {
	url    string
	client *http.Client
	log    *slog.Logger
	ctx    context.Context
	wg     sync.WaitGroup
}

// NewRemote reaches the relay's internal listener at base with tlsCfg
// (the api's certificate); sends end with ctx.
func NewRemote(ctx context.Context, base string, tlsCfg *tls.Config, log *slog.Logger) *Remote {
	return &Remote{url: strings.TrimSuffix(base, "/") + RevokePath, log: log, ctx: ctx, client: &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsCfg, MaxIdleConnsPerHost: 8, IdleConnTimeout: 90 * time.Second},
	}}
}

func (r *Remote) RevokeSession(id string) { r.send(revokeRequest{Session: id}) }
func (r *Remote) RevokeUser(id string)    { r.send(revokeRequest{User: id}) }
func (r *Remote) RevokeGrant(id string)   { r.send(revokeRequest{Grant: id}) }

// Wait waits for the sends in flight (they end with the context).
func (r *Remote) Wait() { r.wg.Wait() }

func (r *Remote) send(req revokeRequest) {
	body, _ := json.Marshal(req) // strings only
	r.wg.Go(func() {
		backoff := 100 * time.Millisecond
		deadline := time.Now().Add(time.Minute)
		for {
			err := r.post(body)
			if err == nil {
				return
			}
			if time.Now().After(deadline) || r.ctx.Err() != nil {
				r.log.Error("revoke on the relay: given up", "revocation", string(body), "err", err)
				return
			}
			r.log.Warn("revoke on the relay: retrying", "revocation", string(body), "err", err)
			select {
			case <-r.ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
		}
	})
}

func (r *Remote) post(body []byte) error {
	req, err := http.NewRequestWithContext(r.ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("%s: %s", res.Status, bytes.TrimSpace(msg))
	}
	return nil
}
