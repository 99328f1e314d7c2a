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
	"slices"
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
	"github.com/airlock-rbi/airlock/internal/scheduler"
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
	// Placement is how launched sessions are placed on the nodes;
	// default scheduler.Spread.
	Placement scheduler.Strategy
	// PasswordParams overrides the password hashing cost (tests).
	PasswordParams *auth.PasswordParams
	Logger         *slog.Logger
	// Out receives what an operator must read once (the first password).
	Out io.Writer
	// Ready, if set, is called with the bound address and the running
	// server once it listens.
	Ready func(addr string, s *Server)
	// Roles are the roles this process runs; empty: all, in one process,
	// wired in memory.
	Roles Roles
	// Zone is where the roles of a split deployment listen and are
	// reached (unused when every role runs here).
	Zone Zone
}

// Server is a running infra server.
type Server struct {
	CA *pki.CA
	// Roles are those this process runs; Addrs the address each of its
	// listeners bound: the gateway's public one, and in a split
	// deployment the internal ones.
	Roles Roles
	Addrs map[Role]string
	// Store, API and Signer are the api role's (nil without it; Signer
	// is the relay's too).
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

// Run serves until ctx ends: every role in this process, wired in
// memory (cfg.Roles empty), or some of them, each reaching the others
// over the internal zone's mutual TLS (see Zone).
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
	roles := cfg.Roles
	if len(roles) == 0 {
		roles = slices.Clone(AllRoles)
	}
	split := !roles.All()
	if split {
		cfg.Zone.defaults()
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
	var ca *pki.CA
	if roles.Has(RoleAPI) {
		ca, err = LoadOrInitCA(data, log)
	} else if ca, err = pki.LoadCA(data); err != nil {
		err = fmt.Errorf("the deployment CA in %s (the api role makes it: start that first, with the same --data): %w", data, err)
	}
	if err != nil {
		return err
	}
	srv := &Server{CA: ca, ServerDir: filepath.Join(data, "server"), InfraDir: filepath.Join(data, "infra"), Roles: roles, Addrs: map[Role]string{}}

	// The public listener is the gateway's.
	var ln, aln net.Listener
	port := ""
	if roles.Has(RoleGateway) {
		if cfg.AgentURL == "" && cfg.AgentListen == "" && hostaddr.IsLoopback(cfg.Listen) {
			return fmt.Errorf("--listen %s is a loopback address, which session containers cannot reach: listen on an address they reach (e.g. --listen :8443), or set --agent-url to a URL of this server that they reach", cfg.Listen)
		}
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen %s: %w", cfg.Listen, err)
		}
		defer ln.Close()
		_, port, _ = net.SplitHostPort(ln.Addr().String())
		srv.Addrs[RoleGateway] = ln.Addr().String()
		if cfg.AgentListen != "" {
			if aln, err = net.Listen("tcp", cfg.AgentListen); err != nil {
				return fmt.Errorf("listen %s for session containers: %w", cfg.AgentListen, err)
			}
			defer aln.Close()
			_, port, _ = net.SplitHostPort(aln.Addr().String())
		}
	} else if roles.Has(RoleAPI) && cfg.AgentURL == "" {
		return fmt.Errorf("the api runs without the gateway here: give --agent-url, the gateway's URL as session containers reach it")
	}

	hosts := append([]string{"localhost", "127.0.0.1", "::1", "host.docker.internal"}, cfg.Hosts...)
	if cfg.TURNListen != "" && cfg.TURNPublicIP != "" {
		// turns: URLs name the public address: the certificate must hold it.
		hosts = append(hosts, cfg.TURNPublicIP)
	}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	renew := &renewer{ca: ca, log: log}
	if roles.Has(RoleGateway) {
		// The public listener's, and TURN's over TLS when the api is here.
		renew.certs = append(renew.certs, ownCert{srv.ServerDir, pki.IssueRequest{Role: pki.RoleInfra, Name: "airlock-server", Hosts: hosts}})
	} else if roles.Has(RoleAPI) {
		// An api without the gateway serves TURN over TLS with its zone
		// certificate: DATA/server is the gateway's to write.
		srv.ServerDir = zoneDir(data, RoleAPI)
	}
	if roles.Has(RoleAPI) {
		renew.certs = append(renew.certs, ownCert{srv.InfraDir, pki.IssueRequest{Role: pki.RoleInfra, Name: "airlock-api"}})
	}
	if split {
		// Each role's certificate in the zone, client and server.
		for _, r := range roles {
			renew.certs = append(renew.certs, ownCert{zoneDir(data, r), pki.IssueRequest{Role: pki.Role(r), Name: "airlock-" + string(r), Hosts: hosts}})
		}
	}
	for _, c := range renew.certs {
		if err := IssueTo(ca, c.dir, c.req); err != nil {
			return err
		}
	}
	zoneClient := func(r Role) (*tls.Config, error) { return pki.ClientTLSConfig(zoneDir(data, r)) }

	// On the way out the background work stops first, then what it
	// used closes, last made first.
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var closers []func()
	defer func() {
		cancel()
		wg.Wait()
		for _, c := range slices.Backward(closers) {
			c()
		}
	}()
	wg.Go(func() { renew.run(ctx) })

	// The signing keys: the api signs with them, the relay verifies. The
	// api makes the key file; the relay alone reads it.
	var keys *keyReloader
	var st airlock.Store
	if roles.Has(RoleAPI) {
		dsn := cfg.Database
		if dsn == "" {
			dsn = filepath.Join(data, "airlock.db")
		}
		db, err := store.Open(ctx, dsn)
		if err != nil {
			return err
		}
		closers = append(closers, func() { db.Close() })
		st, srv.Store = db, db
		if err := moveSecretsOutOfStore(ctx, data, st, log); err != nil {
			return err
		}
	}
	if roles.Has(RoleAPI) || roles.Has(RoleSignal) {
		if keys, err = newKeyReloader(data, log.With("component", "keys")); err != nil {
			if !roles.Has(RoleAPI) {
				return fmt.Errorf("%w (the api role makes them: start it first, with the same --data)", err)
			}
			return err
		}
		srv.Signer = keys.signer
		wg.Go(func() { keys.run(ctx) })
	}

	var relay *signal.Server
	if roles.Has(RoleSignal) {
		relay = signal.New(signal.Options{Verifier: keys.signer, Logger: log.With("component", "signal")})
		closers = append(closers, relay.Close)
	}

	var revoked *revocations
	var jobs *lifecycle.Jobs
	reg := newMetrics(st)
	if roles.Has(RoleAPI) {
		var closeAPI func()
		jobs, revoked, closeAPI, err = startAPI(ctx, cfg, srv, relay, port, reg, log, zoneClient)
		if err != nil {
			return err
		}
		closers = append(closers, closeAPI)
		wg.Go(func() { revoked.run(ctx) })
	}

	errc := make(chan error, 8)
	var servers []*http.Server
	serve := func(hs *http.Server, l net.Listener) {
		servers = append(servers, hs)
		go func() { errc <- hs.ServeTLS(l, "", "") }()
	}
	errorLog := slog.NewLogLogger(log.Handler(), slog.LevelDebug)

	if roles.Has(RoleGateway) {
		hs, closeGW, err := startGateway(ctx, cfg, srv, relay, revoked, reg, log, zoneClient, &wg)
		if err != nil {
			return err
		}
		closers = append(closers, closeGW)
		serve(hs, ln)
		log.Info("infra server listening", "addr", ln.Addr().String(), "agent_url", srv.AgentURL, "data", data, "roles", roles.String())
		if aln != nil {
			serve(hs, aln)
			log.Info("infra server also listening for session containers", "addr", aln.Addr().String())
		}
	}
	if split {
		// Each internal listener admits the zone's roles that call it.
		internal := map[Role]struct {
			listen string
			h      http.Handler
		}{}
		if roles.Has(RoleAPI) {
			mux := http.NewServeMux()
			mux.Handle("POST "+gateway.AuthenticatePath, gateway.ServeAuthenticate(srv.API, log.With("component", "api")))
			mux.Handle("GET "+revokedPath, serveRevoked(st))
			mux.Handle("POST "+roundPath, serveRound(jobs, reg))
			mux.Handle("/", gateway.Internal(srv.API))
			internal[RoleAPI] = struct {
				listen string
				h      http.Handler
			}{cfg.Zone.APIListen, mux}
		}
		if roles.Has(RoleSignal) {
			mux := http.NewServeMux()
			mux.Handle("POST "+signal.RevokePath, relay.RevokeHandler())
			mux.Handle("/", gateway.Internal(relay))
			internal[RoleSignal] = struct {
				listen string
				h      http.Handler
			}{cfg.Zone.SignalListen, mux}
		}
		if roles.Has(RolePortal) {
			internal[RolePortal] = struct {
				listen string
				h      http.Handler
			}{cfg.Zone.PortalListen, gateway.Internal(portal.Handler())}
		}
		for _, r := range AllRoles {
			in, ok := internal[r]
			if !ok {
				continue
			}
			tlsCfg, err := pki.ServerTLSConfig(zoneDir(data, r), callers[r]...)
			if err != nil {
				return err
			}
			l, err := net.Listen("tcp", in.listen)
			if err != nil {
				return fmt.Errorf("listen %s for the %s role: %w", in.listen, r, err)
			}
			defer l.Close()
			srv.Addrs[r] = l.Addr().String()
			serve(gateway.NewServer(in.h, tlsCfg, errorLog, cfg.Door), l)
			log.Info("internal listener", "role", r, "addr", l.Addr().String(), "admits", callers[r])
		}
	}

	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		ms := &http.Server{Handler: reg.handler(), ReadHeaderTimeout: 10 * time.Second}
		wg.Go(func() { _ = ms.Serve(mln) })
		wg.Go(func() { <-ctx.Done(); ms.Close() })
	}
	if cfg.Ready != nil {
		addr := ""
		if ln != nil {
			addr = ln.Addr().String()
		}
		cfg.Ready(addr, srv)
	}
	// After Ready, so a node started beside the server is up before the
	// first liveness round judges it.
	if roles.Has(RoleCron) {
		if jobs != nil {
			// The jobs end sessions through the api's session service: an
			// agent gone silent or a container that exited loses its
			// viewers and relays at once, as a user's end does.
			wg.Go(func() { jobs.Run(ctx) })
		} else {
			tlsCfg, err := zoneClient(RoleCron)
			if err != nil {
				return err
			}
			c, err := newRemoteCron(cfg.Zone.APIURL, tlsCfg, cfg.Lifecycle.Every, reg, log.With("component", "cron"))
			if err != nil {
				return err
			}
			wg.Go(func() { c.run(ctx) })
		}
	}
	if len(servers) == 0 {
		// Cron alone: it runs until ctx ends.
		<-ctx.Done()
		return nil
	}
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		for _, hs := range servers {
			_ = hs.Shutdown(sctx)
		}
		scancel()
		serveErr = <-errc
	}
	// Any listener ending ends them all.
	for _, hs := range servers {
		_ = hs.Close()
	}
	for range len(servers) - 1 {
		if err := <-errc; serveErr == nil || errors.Is(serveErr, http.ErrServerClosed) {
			serveErr = err
		}
	}
	cancel()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	return nil
}

