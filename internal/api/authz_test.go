package api

import (
	"crypto/tls"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/gateway"
)

// The authorization matrix: every route of Server.Routes, called by each
// kind of caller, must answer as the route's access level (and, for
// routes on one user's things, ownership) says. It walks the route table,
// so a route added later is judged too, and one whose rule the test does
// not know fails it.

type principal string

const (
	anonymous principal = "anonymous"
	userA     principal = "user-A"
	userB     principal = "user-B"
	adminP    principal = "admin"
	agentA    principal = "agent-of-A"
	agentB    principal = "agent-of-B"
	nodeP     principal = "node"
)

var principals = []principal{anonymous, userA, userB, adminP, agentA, agentB, nodeP}

// outcome is what a caller gets: through (any answer of the handler but
// a refusal of who is calling), or a refusal.
type outcome string

const (
	through      outcome = "through"
	unauthorized outcome = "unauthorized" // 401
	forbidden    outcome = "forbidden"    // 403
	notFound     outcome = "not_found"    // 404: another user's thing
)

// spoofed are identity headers that proxies set and clients must not be
// able to: sent on every request of the matrix, they must change nothing.
var spoofed = map[string]string{
	"X-Forwarded-User": "admin", "X-Remote-User": "admin", "Remote-User": "admin", "X-User": "admin",
	"X-Auth-Request-User": "admin", "X-Forwarded-Email": "admin@example.com", "X-Forwarded-Groups": "admin",
	"X-Airlock-User": "admin", "X-Airlock-Role": "admin", "X-Forwarded-For": "127.0.0.1", "X-Real-Ip": "127.0.0.1",
}

// access pins each route's access level: the route table is the code's
// word, this is the test's, and a route added or loosened later must be
// named here on purpose.
var access = map[string]Access{
	"POST /api/v1/auth/login":                     AccessPublic,
	"POST /api/v1/auth/logout":                    AccessUser,
	"GET /api/v1/auth/sso":                        AccessPublic,
	"GET /api/v1/auth/sso/login":                  AccessPublic,
	"GET /api/v1/auth/sso/callback":               AccessPublic,
	"GET /api/v1/me":                              AccessUser,
	"GET /api/v1/users":                           AccessAdmin,
	"POST /api/v1/users":                          AccessAdmin,
	"DELETE /api/v1/users/{name}":                 AccessAdmin,
	"POST /api/v1/users/me/password":              AccessUser,
	"POST /api/v1/users/{name}/password":          AccessAdmin,
	"GET /api/v1/users/{name}/policy":             AccessAdmin,
	"GET /api/v1/me/policy":                       AccessUser,
	"GET /api/v1/groups":                          AccessAdmin,
	"POST /api/v1/groups":                         AccessAdmin,
	"GET /api/v1/groups/{name}":                   AccessAdmin,
	"PUT /api/v1/groups/{name}":                   AccessAdmin,
	"DELETE /api/v1/groups/{name}":                AccessAdmin,
	"PUT /api/v1/groups/{name}/members/{user}":    AccessAdmin,
	"DELETE /api/v1/groups/{name}/members/{user}": AccessAdmin,
	"GET /api/v1/tokens":                          AccessUser,
	"POST /api/v1/tokens":                         AccessUser,
	"DELETE /api/v1/tokens/{id}":                  AccessUser,
	"GET /api/v1/workspaces":                      AccessUser,
	"POST /api/v1/workspaces":                     AccessAdmin,
	"GET /api/v1/workspaces/{name}":               AccessUser,
	"PATCH /api/v1/workspaces/{name}":             AccessAdmin,
	"DELETE /api/v1/workspaces/{name}":            AccessAdmin,
	"POST /api/v1/sessions":                       AccessUser,
	"GET /api/v1/sessions":                        AccessUser,
	"GET /api/v1/sessions/{id}":                   AccessUser,
	"DELETE /api/v1/sessions/{id}":                AccessUser,
	"POST /api/v1/sessions/{id}/connect":          AccessUser,
	"POST /api/v1/sessions/{id}/extend":           AccessUser,
	"POST /api/v1/sessions/{id}/resume":           AccessUser,
	"POST /api/v1/nodes/{name}/drain":             AccessAdmin,
	"POST /api/v1/nodes/{name}/undrain":           AccessAdmin,
	"GET /api/v1/pools":                           AccessAdmin,
	"PUT /api/v1/pools/{workspace}":               AccessAdmin,
	"GET /api/v1/nodes":                           AccessAdmin,
	"POST /api/v1/nodes/join-tokens":              AccessAdmin,
	"GET /api/v1/nodes/join-tokens":               AccessAdmin,
	"DELETE /api/v1/nodes/join-tokens/{id}":       AccessAdmin,
	"DELETE /api/v1/nodes/{name}":                 AccessAdmin,
	"POST /api/v1/nodes/{name}/docker-env":        AccessAdmin,
	"GET /api/v1/ca":                              AccessPublic,
	"POST /api/v1/nodes/enroll":                   AccessNode,
	"POST /api/v1/nodes/renew":                    AccessNode,
	"POST /api/v1/nodes/heartbeat":                AccessNode,
	"POST /api/v1/nodes/events":                   AccessNode,
	"GET /api/v1/audit":                           AccessAdmin,
	"GET /api/v1/audit/export":                    AccessAdmin,
	"POST /api/v1/audit/verify":                   AccessAdmin,
	"POST /api/v1/agent/register":                 AccessAgent,
	"POST /api/v1/agent/heartbeat":                AccessAgent,
	"POST /api/v1/agent/claim":                    AccessAgent,
	"POST /api/v1/agent/connect":                  AccessAgent,
	"POST /api/v1/agent/transfer":                 AccessAgent,
}

