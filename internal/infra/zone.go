package infra

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/apiclient"
	"github.com/airlock-rbi/airlock/internal/gateway"
	"github.com/airlock-rbi/airlock/internal/lifecycle"
	"github.com/airlock-rbi/airlock/internal/pki"
)

// The api's internal routes for the other roles (the gateway's
// authentication is gateway.AuthenticatePath).
const (
	// revokedPath lists the revoked certificate serials, for the
	// gateway's handshake.
	revokedPath = "/internal/v1/revoked"
	// roundPath runs one lifecycle round, for cron.
	roundPath = "/internal/v1/lifecycle/round"
)

// zoneDir holds role's certificate in the internal zone.
func zoneDir(data string, r Role) string { return filepath.Join(data, "zone", string(r)) }

// onlyFrom refuses a request whose verified peer has none of roles.
func onlyFrom(w http.ResponseWriter, r *http.Request, roles ...pki.Role) bool {
	role, ok := gateway.PeerRole(r)
	for _, want := range roles {
		if ok && role == want {
			return true
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": "forbidden",
		"message": fmt.Sprintf("%s %s is for the zone's %v only", r.Method, r.URL.Path, roles)})
	return false
}

func serveRevoked(st airlock.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !onlyFrom(w, r, pki.RoleGateway) {
			return
		}
		list, err := st.ListRevokedCerts(r.Context(), airlock.Now())
		if err != nil {
			http.Error(w, `{"code":"internal","message":"internal error"}`, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string][]string{"serials": list})
	})
}

// remoteRevoked reads the revoked serials from the api at base.
func remoteRevoked(base string, tlsCfg *tls.Config) (func(context.Context) ([]string, error), error) {
	c, err := apiclient.New(apiclient.Options{Server: base, TLS: tlsCfg, Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) ([]string, error) {
		var out struct{ Serials []string }
		if err := c.Do(ctx, http.MethodGet, revokedPath, nil, &out); err != nil {
			return nil, fmt.Errorf("revoked certificates from the api: %w", err)
		}
		return out.Serials, nil
	}, nil
}

// roundAnswer is what a round run for cron says: its error, if any (the
// api's log has the detail).
type roundAnswer struct {
	Error string `json:"error,omitempty"`
}

func serveRound(jobs *lifecycle.Jobs, reg *metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !onlyFrom(w, r, pki.RoleCron) {
			return
		}
		start := time.Now()
		err := jobs.Round(r.Context())
		reg.round(time.Since(start), err)
		var ans roundAnswer
		if err != nil {
			ans.Error = err.Error()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ans)
	})
}

// remoteCron asks the api in another process for a lifecycle round every
// interval: the api alone reads the store, and the round is its work.
type remoteCron struct {
	api   *apiclient.Client
	every time.Duration
	reg   *metrics
	log   *slog.Logger
}

func newRemoteCron(base string, tlsCfg *tls.Config, every time.Duration, reg *metrics, log *slog.Logger) (*remoteCron, error) {
	if every <= 0 {
		every = 5 * time.Second
	}
	// A round may take as long as its slowest node's answers.
	c, err := apiclient.New(apiclient.Options{Server: base, TLS: tlsCfg, Timeout: 2 * time.Minute})
	if err != nil {
		return nil, err
	}
	return &remoteCron{api: c, every: every, reg: reg, log: log}, nil
}

func (c *remoteCron) run(ctx context.Context) {
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		start := time.Now()
		var ans roundAnswer
		err := c.api.Do(ctx, http.MethodPost, roundPath, nil, &ans)
		if err == nil && ans.Error != "" {
			err = errors.New(ans.Error)
		}
		if ctx.Err() != nil {
			return
		}
		c.reg.round(time.Since(start), err)
		if err != nil {
			c.log.Error("lifecycle round at the api", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
