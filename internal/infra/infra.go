// Package infra assembles the infra server: it prepares the data directory
// (the deployment CA, the server's and the infra client's certificates),
// opens the store, makes the first admin, and serves the api over HTTPS
// while the lifecycle jobs run. `airlock server` and `airlock up` run it.
package infra

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/api"
	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/gateway"
	"github.com/airlock-rbi/airlock/internal/hostaddr"
	"github.com/airlock-rbi/airlock/internal/launcher"
	"github.com/airlock-rbi/airlock/internal/lifecycle"
	"github.com/airlock-rbi/airlock/internal/pki"
	"github.com/airlock-rbi/airlock/internal/portal"
	"github.com/airlock-rbi/airlock/internal/sessions"
	"github.com/airlock-rbi/airlock/internal/signal"
	"github.com/airlock-rbi/airlock/internal/store"
)

// Config configures the server. Zero values take the defaults named.
type Config struct {
	// DataDir holds the CA (DataDir/ca.pem), certificates, the key files
	// (signing-keys.json, turn-secret) and the SQLite database; the server
	// makes it private to its owner (0700). Default ./data.
	DataDir string
	// Listen is the HTTPS address. Default :8443.
	Listen string
	// Database is a postgres:// DSN, or empty for SQLite in DataDir.
	Database string
	// AgentURL is the api as seen from session containers. Default
	// https://host.docker.internal:<port>, with that name mapped to the
	// Docker host's gateway in every container.
	AgentURL string
	// AgentListen, when set, is a second HTTPS address serving the same
	// api, where session containers reach this host (the Docker bridge's
	// address) while Listen is loopback only. The default AgentURL then
	// names its port.
	AgentListen string
	// AdminPassword is the first admin's password; generated and printed
	// once when empty.
	AdminPassword string
	// Hosts are extra names or addresses for the server's certificate.
	Hosts []string
	// Workspaces is a YAML catalog file loaded at start (optional).
	Workspaces string
	// MetricsListen serves /metrics (plain HTTP) when set.
	MetricsListen string
	// TURNListen runs the embedded STUN/TURN server on this address (UDP
	// and TCP, e.g. ":3478") when set.
	TURNListen string
	// TURNTLSListen, with TURNListen, also serves TURN over TLS (turns:)
	// on this TCP address, with the server's certificate, for viewers on
	// networks that let only HTTPS out (port 443 there).
	TURNTLSListen string
	// TURNPublicIP is the relay address TURN advertises: the host's address
	// as browsers and session containers reach it.
	TURNPublicIP string
	// Door bounds what clients can hold of the HTTPS listener.
	Door gateway.Limits
	// AccessLog is where the gateway records every request, as JSON
	// lines: a file (appended to; default DataDir/access.log), "-" for
	// the server's own log, or "off".
	AccessLog string
	// TURNPeerNetworks are the session networks, comma-separated CIDRs:
	// the only peers TURN relays to. Required with TURNListen.
	TURNPeerNetworks string
	// TURNRelayPorts is the relay port range "MIN-MAX". Default
	// 49160-49200.
	TURNRelayPorts string
	// TURNMaxPerUser and TURNMaxPerSession bound the allocations a user
	// and a session hold at once. Defaults 10 and 4.
	TURNMaxPerUser, TURNMaxPerSession int
	// SSO offers single sign-on when its Issuer is set.
	SSO SSOConfig
	// Lifecycle tunes the periodic jobs.
	Lifecycle lifecycle.Config
	// SessionLimits are the deployment's session limits (workspaces
	// override them field by field); zero fields take
	// airlock.DefaultLimits.
	SessionLimits airlock.Limits
	// AgentHeartbeat is how often session agents report. Default 10s.
	AgentHeartbeat time.Duration
	// MaxSessions bounds a user's active sessions unless the user has a
	// limit of their own. Default 3.
	MaxSessions int
	// PasswordParams overrides the password hashing cost (tests).
	PasswordParams *auth.PasswordParams
	Logger         *slog.Logger
	// Out receives what an operator must read once (the first password).
	Out io.Writer
	// Ready, if set, is called with the bound address and the running
	// server once it listens.
	Ready func(addr string, s *Server)
}

// Server is a running infra server.
type Server struct {
	CA    *pki.CA
	Store airlock.Store
	API   *api.Server
	// Signer signs and verifies the api's tokens with the key files' keys.
	Signer *auth.Signer
	// SeccompProfiles are the names of the seccomp profiles the api has
	// (see SeccompProfiles), which workspaces may name.
	SeccompProfiles []string
	// Dirs of the certificate bundles it made.
	ServerDir, InfraDir string
	// AgentURL is the api as session containers reach it.
	AgentURL string
}

