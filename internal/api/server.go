package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/pki"
	"github.com/airlock-rbi/airlock/internal/scheduler"
	"github.com/airlock-rbi/airlock/internal/sessions"
	"github.com/airlock-rbi/airlock/internal/throttle"
)

// Options configure a Server. Store, Driver and Signer are required.
type Options struct {
	Store airlock.Store
	// Driver creates and removes containers on nodes.
	Driver Driver
	// Signer signs agent credentials (and later connect tokens).
	Signer *auth.Signer
	// CA signs node and admin certificates; without it nodes cannot enroll.
	CA *pki.CA
	// ICE gives connecting clients their STUN/TURN servers (optional).
	ICE ICE
	// OnRevoke is told each certificate serial the api revokes, so the
	// listener refuses it at once.
	OnRevoke func(serial string)
	// Revoker is told when a session ends, a user is deleted or a sign-in
	// ends, so the signal relay closes those connections at once
	// (*signal.Server is one). Optional.
	Revoker Revoker
	// AgentURL is the api's URL as seen from inside session containers.
	AgentURL string
	// CAPEM is the deployment CA certificate given to agents.
	CAPEM []byte
	// ExtraHosts are added to session containers' /etc/hosts, e.g.
	// host.docker.internal:host-gateway so agents reach a server on the
	// Docker host.
	ExtraHosts []string
	// SeccompProfiles are the seccomp profiles workspaces may name, by
	// name, as Docker's JSON profile format: a session of a workspace that
	// names one runs under it (sent to the node by content, which the
	// node's policy must allow). A workspace naming a profile not in this
	// map is refused. Empty: workspaces run under Docker's default only.
	SeccompProfiles map[string][]byte
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now defaults to the wall clock.
	Now func() time.Time
	// PasswordParams defaults to auth.DefaultPasswordParams.
	PasswordParams *auth.PasswordParams
	// Hasher bounds the password hashes in flight; default
	// auth.NewPasswordHasher(0, 0): GOMAXPROCS at once.
	Hasher *auth.PasswordHasher
	// Throttle slows down password guessing at sign-in; default
	// throttle.New with its defaults, on the server's clock.
	Throttle *throttle.Login
	// WebSessionTTL is how long a browser stays signed in. Default 12h.
	WebSessionTTL time.Duration
	// SessionLimits are the deployment's session limits, which each
	// workspace's own override field by field; zero fields take
	// airlock.DefaultLimits.
	SessionLimits airlock.Limits
	// NodeSilence is how long a node may go unheard and still be given
	// new sessions (sessions.NodeSilence). Default sessions.NodeSilence(0).
	NodeSilence time.Duration
	// Placement is how launched sessions are placed (sessions.Options).
	Placement scheduler.Strategy
	// HeartbeatEvery is how often agents report; default 10s. Idle ends
	// are judged to about this much.
	HeartbeatEvery time.Duration
	// DefaultMaxSessions bounds a user's active sessions unless the user
	// has a limit of their own. Default 3.
	DefaultMaxSessions int
	// SSO, if set, offers single sign-on through an OpenID Connect
	// provider beside local passwords.
	SSO *SSO
	// AuthCacheTTL is how long a verified API token or browser sign-in
	// is trusted without reading the store again (default 5s; negative:
	// never). Revocations in this process take effect at once; another
	// api process on the same database sees them within it.
	AuthCacheTTL time.Duration
}

// Server serves /api/v1.
type Server struct {
	store   airlock.Store
	log     *slog.Logger
	clock   clock
	pw      auth.PasswordParams
	hasher  *auth.PasswordHasher
	guesses *throttle.Login
	webTTL  time.Duration
	maxSess int
	// beat is how often agents send heartbeats.
	beat time.Duration

	driver   Driver
	signer   *auth.Signer
	ca       *pki.CA
	onRevoke func(serial string)
	revoker  Revoker
	ice      ICE
	// sessions carries out session transitions: launches, stops and
	// failures.
	sessions *sessions.Service

	sso atomic.Pointer[SSO]
	// authCache keeps recently verified credentials; nil when off.
	authCache *authCache
	// refusals bounds the audit events of refused credentials.
	refusals refusalLimiter
	// tokenUses spaces the audit events of API tokens in use.
	tokenUses tokenUses

	dummy   string
	watch   watchers
	mux     *http.ServeMux
	handler http.Handler
}

