package api

import (
	"net/http"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/gateway"
)

// GatewayRoutes is the api's part of the gateway's route table: each
// route with the policy its Access level asks for, served by service.
// The catch-all "/api/" goes to the api too, which answers 404 for what
// it does not know.
func (s *Server) GatewayRoutes(service string) []gateway.Route {
	rts := s.Routes()
	out := make([]gateway.Route, 0, len(rts)+1)
	for _, rt := range rts {
		out = append(out, gateway.Route{Pattern: rt.Pattern, Policy: policyOf(rt.Access), Service: service})
	}
	return append(out, gateway.Route{Pattern: "/api/", Policy: gateway.Public, Service: service})
}

// GatewayRouteTable is GatewayRoutes for a gateway in another process,
// which has no api of its own: the route table is the code's, not a
// server's.
func GatewayRouteTable(service string) []gateway.Route { return (&Server{}).GatewayRoutes(service) }

func policyOf(a Access) gateway.Policy {
	switch a {
	case AccessUser:
		return gateway.User
	case AccessAdmin:
		return gateway.Admin
	case AccessAgent:
		return gateway.Agent
	case AccessNode:
		return gateway.Node
	}
	return gateway.Public
}

// AuthenticateUser verifies a request's API token or session cookie for
// the gateway (gateway.Authenticator). A refusal is a *gateway.Refusal
// in the api's error format.
func (s *Server) AuthenticateUser(r *http.Request) (*gateway.Identity, error) {
	c, err := s.authenticate(r)
	if err != nil {
		if code := airlock.ErrorCode(err); code != airlock.EINTERNAL {
			return nil, &gateway.Refusal{Status: status(code), Code: code, Message: airlock.ErrorMessage(err)}
		}
		return nil, err
	}
	return &gateway.Identity{Kind: gateway.KindUser, UserID: c.User.ID, UserName: c.User.Name, Role: string(c.User.Role),
		TokenID: c.TokenID, Web: c.Web, Local: c.User}, nil
}

// callerFrom is the caller the gateway verified, or nil when the request
// did not come through one (tests, or a handler mounted on its own).
func (s *Server) callerFrom(r *http.Request) (*caller, error) {
	id := gateway.IdentityFrom(r.Context())
	if id == nil || id.Kind != gateway.KindUser {
		return nil, nil
	}
	u, ok := id.Local.(*airlock.User)
	if !ok || u.ID != id.UserID {
		// From a gateway in another process: the record is read here.
		var err error
		if u, err = s.store.UserByID(r.Context(), id.UserID); err != nil {
			if airlock.ErrorCode(err) == airlock.ENOTFOUND {
				return nil, errUnauthenticated
			}
			return nil, err
		}
	}
	return &caller{User: u, TokenID: id.TokenID, Web: id.Web}, nil
}
