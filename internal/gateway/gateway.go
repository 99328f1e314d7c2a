// Package gateway is Airlock's one public door: the only listener clients
// reach. A route table maps each path to the internal service that answers
// it (api, signal, portal) with a policy per route; the gateway
// authenticates the caller once, refuses what the route's policy does not
// allow, strips every identity and forwarding header a client sent, and
// hands the verified identity to the service, which does not authenticate
// again. Size limits, timeouts, the security headers every answer carries
// and a structured access log live here too, in one place.
//
// A service is an http.Handler: in one process (`airlock server`, all
// roles) the api, the relay and the portal are called directly and the
// identity travels in the request's context; a service in another process
// is a Remote, which forwards over the internal zone's mutual TLS and
// sends the identity in the Airlock-Identity header. WebSocket upgrades
// pass through either way.
package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Policy is who may call a route.
type Policy string

const (
	// Public: anyone; the service judges (sign-in, the CA certificate,
	// the signal relay, which verifies connect tokens by signature).
	Public Policy = "public"
	// User: a signed-in user, by web session cookie or API token.
	User Policy = "user"
	// Admin: a signed-in user with the admin role.
	Admin Policy = "admin"
	// Agent: a session's agent, by its one-time registration token or
	// its signed credential, which the api verifies.
	Agent Policy = "agent"
	// Node: a provision node, by its join token or its client certificate
	// (which the listener verified against this deployment's CA and its
	// revocations), which the api matches to the node's record.
	Node Policy = "node"
)

// Route maps requests to a service.
type Route struct {
	// Pattern is an http.ServeMux pattern, e.g. "GET /api/v1/me" or
	// "/api/v1/signal".
	Pattern string
	Policy  Policy
	// Service names an entry of Config.Services.
	Service string
}

// Authenticator verifies a user's credential. The api implements it:
// only the api reads the store.
type Authenticator interface {
	// AuthenticateUser verifies the request's Authorization bearer token
	// or session cookie. A missing or invalid credential is a *Refusal
	// (401 with what to send); any other error is answered as 500 and
	// logged.
	AuthenticateUser(r *http.Request) (*Identity, error)
}

// Config builds a Gateway.
type Config struct {
	Routes []Route
	// Services are the handlers routes name.
	Services map[string]http.Handler
	// Auth verifies users for the User and Admin routes.
	Auth Authenticator
	// Observe, if set, is told of each answered request (metrics): r's
	// Pattern is the route's.
	Observe func(r *http.Request, status int, d time.Duration)
	// Logger gets what goes wrong (an Authenticator's failure).
	Logger *slog.Logger
	// Limits bound what a client may send.
	Limits Limits
	// AccessLog, if set, gets one record per request.
	AccessLog *slog.Logger
	// Now defaults to time.Now (the access log's durations).
	Now func() time.Time
}

// Gateway is the public handler. Serve it with Server.
type Gateway struct {
	cfg  Config
	mux  *http.ServeMux
	next http.Handler
}

// New checks the route table and builds the Gateway.
func New(cfg Config) (*Gateway, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Auth == nil {
		return nil, fmt.Errorf("gateway: no authenticator")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Limits.defaults()
	g := &Gateway{cfg: cfg, mux: http.NewServeMux()}
	seen := map[string]bool{}
	for _, rt := range cfg.Routes {
		svc, ok := cfg.Services[rt.Service]
		if !ok || svc == nil {
			return nil, fmt.Errorf("gateway route %q: no service %q", rt.Pattern, rt.Service)
		}
		if seen[rt.Pattern] {
			return nil, fmt.Errorf("gateway route %q: listed twice", rt.Pattern)
		}
		seen[rt.Pattern] = true
		h, err := g.guard(rt, svc)
		if err != nil {
			return nil, err
		}
		if err := register(g.mux, rt.Pattern, h); err != nil {
			return nil, fmt.Errorf("gateway route %q: %w", rt.Pattern, err)
		}
	}
	g.next = g.logged(limitBodies(securityHeaders(g.mux), cfg.Limits.MaxBodyBytes))
	return g, nil
}

// register adds a pattern, turning ServeMux's panic on a bad or
// conflicting one into an error.
func register(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// ServeHTTP serves one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.next.ServeHTTP(w, r) }

// guard wraps a service with its route's policy.
func (g *Gateway) guard(rt Route, svc http.Handler) (http.Handler, error) {
	switch rt.Policy {
	case Public:
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			stripClientHeaders(r.Header)
			svc.ServeHTTP(w, r)
		}), nil
	case User, Admin:
		admin := rt.Policy == Admin
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			stripClientHeaders(r.Header)
			id, err := g.cfg.Auth.AuthenticateUser(r)
			if err != nil {
				g.refuse(w, r, err)
				return
			}
			if admin && id.Role != "admin" {
				g.refuse(w, r, &Refusal{Status: http.StatusForbidden, Code: "forbidden", Message: "this needs the admin role"})
				return
			}
			noteCaller(r, id)
			svc.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
		}), nil
	case Agent, Node:
		// Their credentials are bound to the store's state (a one-time
		// registration or join token in the body, a credential whose
		// session must still run, a certificate serial the node must
		// still hold): the api checks them on every call.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			stripClientHeaders(r.Header)
			svc.ServeHTTP(w, r)
		}), nil
	}
	return nil, fmt.Errorf("gateway route %q: unknown policy %q", rt.Pattern, rt.Policy)
}