// New builds a Server. It fails when the password parameters cannot hash,
// rather than at the first sign-in.
func New(o Options) (*Server, error) {
	s := &Server{store: o.Store, log: o.Logger, clock: o.Now, webTTL: o.WebSessionTTL, maxSess: o.DefaultMaxSessions,
		driver: o.Driver, signer: o.Signer, ca: o.CA, onRevoke: o.OnRevoke, revoker: o.Revoker, ice: o.ICE}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.revoker == nil {
		s.revoker = noRevoker{}
	}
	s.tokenUses.max = 10_000
	s.sso.Store(o.SSO)
	switch ttl := o.AuthCacheTTL; {
	case ttl == 0:
		s.authCache = newAuthCache(5*time.Second, 100_000)
	case ttl > 0:
		s.authCache = newAuthCache(ttl, 100_000)
	}
	if s.authCache != nil {
		s.revoker = cachingRevoker{cache: s.authCache, next: s.revoker}
	}
	var err error
	s.sessions, err = sessions.New(sessions.Options{Store: o.Store, Driver: o.Driver, AgentURL: o.AgentURL, CAPEM: o.CAPEM,
		ExtraHosts: o.ExtraHosts, SeccompProfiles: o.SeccompProfiles, Limits: o.SessionLimits, NodeSilence: o.NodeSilence, Placement: o.Placement, OnEnd: s.revoker.RevokeSession, OnFinal: s.sessionEnded, OnChange: s.watch.notify,
		Logger: s.log, Now: s.clock.now})
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	s.pw = auth.DefaultPasswordParams
	if o.PasswordParams != nil {
		s.pw = *o.PasswordParams
	}
	if s.hasher = o.Hasher; s.hasher == nil {
		s.hasher = auth.NewPasswordHasher(0, 0)
	}
	if s.guesses = o.Throttle; s.guesses == nil {
		s.guesses = throttle.New(throttle.Config{Now: o.Now})
	}
	if s.webTTL == 0 {
		s.webTTL = 12 * time.Hour
	}
	if s.maxSess == 0 {
		s.maxSess = 3
	}
	if s.beat = o.HeartbeatEvery; s.beat <= 0 {
		s.beat = 10 * time.Second
	}
	s.mux = http.NewServeMux()
	s.routes()
	// Browsers send cookies on cross-site requests; refuse state changes
	// that a browser marks as cross-origin. Bearer clients send neither
	// header and pass.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(s.serve(func(http.ResponseWriter, *http.Request) error {
		return airlock.Errorf(airlock.EFORBIDDEN, "cross-origin request refused: state changes must come from this site or carry a bearer token")
	}))
	s.handler = cop.Handler(s.mux)
	// The hash that unknown user names are checked against, so that a
	// failed sign-in takes as long whether or not the name exists.
	dummy, err := auth.HashPassword("not-a-real-password", s.pw)
	if err != nil {
		s.sessions.Close()
		return nil, fmt.Errorf("api: password parameters: %w", err)
	}
	s.dummy = dummy
	return s, nil
}