// owned are the routes on one user's things: user B gets 404 for user
// A's, as if they did not exist. Every route with a path parameter must
// be named here or in shared, so that a new one is judged on purpose.
var owned = map[string]bool{
	"DELETE /api/v1/tokens/{id}":         true,
	"GET /api/v1/sessions/{id}":          true,
	"DELETE /api/v1/sessions/{id}":       true,
	"POST /api/v1/sessions/{id}/connect": true,
	"POST /api/v1/sessions/{id}/extend":  true,
	"POST /api/v1/sessions/{id}/resume":  true,
}

// shared are routes with a path parameter that name something of the
// deployment's, not of one user.
var shared = map[string]bool{
	"DELETE /api/v1/users/{name}":                 true,
	"POST /api/v1/users/{name}/password":          true,
	"GET /api/v1/users/{name}/policy":             true,
	"GET /api/v1/groups/{name}":                   true,
	"PUT /api/v1/groups/{name}":                   true,
	"DELETE /api/v1/groups/{name}":                true,
	"PUT /api/v1/groups/{name}/members/{user}":    true,
	"DELETE /api/v1/groups/{name}/members/{user}": true,
	"GET /api/v1/workspaces/{name}":               true,
	"PATCH /api/v1/workspaces/{name}":             true,
	"DELETE /api/v1/workspaces/{name}":            true,
	"DELETE /api/v1/nodes/join-tokens/{id}":       true,
	"DELETE /api/v1/nodes/{name}":                 true,
	"POST /api/v1/nodes/{name}/drain":             true,
	"PUT /api/v1/pools/{workspace}":               true,
	"POST /api/v1/nodes/{name}/undrain":           true,
	"POST /api/v1/nodes/{name}/docker-env":        true,
}

// selfAuthenticated are the expectations of routes whose handler judges
// the caller's own credential (agents, nodes, the public ones); the
// matrix's callers bring no registration or join token in the body.
var selfAuthenticated = map[string]map[principal]outcome{
	"POST /api/v1/auth/login": all(through),
	"GET /api/v1/auth/sso":    all(through),
	// Not configured in the matrix's deployment: 404 for all.
	"GET /api/v1/auth/sso/login":    all(notFound),
	"GET /api/v1/auth/sso/callback": all(notFound),
	"GET /api/v1/ca":                all(through),
	"POST /api/v1/agent/register":   all(unauthorized),
	"POST /api/v1/agent/heartbeat":  except(unauthorized, map[principal]outcome{agentA: through, agentB: through}),
	"POST /api/v1/agent/claim":      except(unauthorized, map[principal]outcome{agentA: through, agentB: through}),
	"POST /api/v1/agent/connect":    except(unauthorized, map[principal]outcome{agentA: through, agentB: through}),
	"POST /api/v1/agent/transfer":   except(unauthorized, map[principal]outcome{agentA: through, agentB: through}),
	"POST /api/v1/nodes/enroll":     all(unauthorized),
	"POST /api/v1/nodes/renew":      except(unauthorized, map[principal]outcome{nodeP: through}),
	"POST /api/v1/nodes/heartbeat":  except(unauthorized, map[principal]outcome{nodeP: through}),
	"POST /api/v1/nodes/events":     except(unauthorized, map[principal]outcome{nodeP: through}),
}

