package infra

import (
	"fmt"
	"slices"
	"strings"

	"github.com/airlock-rbi/airlock/internal/pki"
)

// Role is one part of the infra server that may run in a process of
// its own.
type Role string

const (
	// RoleGateway holds the public listener: every client request goes
	// through it, authenticated there.
	RoleGateway Role = "gateway"
	// RoleAPI is the api: the only role that opens the database.
	RoleAPI Role = "api"
	// RoleSignal is the viewer-agent relay.
	RoleSignal Role = "signal"
	// RoleCron runs the lifecycle rounds (by asking the api, when the
	// api runs elsewhere).
	RoleCron Role = "cron"
	// RolePortal serves the web portal's files.
	RolePortal Role = "portal"
)

// AllRoles are the roles in their order.
var AllRoles = []Role{RoleGateway, RoleAPI, RoleSignal, RoleCron, RolePortal}

// Roles is the set of roles a process runs.
type Roles []Role

// ParseRoles reads --roles: a comma-separated list, or "all" (or empty).
func ParseRoles(s string) (Roles, error) {
	if s == "" || s == "all" {
		return slices.Clone(AllRoles), nil
	}
	var out Roles
	for _, f := range strings.Split(s, ",") {
		r := Role(strings.TrimSpace(f))
		if !slices.Contains(AllRoles, r) {
			return nil, fmt.Errorf("--roles: %q is no role; give some of gateway, api, signal, cron, portal (or all)", f)
		}
		if slices.Contains(out, r) {
			return nil, fmt.Errorf("--roles: %s is named twice", r)
		}
		out = append(out, r)
	}
	return out, nil
}

// Has reports whether r is among rs.
func (rs Roles) Has(r Role) bool { return slices.Contains(rs, r) }

// All reports whether every role runs here: the default deployment, in
// one process wired in memory, with no internal listener.
func (rs Roles) All() bool {
	for _, r := range AllRoles {
		if !rs.Has(r) {
			return false
		}
	}
	return true
}

func (rs Roles) String() string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = string(r)
	}
	return strings.Join(parts, ",")
}

// Zone is where the roles of a split deployment listen and are reached:
// each internal listener takes only peers with a certificate of this
// deployment's CA and a role that calls it.
type Zone struct {
	// APIListen, SignalListen and PortalListen are this process's
	// internal listeners for those roles. Defaults 127.0.0.1:8444, :8445
	// and :8446.
	APIListen, SignalListen, PortalListen string
	// APIURL, SignalURL and PortalURL are where the other processes reach
	// them. Defaults https://127.0.0.1:8444, :8445 and :8446.
	APIURL, SignalURL, PortalURL string
}

func (z *Zone) defaults() {
	set := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	set(&z.APIListen, "127.0.0.1:8444")
	set(&z.SignalListen, "127.0.0.1:8445")
	set(&z.PortalListen, "127.0.0.1:8446")
	set(&z.APIURL, "https://127.0.0.1:8444")
	set(&z.SignalURL, "https://127.0.0.1:8445")
	set(&z.PortalURL, "https://127.0.0.1:8446")
}

// callers are the certificate roles each internal listener admits.
var callers = map[Role][]pki.Role{
	// The gateway forwards clients; cron asks for rounds; the relay has
	// nothing to ask the api.
	RoleAPI:    {pki.RoleGateway, pki.RoleCron},
	RoleSignal: {pki.RoleGateway, pki.RoleAPI},
	RolePortal: {pki.RoleGateway},
}