// Run serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.DataDir == "" {
		cfg.DataDir = "./data"
	}
	if cfg.Listen == "" {
		cfg.Listen = ":8443"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	log := cfg.Logger
	data, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if err := privateDataDir(data, log); err != nil {
		return err
	}
	cfg.DataDir = data
	ca, err := LoadOrInitCA(data, log)
	if err != nil {
		return err
	}
	if cfg.AgentURL == "" && cfg.AgentListen == "" && hostaddr.IsLoopback(cfg.Listen) {
		return fmt.Errorf("--listen %s is a loopback address, which session containers cannot reach: listen on an address they reach (e.g. --listen :8443), or set --agent-url to a URL of this server that they reach", cfg.Listen)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	var aln net.Listener
	if cfg.AgentListen != "" {
		if aln, err = net.Listen("tcp", cfg.AgentListen); err != nil {
			return fmt.Errorf("listen %s for session containers: %w", cfg.AgentListen, err)
		}
		defer aln.Close()
		_, port, _ = net.SplitHostPort(aln.Addr().String())
	}
	srv := &Server{CA: ca, ServerDir: filepath.Join(data, "server"), InfraDir: filepath.Join(data, "infra")}
	hosts := append([]string{"localhost", "127.0.0.1", "::1", "host.docker.internal"}, cfg.Hosts...)
	if cfg.TURNListen != "" && cfg.TURNPublicIP != "" {
		// turns: URLs name the public address: the certificate must hold it.
		hosts = append(hosts, cfg.TURNPublicIP)
	}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	renew := &renewer{ca: ca, log: log, certs: []ownCert{
		{srv.ServerDir, pki.IssueRequest{Role: pki.RoleInfra, Name: "airlock-server", Hosts: hosts}},
		{srv.InfraDir, pki.IssueRequest{Role: pki.RoleInfra, Name: "airlock-api"}},
	}}
	for _, c := range renew.certs {
		if err := IssueTo(ca, c.dir, c.req); err != nil {
			return err
		}
	}

	dsn := cfg.Database
	if dsn == "" {
		dsn = filepath.Join(data, "airlock.db")
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	srv.Store = st

	if err := moveSecretsOutOfStore(ctx, data, st, log); err != nil {
		return err
	}
	keys, err := newKeyReloader(data, log.With("component", "keys"))
	if err != nil {
		return err
	}
	signer := keys.signer
	srv.Signer = signer
	drv := launcher.New(func() (*tls.Config, error) { return pki.ClientTLSConfig(srv.InfraDir) }, launcher.RecordsFrom(st.ListNodes),
		ca.DeploymentID(), log.With("component", "launcher"))
	defer drv.Close()
	agentURL := cfg.AgentURL
	if agentURL == "" {
		agentURL = "https://host.docker.internal:" + port
	}
	srv.AgentURL = agentURL
	revoked, err := newRevocations(ctx, st, log)
	if err != nil {
		return err
	}
	ice, endTURN, closeTURN, err := startTURN(ctx, cfg, st, srv.ServerDir, log)
	if err != nil {
		return err
	}
	defer closeTURN()
	profiles, err := SeccompProfiles()
	if err != nil {
		return err
	}
	srv.SeccompProfiles = profileNames(profiles)
	// The api revokes on the relay directly: ending a session, deleting a
	// user or signing out closes those connections at once.
	relay := signal.New(signal.Options{Verifier: signer, Logger: log.With("component", "signal")})
	defer relay.Close()
	rev := revokeAll{relay: relay, endTURN: endTURN}
	srv.API, err = api.New(api.Options{
		Revoker: rev,
		ICE:     ice,
		Store:   st, Driver: drv, Signer: signer, AgentURL: agentURL, CAPEM: ca.CertPEM, CA: ca, OnRevoke: revoked.add,
		ExtraHosts:         []string{"host.docker.internal:host-gateway"},
		SeccompProfiles:    profiles,
		Logger:             log.With("component", "api"),
		PasswordParams:     cfg.PasswordParams,
		SessionLimits:      cfg.SessionLimits,
		NodeSilence:        sessions.NodeSilence(cfg.Lifecycle.Every),
		HeartbeatEvery:     cfg.AgentHeartbeat,
		DefaultMaxSessions: cfg.MaxSessions,
	})
	if err != nil {
		return err
	}
	defer srv.API.Close()
	if cfg.SSO.Issuer != "" {
		sso, err := newSSO(data, cfg.SSO, log.With("component", "sso"))
		if err != nil {
			return err
		}
		go sso.run(ctx, srv.API)
	}
	if err := firstAdmin(ctx, srv.API, st, cfg.AdminPassword, cfg.Out); err != nil {
		return err
	}
	if cfg.Workspaces != "" {
		if err := LoadWorkspaces(ctx, st, cfg.Workspaces, srv.SeccompProfiles); err != nil {
			return err
		}
	}

	tlsCfg, err := pki.PublicServerTLSConfig(srv.ServerDir, revoked.has)
	if err != nil {
		return err
	}
	access, closeAccess, err := openAccessLog(cfg.AccessLog, data, log)
	if err != nil {
		return err
	}
	defer closeAccess()
	reg := newMetrics(st)
	gw, err := gateway.New(gateway.Config{
		Routes: append(srv.API.GatewayRoutes("api"),
			gateway.Route{Pattern: "/api/v1/signal", Policy: gateway.Public, Service: "signal"},
			gateway.Route{Pattern: "GET /healthz", Policy: gateway.Public, Service: "health"},
			// The web portal takes every path the api does not; the
			// portal itself refuses /api paths.
			gateway.Route{Pattern: "/", Policy: gateway.Public, Service: "portal"}),
		Services: map[string]http.Handler{
			"api": srv.API, "signal": relay, "portal": portal.Handler(), "health": http.HandlerFunc(healthz),
		},
		Auth:      srv.API,
		Limits:    cfg.Door,
		AccessLog: access,
		Observe:   reg.observe,
		Logger:    log.With("component", "gateway"),
	})
	if err != nil {
		return err
	}
	hs := gateway.NewServer(gw, tlsCfg, slog.NewLogLogger(log.Handler(), slog.LevelDebug), cfg.Door)

	var mln net.Listener
	if cfg.MetricsListen != "" {
		if mln, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { revoked.run(ctx) })
	wg.Go(func() { renew.run(ctx) })
	wg.Go(func() { keys.run(ctx) })
	if mln != nil {
		ms := &http.Server{Handler: reg.handler(), ReadHeaderTimeout: 10 * time.Second}
		wg.Go(func() { _ = ms.Serve(mln) })
		wg.Go(func() { <-ctx.Done(); ms.Close() })
	}
	errc := make(chan error, 2)
	go func() { errc <- hs.ServeTLS(ln, "", "") }()
	log.Info("infra server listening", "addr", ln.Addr().String(), "agent_url", agentURL, "data", data)
	if aln != nil {
		go func() { errc <- hs.ServeTLS(aln, "", "") }()
		log.Info("infra server also listening for session containers", "addr", aln.Addr().String())
	}
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String(), srv)
	}
	// After Ready, so a node started beside the server is up before the
	// first liveness round judges it.
	// The jobs end sessions through the api's session service: an agent
	// gone silent or a container that exited loses its viewers and
	// relays at once, as a user's end does.
	lc := cfg.Lifecycle
	lc.OnRound = reg.round
	jobs := lifecycle.New(st, drv, srv.API.Sessions(), lc, log.With("component", "lifecycle"), nil)
	wg.Go(func() { jobs.Run(ctx) })
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = hs.Shutdown(sctx)
		scancel()
		serveErr = <-errc
	}
	if aln != nil {
		// Either listener ending ends both.
		_ = hs.Close()
		if err := <-errc; serveErr == nil || errors.Is(serveErr, http.ErrServerClosed) {
			serveErr = err
		}
	}
	cancel()
	wg.Wait()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	return nil
}