func all(o outcome) map[principal]outcome { return except(o, nil) }

func except(o outcome, m map[principal]outcome) map[principal]outcome {
	out := map[principal]outcome{}
	for _, p := range principals {
		out[p] = o
	}
	for p, v := range m {
		out[p] = v
	}
	return out
}

// expected is what p gets on route rt.
func expected(t *testing.T, rt Route, p principal) outcome {
	t.Helper()
	if strings.Contains(rt.Pattern, "{") && !owned[rt.Pattern] && !shared[rt.Pattern] && rt.Access != AccessPublic {
		t.Fatalf("route %s has a path parameter but is neither owned nor shared in authz_test.go: say which", rt.Pattern)
	}
	switch rt.Access {
	case AccessUser:
		switch p {
		case userA, adminP:
			return through
		case userB:
			if owned[rt.Pattern] {
				return notFound
			}
			return through
		}
		return unauthorized
	case AccessAdmin:
		switch p {
		case adminP:
			return through
		case userA, userB:
			return forbidden
		}
		return unauthorized
	}
	m, ok := selfAuthenticated[rt.Pattern]
	if !ok {
		t.Fatalf("route %s (access %s) has no expectations in authz_test.go", rt.Pattern, rt.Access)
	}
	return m[p]
}

// matrixEnv is one deployment with every kind of caller: users A and B
// each with a registered session, an admin, and an enrolled node.
type matrixEnv struct {
	*env
	bearer map[principal]string
	node   *tls.ConnectionState
	params map[string]string // path parameter values by name, for A's things
	// forgedJoin is a well-formed join token of this deployment's CA
	// that was never issued; csr a valid request to go with it.
	forgedJoin, csr string
	// front is what the matrix calls: the api itself, or the gateway in
	// front of it as a deployment runs it.
	front http.Handler
}

// fronts are the two ways the matrix reaches the api.
var fronts = []string{"direct", "gateway"}

func (m *matrixEnv) setFront(t *testing.T, front string) {
	m.front = m.srv
	if front == "gateway" {
		g, err := gateway.New(gateway.Config{Routes: m.srv.GatewayRoutes("api"), Services: map[string]http.Handler{"api": m.srv}, Auth: m.srv})
		if err != nil {
			t.Fatal(err)
		}
		m.front = g
	}
}

