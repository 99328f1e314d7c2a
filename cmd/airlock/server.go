package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/infra"
	"github.com/airlock-rbi/airlock/internal/scheduler"
)

func runServer(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	if len(args) > 0 && args[0] == "join-token" {
		return runJoinToken(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "rotate-keys" {
		return runRotateKeys(args[1:], stdout, stderr)
	}
	fs := newFlags("server", stderr)
	var cfg infra.Config
	infraFlags(fs, &cfg, "")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", "127.0.0.1:9377", "address of the plain-HTTP /metrics listener (empty: off)")
	var hosts stringList
	fs.Var(&hosts, "host", "extra DNS name or IP address for the server certificate (repeatable)")
	fs.Func("roles", "the roles this process runs, comma-separated: gateway, api, signal, cron, portal (default all, in one process)", func(v string) error {
		r, err := infra.ParseRoles(v)
		cfg.Roles = r
		return err
	})
	z := &cfg.Zone
	fs.StringVar(&z.APIListen, "api-listen", "", "split deployment: the api role's internal listener (default 127.0.0.1:8444)")
	fs.StringVar(&z.SignalListen, "signal-listen", "", "split deployment: the signal role's internal listener (default 127.0.0.1:8445)")
	fs.StringVar(&z.PortalListen, "portal-listen", "", "split deployment: the portal role's internal listener (default 127.0.0.1:8446)")
	fs.StringVar(&z.APIURL, "api-url", "", "split deployment: where the other roles reach the api (default https://127.0.0.1:8444)")
	fs.StringVar(&z.SignalURL, "signal-url", "", "split deployment: where the gateway and the api reach the relay (default https://127.0.0.1:8445)")
	fs.StringVar(&z.PortalURL, "portal-url", "", "split deployment: where the gateway reaches the portal (default https://127.0.0.1:8446)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg.Hosts = hosts
	cfg.AdminPassword = os.Getenv("AIRLOCK_ADMIN_PASSWORD")
	cfg.Logger = log.With("component", "server")
	cfg.Out = stdout
	return infra.Run(ctx, cfg)
}

// infraFlags declares the infra server's flags that `airlock server` and
// `airlock up` share; turnListen is --turn-listen's default (airlock up
// runs TURN by default, airlock server only when asked).
func infraFlags(fs *flag.FlagSet, cfg *infra.Config, turnListen string) {
	fs.StringVar(&cfg.DataDir, "data", "./data", "data directory: CA (DIR/ca.pem), certificates, SQLite database")
	fs.StringVar(&cfg.Listen, "listen", ":8443", "HTTPS address of the api")
	fs.StringVar(&cfg.AgentURL, "agent-url", "", "the api's URL as seen from session containers (default https://host.docker.internal:PORT)")
	fs.StringVar(&cfg.SSO.Issuer, "sso-issuer", "", "single sign-on: the OpenID Connect provider's issuer URL (empty: off)")
	fs.StringVar(&cfg.SSO.ClientID, "sso-client-id", "", "single sign-on: Airlock's client ID at the provider")
	fs.StringVar(&cfg.SSO.ClientSecretFile, "sso-client-secret-file", "", "single sign-on: a file holding the client secret (empty: a public client, PKCE only)")
	fs.StringVar(&cfg.SSO.PublicURL, "public-url", "", "this server as browsers reach it, https://host[:port] (single sign-on sends them back to PUBLIC-URL/api/v1/auth/sso/callback)")
	fs.StringVar(&cfg.SSO.Name, "sso-name", "", "single sign-on: the provider's name on the sign-in page (\"Sign in with NAME\")")
	fs.StringVar(&cfg.SSO.GroupsClaim, "sso-groups-claim", "", "single sign-on: the ID token claim with the user's groups (default groups)")
	fs.StringVar(&cfg.SSO.CAFile, "sso-ca-file", "", "single sign-on: the PEM CA of the provider's certificate, if a private one (default: the system's roots)")
	fs.BoolVar(&cfg.SSO.RequireGroups, "sso-require-groups", false, "single sign-on: refuse a login whose ID token has no groups claim (default: keep the user's role)")
	fs.Func("sso-admin-group", "single sign-on: members of this provider group are admins (repeatable)", func(v string) error {
		if v == "" {
			return fmt.Errorf("an empty group name")
		}
		cfg.SSO.AdminGroups = append(cfg.SSO.AdminGroups, v)
		return nil
	})
	fs.StringVar(&cfg.AccessLog, "access-log", "", "where the gateway records every request, as JSON lines: a file (default DATA/access.log), - for the server's log, or off")
	fs.StringVar(&cfg.Database, "database", "", "PostgreSQL DSN (postgres://…); empty: SQLite in the data directory")
	fs.StringVar(&cfg.TURNListen, "turn-listen", turnListen, "run the embedded STUN/TURN server on this address, UDP and TCP (e.g. :3478; empty: off)")
	fs.StringVar(&cfg.TURNTLSListen, "turn-tls-listen", "", "also serve TURN over TLS (turns:) on this TCP address, e.g. :443, with the server's certificate (airlock up: :443 when it can bind it, else :5349; empty: off)")
	fs.StringVar(&cfg.TURNPublicIP, "turn-public-ip", "", "the IPv4 address TURN advertises for relays (with --turn-listen; airlock up: this host's outbound address)")
	fs.StringVar(&cfg.TURNPeerNetworks, "turn-peer-networks", "", "session networks TURN may relay to, comma-separated CIDRs (required with --turn-listen; airlock up: the local Docker bridge's)")
	fs.StringVar(&cfg.TURNRelayPorts, "turn-relay-ports", "49160-49200", "TURN relay ports MIN-MAX, UDP, reachable by browsers: one per relayed viewer connection")
	fs.IntVar(&cfg.TURNMaxPerUser, "turn-max-per-user", 10, "TURN allocations a user holds at most")
	fs.IntVar(&cfg.TURNMaxPerSession, "turn-max-per-session", 4, "TURN allocations a session holds at most")
	fs.StringVar(&cfg.Workspaces, "workspaces", "", "YAML catalog of workspaces to create or update at start")
	fs.DurationVar(&cfg.SessionLimits.Idle, "idle-timeout", airlock.DefaultLimits.Idle, "end a session after this long with no viewer and no input (a workspace's idle_timeout overrides it)")
	fs.DurationVar(&cfg.SessionLimits.ViewerIdle, "viewer-idle-timeout", airlock.DefaultLimits.ViewerIdle, "end a session after this long without input while a viewer is connected (a workspace's viewer_idle_timeout overrides it)")
	fs.DurationVar(&cfg.SessionLimits.Lifetime, "lifetime", airlock.DefaultLimits.Lifetime, "end a session this long after its launch, however busy (a workspace's lifetime overrides it)")
	fs.DurationVar(&cfg.SessionLimits.MaxLifetime, "max-lifetime", airlock.DefaultLimits.MaxLifetime, "how far after its launch a user may extend a session's end (a workspace's max_lifetime overrides it)")
	fs.Func("on-expiry", "what an idle or lifetime end does to a session: remove, or suspend (stop its container and keep it for --resume-grace, in which its user may resume it); a workspace's on_expiry overrides it (default remove)", func(v string) error {
		cfg.SessionLimits.OnExpiry = airlock.ExpiryAction(v)
		return airlock.Limits{OnExpiry: cfg.SessionLimits.OnExpiry}.Validate()
	})
	fs.DurationVar(&cfg.SessionLimits.ResumeGrace, "resume-grace", airlock.DefaultLimits.ResumeGrace, "how long a suspended session may be resumed before it is removed (a workspace's resume_grace overrides it)")
	fs.IntVar(&cfg.MaxSessions, "max-sessions", 3, "a user's active sessions at most, unless the user has a limit of their own (airlock user add --max-sessions)")
	fs.DurationVar(&cfg.AgentHeartbeat, "agent-heartbeat", 10*time.Second, "how often session agents report (whole seconds): idle ends are judged to about this much")
	fs.Func("placement", "how a launched session is placed among the nodes that can run it: spread (the least loaded node, the default) or binpack (the most loaded with room); warm pools always spread", func(v string) error {
		st, err := scheduler.ParseStrategy(v)
		cfg.Placement = st
		return err
	})
	fs.DurationVar(&cfg.Lifecycle.Every, "lifecycle-every", 5*time.Second, "how often the lifecycle round runs: expiry, lost agents and containers, reconciliation")
}

// runRotateKeys is `airlock server rotate-keys`: a new signing key in the
// data directory, which a running server picks up within seconds.
func runRotateKeys(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("server rotate-keys", stderr)
	data := fs.String("data", "./data", "the server's data directory")
	turn := fs.Bool("turn", false, "also replace the TURN secret (takes effect when the server restarts)")
	if err := parse(fs, args); err != nil {
		return err
	}
	r, err := infra.RotateKeys(*data, *turn, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new signing key %s\n", r.NewKeyID)
	if len(r.Retired) > 0 {
		fmt.Fprintf(stdout, "retired %s: accepted until %s\n", strings.Join(r.Retired, ", "), r.RetiredUntil.Format(time.RFC3339))
	}
	if len(r.Dropped) > 0 {
		fmt.Fprintf(stdout, "dropped expired %s\n", strings.Join(r.Dropped, ", "))
	}
	if r.TURN {
		fmt.Fprintln(stdout, "new TURN secret: restart the server to use it")
	}
	return nil
}