// Close stops background launches and waits for them.
func (s *Server) Close() {
	s.sessions.Close()
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Access is who may call a route. The user and admin levels are checked
// before the handler runs; on the others the handler authenticates the
// caller itself, each with its own credential.
type Access string

const (
	// AccessPublic: anyone; the handler judges (sign-in, the CA).
	AccessPublic Access = "public"
	// AccessUser: a signed-in user, by cookie or API token.
	AccessUser Access = "user"
	// AccessAdmin: a signed-in admin.
	AccessAdmin Access = "admin"
	// AccessAgent: a session's agent, by its registration token or its
	// signed credential.
	AccessAgent Access = "agent"
	// AccessNode: a provision node, by its join token or its client
	// certificate.
	AccessNode Access = "node"
)

// Route is one API route and who may call it.
type Route struct {
	// Pattern is the ServeMux pattern, e.g. "GET /api/v1/sessions/{id}".
	Pattern string
	Access  Access
	h       handlerFunc
}

// Routes lists every API route with its access level: the table the
// mux is built from, and the one the authorization tests walk, so that no
// route escapes them.
func (s *Server) Routes() []Route {
	return []Route{
		{"POST /api/v1/auth/login", AccessPublic, s.login},
		{"POST /api/v1/auth/logout", AccessUser, s.logout},
		{"GET /api/v1/auth/sso", AccessPublic, s.ssoInfo},
		{"GET " + ssoLoginPath, AccessPublic, s.ssoLogin},
		{"GET " + ssoCallbackPath, AccessPublic, s.ssoCallback},
		{"GET /api/v1/me", AccessUser, s.me},

		{"GET /api/v1/users", AccessAdmin, s.listUsers},
		{"POST /api/v1/users", AccessAdmin, s.createUser},
		{"DELETE /api/v1/users/{name}", AccessAdmin, s.deleteUser},
		{"POST /api/v1/users/me/password", AccessUser, s.changePassword},
		{"POST /api/v1/users/{name}/password", AccessAdmin, s.resetPassword},

		{"GET /api/v1/users/{name}/policy", AccessAdmin, s.userPolicy},
		{"GET /api/v1/me/policy", AccessUser, s.myPolicy},

		{"GET /api/v1/groups", AccessAdmin, s.listGroups},
		{"POST /api/v1/groups", AccessAdmin, s.createGroup},
		{"GET /api/v1/groups/{name}", AccessAdmin, s.getGroup},
		{"PUT /api/v1/groups/{name}", AccessAdmin, s.updateGroup},
		{"DELETE /api/v1/groups/{name}", AccessAdmin, s.deleteGroup},
		{"PUT /api/v1/groups/{name}/members/{user}", AccessAdmin, s.addGroupMember},
		{"DELETE /api/v1/groups/{name}/members/{user}", AccessAdmin, s.removeGroupMember},

		{"GET /api/v1/tokens", AccessUser, s.listTokens},
		{"POST /api/v1/tokens", AccessUser, s.createToken},
		{"DELETE /api/v1/tokens/{id}", AccessUser, s.revokeToken},

		{"GET /api/v1/workspaces", AccessUser, s.listWorkspaces},
		{"POST /api/v1/workspaces", AccessAdmin, s.createWorkspace},
		{"GET /api/v1/workspaces/{name}", AccessUser, s.getWorkspace},
		{"PATCH /api/v1/workspaces/{name}", AccessAdmin, s.updateWorkspace},
		{"DELETE /api/v1/workspaces/{name}", AccessAdmin, s.deleteWorkspace},

		{"POST /api/v1/sessions", AccessUser, s.createSession},
		{"GET /api/v1/sessions", AccessUser, s.listSessions},
		{"GET /api/v1/sessions/{id}", AccessUser, s.getSession},
		{"DELETE /api/v1/sessions/{id}", AccessUser, s.deleteSession},
		{"POST /api/v1/sessions/{id}/connect", AccessUser, s.connect},
		{"POST /api/v1/sessions/{id}/extend", AccessUser, s.extendSession},
		{"POST /api/v1/sessions/{id}/resume", AccessUser, s.resumeSession},

		{"GET /api/v1/pools", AccessAdmin, s.listPools},
		{"PUT /api/v1/pools/{workspace}", AccessAdmin, s.setPool},

		{"GET /api/v1/nodes", AccessAdmin, s.listNodes},
		{"POST /api/v1/nodes/join-tokens", AccessAdmin, s.createJoinToken},
		{"GET /api/v1/nodes/join-tokens", AccessAdmin, s.listJoinTokens},
		{"DELETE /api/v1/nodes/join-tokens/{id}", AccessAdmin, s.deleteJoinToken},
		{"DELETE /api/v1/nodes/{name}", AccessAdmin, s.deleteNode},
		{"POST /api/v1/nodes/{name}/drain", AccessAdmin, s.drainNode},
		{"POST /api/v1/nodes/{name}/undrain", AccessAdmin, s.drainNode},
		{"POST /api/v1/nodes/{name}/docker-env", AccessAdmin, s.dockerEnv},
		{"GET /api/v1/ca", AccessPublic, s.caCert},
		{"POST /api/v1/nodes/enroll", AccessNode, s.enroll},
		{"POST /api/v1/nodes/renew", AccessNode, s.renewNode},
		{"POST /api/v1/nodes/heartbeat", AccessNode, s.nodeHeartbeat},

		{"POST /api/v1/nodes/events", AccessNode, s.nodeEvents},

		{"GET /api/v1/audit", AccessAdmin, s.listAudit},
		{"GET /api/v1/audit/export", AccessAdmin, s.exportAudit},
		{"POST /api/v1/audit/verify", AccessAdmin, s.verifyAudit},

		{"POST /api/v1/agent/register", AccessAgent, s.registerAgent},
		{"POST /api/v1/agent/heartbeat", AccessAgent, s.agentHeartbeat},
		{"POST /api/v1/agent/claim", AccessAgent, s.agentClaim},
		{"POST /api/v1/agent/connect", AccessAgent, s.agentConnect},
		{"POST /api/v1/agent/transfer", AccessAgent, s.agentTransfer},
	}
}

func (s *Server) routes() {
	for _, rt := range s.Routes() {
		h := rt.h
		switch rt.Access {
		case AccessUser:
			h = s.authed(h)
		case AccessAdmin:
			h = s.admin(h)
		}
		s.mux.Handle(rt.Pattern, s.serve(h))
	}
	s.mux.Handle("/api/", s.serve(func(w http.ResponseWriter, r *http.Request) error {
		return airlock.Errorf(airlock.ENOTFOUND, "no API route %s %s", r.Method, r.URL.Path)
	}))
}

// Sessions is the service that carries out this server's session
// transitions, which the lifecycle jobs share.
func (s *Server) Sessions() *sessions.Service { return s.sessions }
