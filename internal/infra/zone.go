package infra

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
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
func remoteRevoked(base string, tlsCfg *tls.Config) func(context.Context) ([]string, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	url := strings.TrimSuffix(base, "/") + revokedPath
	return func(ctx context.Context) ([]string, error) {
		var out struct{ Serials []string }
		if err := zoneCall(ctx, c, http.MethodGet, url, &out); err != nil {
			return nil, fmt.Errorf("revoked certificates from the api: %w", err)
		}
		return out.Serials, nil
	}
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
	url    string
	client *http.Client
	every  time.Duration
	reg    *metrics
	log    *slog.Logger
}

func newRemoteCron(base string, tlsCfg *tls.Config, every time.Duration, reg *metrics, log *slog.Logger) *remoteCron {
	if every <= 0 {
		every = 5 * time.Second
	}
	return &remoteCron{url: strings.TrimSuffix(base, "/") + roundPath, every: every, reg: reg, log: log,
		// A round may take as long as its slowest node's answers.
		client: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{TLSClientConfig: tlsCfg}}}
}

func (c *remoteCron) run(ctx context.Context) {
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		start := time.Now()
		var ans roundAnswer
		err := zoneCall(ctx, c.client, http.MethodPost, c.url, &ans)
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

// zoneCall makes a call with no body to a peer in the zone and decodes
// its JSON answer into out.
func zoneCall(ctx context.Context, c *http.Client, method, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %.300s", res.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, out)
}