// startAPI makes the api: the launcher, the revocation list, TURN, the
// api server (in srv.API), single sign-on, the first admin and the
// catalog, and the lifecycle jobs it returns (run by the cron role).
// relay is this process's relay, or nil when the relay runs elsewhere.
func startAPI(ctx context.Context, cfg Config, srv *Server, relay *signal.Server, port string, reg *metrics, log *slog.Logger,
	zoneClient func(Role) (*tls.Config, error)) (jobs *lifecycle.Jobs, revoked *revocations, cleanup func(), err error) {
	st, data, ca := srv.Store, cfg.DataDir, srv.CA
	var closers []func()
	closeAll := func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	drv := launcher.New(func() (*tls.Config, error) { return pki.ClientTLSConfig(srv.InfraDir) }, launcher.RecordsFrom(st.ListNodes),
		ca.DeploymentID(), log.With("component", "launcher"))
	closers = append(closers, func() { drv.Close() })
	agentURL := cfg.AgentURL
	if agentURL == "" {
		agentURL = "https://host.docker.internal:" + port
	}
	srv.AgentURL = agentURL
	if revoked, err = newRevocations(ctx, st, log); err != nil {
		return nil, nil, nil, err
	}
	ice, endTURN, closeTURN, err := startTURN(ctx, cfg, st, srv.ServerDir, log)
	if err != nil {
		return nil, nil, nil, err
	}
	closers = append(closers, closeTURN)
	profiles, err := SeccompProfiles()
	if err != nil {
		return nil, nil, nil, err
	}
	srv.SeccompProfiles = profileNames(profiles)
	// The api revokes on the relay directly when it is here, else over
	// the zone: ending a session, deleting a user or signing out closes
	// those connections at once.
	rev := revokeAll{endTURN: endTURN}
	if relay != nil {
		rev.relay = relay
	} else {
		tlsCfg, err := zoneClient(RoleAPI)
		if err != nil {
			return nil, nil, nil, err
		}
		remote, err := signal.NewRemote(ctx, cfg.Zone.SignalURL, tlsCfg, log.With("component", "revoke"))
		if err != nil {
			return nil, nil, nil, err
		}
		rev.relay = remote
		closers = append(closers, remote.Wait)
	}
	srv.API, err = api.New(api.Options{
		Revoker: rev,
		ICE:     ice,
		Store:   st, Driver: drv, Signer: srv.Signer, AgentURL: agentURL, CAPEM: ca.CertPEM, CA: ca, OnRevoke: revoked.add,
		ExtraHosts:         []string{"host.docker.internal:host-gateway"},
		SeccompProfiles:    profiles,
		Logger:             log.With("component", "api"),
		PasswordParams:     cfg.PasswordParams,
		SessionLimits:      cfg.SessionLimits,
		NodeSilence:        sessions.NodeSilence(cfg.Lifecycle.Every),
		Placement:          cfg.Placement,
		HeartbeatEvery:     cfg.AgentHeartbeat,
		DefaultMaxSessions: cfg.MaxSessions,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	closers = append(closers, srv.API.Close)
	if cfg.SSO.Issuer != "" {
		sso, err := newSSO(data, cfg.SSO, st, log.With("component", "sso"))
		if err != nil {
			return nil, nil, nil, err
		}
		go sso.run(ctx, srv.API)
	}
	if err := firstAdmin(ctx, srv.API, st, cfg.AdminPassword, cfg.Out); err != nil {
		return nil, nil, nil, err
	}
	if cfg.Workspaces != "" {
		if err := LoadWorkspaces(ctx, st, cfg.Workspaces, srv.SeccompProfiles); err != nil {
			return nil, nil, nil, err
		}
	}
	lc := cfg.Lifecycle
	lc.OnRound = reg.round
	jobs = lifecycle.New(st, drv, srv.API.Sessions(), lc, log.With("component", "lifecycle"), nil)
	return jobs, revoked, closeAll, nil
}

// startGateway makes the public listener's server: the gateway in front
// of this process's services and, over the zone, the others'. What it
// runs in the background (the remote revocation list) joins wg.
func startGateway(ctx context.Context, cfg Config, srv *Server, relay *signal.Server, revoked *revocations, reg *metrics, log *slog.Logger,
	zoneClient func(Role) (*tls.Config, error), wg *sync.WaitGroup) (*http.Server, func(), error) {
	services := map[string]http.Handler{"health": http.HandlerFunc(healthz)}
	var auth gateway.Authenticator
	var routes []gateway.Route
	var zoneTLS *tls.Config
	if !srv.Roles.All() {
		var err error
		if zoneTLS, err = zoneClient(RoleGateway); err != nil {
			return nil, nil, err
		}
	}
	remote := func(url string) (http.Handler, error) {
		return gateway.Remote(url, gateway.RemoteOptions{TLS: zoneTLS, Logger: log.With("component", "gateway")})
	}
	var err error
	if srv.API != nil {
		services["api"], auth, routes = srv.API, srv.API, srv.API.GatewayRoutes("api")
	} else {
		if services["api"], err = remote(cfg.Zone.APIURL); err != nil {
			return nil, nil, err
		}
		auth, routes = gateway.RemoteAuth(cfg.Zone.APIURL, zoneTLS), api.GatewayRouteTable("api")
		// The handshake refuses revoked node certificates: the list is
		// the api's, asked for again every few seconds.
		list, err := remoteRevoked(cfg.Zone.APIURL, zoneTLS)
		if err != nil {
			return nil, nil, err
		}
		if revoked, err = newRevocationsFrom(ctx, list, log); err != nil {
			return nil, nil, err
		}
		wg.Go(func() { revoked.run(ctx) })
	}
	if relay != nil {
		services["signal"] = relay
	} else if services["signal"], err = remote(cfg.Zone.SignalURL); err != nil {
		return nil, nil, err
	}
	if srv.Roles.Has(RolePortal) {
		services["portal"] = portal.Handler()
	} else if services["portal"], err = remote(cfg.Zone.PortalURL); err != nil {
		return nil, nil, err
	}
	tlsCfg, err := pki.PublicServerTLSConfig(srv.ServerDir, revoked.has)
	if err != nil {
		return nil, nil, err
	}
	access, closeAccess, err := openAccessLog(cfg.AccessLog, cfg.DataDir, log)
	if err != nil {
		return nil, nil, err
	}
	gw, err := gateway.New(gateway.Config{
		Routes: append(routes,
			gateway.Route{Pattern: "/api/v1/signal", Policy: gateway.Public, Service: "signal"},
			gateway.Route{Pattern: "GET /healthz", Policy: gateway.Public, Service: "health"},
			// The web portal takes every path the api does not; the
			// portal itself refuses /api paths.
			gateway.Route{Pattern: "/", Policy: gateway.Public, Service: "portal"}),
		Services:  services,
		Auth:      auth,
		Limits:    cfg.Door,
		AccessLog: access,
		Observe:   reg.observe,
		Logger:    log.With("component", "gateway"),
	})
	if err != nil {
		closeAccess()
		return nil, nil, err
	}
	return gateway.NewServer(gw, tlsCfg, slog.NewLogLogger(log.Handler(), slog.LevelDebug), cfg.Door), closeAccess, nil
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

// revokeAll revokes on the signal relay (here or over the zone) and, for
// an ended session, on TURN: its viewers' relays close at once rather
// than at the next sweep.
type revokeAll struct {
	relay interface {
		RevokeSession(id string)
		RevokeUser(id string)
		RevokeGrant(id string)
	}
	endTURN func(session string)
}

func (r revokeAll) RevokeSession(id string) {
	r.relay.RevokeSession(id)
	r.endTURN(id)
}

func (r revokeAll) RevokeUser(id string)  { r.relay.RevokeUser(id) }
func (r revokeAll) RevokeGrant(id string) { r.relay.RevokeGrant(id) }