func newMatrixEnv(t *testing.T) *matrixEnv {
	e := sessionEnv(t)
	e.addNode("n0", 10)
	nodeCert := e.enrollNode("n1", "https://10.0.0.5:2376")
	bob, bobTok := e.addUser("bob", 0)
	m := &matrixEnv{env: e, node: peer(nodeCert), bearer: map[principal]string{userA: e.userTok, userB: bobTok, adminP: e.adminTok}}
	staff := &airlock.Group{ID: "g-staff", Name: "staff", AllWorkspaces: true}
	if err := e.st.CreateGroup(t.Context(), staff); err != nil {
		t.Fatal(err)
	}
	if err := e.st.AddGroupMember(t.Context(), staff.ID, bob.ID, e.clk.Now()); err != nil {
		t.Fatal(err)
	}

	sessA, tokA := e.launchForAgent()
	m.bearer[agentA] = e.register(sessA.ID, tokA).Credential
	sessB := e.createSession(bobTok, "web")
	callB := e.launched(sessB.ID)
	tokB, _ := envValue(callB.Spec.Env, "AIRLOCK_REGISTER_TOKEN")
	m.bearer[agentB] = e.register(sessB.ID, tokB).Credential

	rec := e.do(req{Method: "POST", Path: "/api/v1/tokens", Bearer: e.userTok, Body: map[string]any{"name": "a-token"}})
	wantStatus(t, rec, http.StatusCreated)
	var tok struct {
		ID string `json:"id"`
	}
	mustJSON(t, rec, &tok)
	jt := e.newJoinToken()
	forged, err := auth.NewJoinToken(e.ca.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	m.forgedJoin = forged.String()
	m.csr, _ = newCSR(t, "n9")
	m.params = map[string]string{
		"/tokens/{id}":            "/tokens/" + tok.ID,
		"/sessions/{id}":          "/sessions/" + sessA.ID,
		"/users/{name}":           "/users/" + bob.Name,
		"/groups/{name}":          "/groups/staff",
		"{user}":                  bob.Name,
		"/workspaces/{name}":      "/workspaces/web",
		"/nodes/join-tokens/{id}": "/nodes/join-tokens/" + jt.ID,
		"/nodes/{name}":           "/nodes/n1",
	}
	return m
}

// path fills rt's pattern with A's things.
func (m *matrixEnv) path(rt Route) string {
	_, p, _ := strings.Cut(rt.Pattern, " ")
	for pat, v := range m.params {
		p = strings.Replace(p, pat, v, 1)
	}
	return p
}

func (m *matrixEnv) call(rt Route, p principal) *httpResult {
	method, _, _ := strings.Cut(rt.Pattern, " ")
	hdr := map[string]string{
		// What a gateway in another process would send for the admin.
		gateway.IdentityHeader: base64.RawURLEncoding.EncodeToString([]byte(`{"kind":"user","user_id":"` + m.admin.ID + `","user_name":"admin","role":"admin"}`)),
	}
	for k, v := range spoofed {
		hdr[k] = v
	}
	r := req{Method: method, Path: m.path(rt), Header: hdr}
	if method != http.MethodGet && method != http.MethodDelete {
		// A body that authenticates nothing: the caller is who its
		// bearer or certificate says.
		r.Body = map[string]any{"session": "0123456789abcdef0123456789abcdef", "token": "alr_forged_aaaaaaaaaaaaaaaaaaaa"}
		if rt.Pattern == "POST /api/v1/nodes/enroll" {
			r.Body = map[string]any{"token": m.forgedJoin, "name": "n9", "url": "https://10.0.0.9:2376", "capacity": 1, "csr": m.csr}
		}
	}
	switch p {
	case nodeP:
		r.TLS = m.node
	case anonymous:
	default:
		r.Bearer = m.bearer[p]
	}
	rec := doOn(m.t, m.front, r)
	return &httpResult{code: rec.Code, body: rec.Body.String()}
}

type httpResult struct {
	code int
	body string
}

func (r *httpResult) outcome() outcome {
	switch r.code {
	case http.StatusUnauthorized:
		return unauthorized
	case http.StatusForbidden:
		return forbidden
	case http.StatusNotFound:
		return notFound
	}
	return through
}

func TestAuthorizationMatrix(t *testing.T) {
	routes := newEnv(t).srv.Routes()
	if len(routes) == 0 {
		t.Fatal("no routes")
	}
	seen := map[string]bool{}
	for _, rt := range routes {
		seen[rt.Pattern] = true
		if want, ok := access[rt.Pattern]; !ok || want != rt.Access {
			t.Errorf("route %s has access %s; authz_test.go says %q: a new or changed route must be judged here", rt.Pattern, rt.Access, want)
			continue
		}
		for _, front := range fronts {
			for _, p := range principals {
				t.Run(front+"/"+rt.Pattern+"/"+string(p), func(t *testing.T) {
					want := expected(t, rt, p)
					// A deployment of its own for each call: a call that
					// goes through may change what the next one sees.
					m := newMatrixEnv(t)
					m.setFront(t, front)
					res := m.call(rt, p)
					if got := res.outcome(); got != want || res.code >= 500 {
						t.Fatalf("%s by %s: %d %s, want %s", m.path(rt), p, res.code, strings.TrimSpace(res.body), want)
					}
				})
			}
		}
	}
	for pattern := range access {
		if !seen[pattern] {
			t.Errorf("authz_test.go names %s, which is no longer a route", pattern)
		}
	}
}