// openAccessLog opens the gateway's access log as AccessLog says.
func openAccessLog(where, data string, log *slog.Logger) (*slog.Logger, func(), error) {
	switch where {
	case "off":
		return nil, func() {}, nil
	case "-":
		return log.With("log", "access"), func() {}, nil
	case "":
		where = filepath.Join(data, "access.log")
	}
	f, err := os.OpenFile(where, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("access log: %w", err)
	}
	return slog.New(slog.NewJSONHandler(f, nil)), func() { _ = f.Close() }, nil
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok\n")
}

func randomKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

// firstAdmin makes the admin account of a new deployment and prints its
// password once.
func firstAdmin(ctx context.Context, a *api.Server, st airlock.Store, password string, out io.Writer) error {
	n, err := st.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	shown := password == ""
	if shown {
		password = auth.GeneratePassword()
	}
	if _, err := a.CreateUser(ctx, "admin", password, airlock.RoleAdmin, 0); err != nil {
		return fmt.Errorf("first admin: %w", err)
	}
	if shown {
		fmt.Fprintf(out, "\nFirst admin account: user admin, password %s\n(shown once; change it or set AIRLOCK_ADMIN_PASSWORD before the first start)\n\n", password)
	}
	return nil
}

// LoadOrInitCA loads the CA in dir, creating it on first start.
func LoadOrInitCA(dir string, log *slog.Logger) (*pki.CA, error) {
	ca, err := pki.LoadCA(dir)
	if err == nil {
		return ca, nil
	}
	if _, statErr := os.Stat(filepath.Join(dir, "ca.pem")); !errors.Is(statErr, fs.ErrNotExist) {
		return nil, err
	}
	ca, err = pki.InitCA(dir)
	if err != nil {
		return nil, err
	}
	log.Info("created deployment CA", "dir", dir, "fingerprint", ca.Fingerprint())
	return ca, nil
}

// IssueTo writes a fresh certificate for req into dir.
func IssueTo(ca *pki.CA, dir string, req pki.IssueRequest) error {
	b, err := ca.Issue(req)
	if err != nil {
		return fmt.Errorf("issue %s certificate: %w", req.Role, err)
	}
	return pki.WriteBundle(dir, b)
}

func newNodeID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// revokeAll revokes on the signal relay and, for an ended session, on
// TURN: its viewers' relays close at once rather than at the next sweep.
type revokeAll struct {
	relay   *signal.Server
	endTURN func(session string)
}

func (r revokeAll) RevokeSession(id string) {
	r.relay.RevokeSession(id)
	r.endTURN(id)
}

func (r revokeAll) RevokeUser(id string)  { r.relay.RevokeUser(id) }
func (r revokeAll) RevokeGrant(id string) { r.relay.RevokeGrant(id) }
