package pki

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/peerid"
)

// Role is what a certificate holder is allowed to do. It is carried in the
// certificate as the single Subject OU value, the way Docker Swarm marks
// node roles (OU=swarm-manager), so servers can authorize from the verified
// chain alone without a lookup.
type Role string

const (
	// RoleInfra is an Airlock infrastructure node; it both serves and calls.
	RoleInfra Role = peerid.RoleInfra
	// RoleAdmin is a human operator's client.
	RoleAdmin Role = peerid.RoleAdmin
	// RoleProvision is held by the provisioning service, which also serves.
	RoleProvision Role = peerid.RoleProvision
	// RoleAgent is a per-session browser agent: the least trusted role.
	RoleAgent Role = peerid.RoleAgent
	// RoleGateway, RoleAPI, RoleSignal, RoleCron and RolePortal are the
	// infra server's services run apart (airlock server --roles): the
	// gateway is the only one that may hand on a user's identity, and
	// each internal listener admits only the roles that call it.
	RoleGateway Role = peerid.RoleGateway
	RoleAPI     Role = peerid.RoleAPI
	RoleSignal  Role = peerid.RoleSignal
	RoleCron    Role = peerid.RoleCron
	RolePortal  Role = peerid.RolePortal
)

// allRoles is a function rather than a package variable so no caller can
// change the set of valid roles at run time. The order keeps error messages
// stable.
func allRoles() []Role {
	return []Role{RoleInfra, RoleAdmin, RoleProvision, RoleAgent, RoleGateway, RoleAPI, RoleSignal, RoleCron, RolePortal}
}

// ParseRole converts s into a Role, rejecting anything that is not one of
// the defined roles so that typos never mint a certificate with no power
// (or, worse, one a future role name would accidentally match).
func ParseRole(s string) (Role, error) {
	for _, r := range allRoles() {
		if s == string(r) {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q (valid roles: %s)", s, roleList(allRoles()))
}

// DefaultTTL is the certificate lifetime used when a request leaves TTL at
// zero. Client roles are kept short because revocation is not implemented:
// expiry is the only way a stolen certificate stops working. Provisioning
// certificates live longer because they bootstrap hosts that may be slow to
// come up. It returns 0 for an unknown role.
func (r Role) DefaultTTL() time.Duration {
	switch r {
	case RoleAdmin:
		return 8 * time.Hour
	case RoleInfra, RoleGateway, RoleAPI, RoleSignal, RoleCron, RolePortal:
		return 24 * time.Hour
	case RoleAgent:
		return time.Hour
	case RoleProvision:
		return 72 * time.Hour
	}
	return 0
}

// RoleOf returns the role carried by cert. Exactly one OU is required: a
// certificate with several could otherwise be read differently by different
// checks, so it is treated as carrying no role at all.
func RoleOf(cert *x509.Certificate) (Role, error) {
	ou, err := peerid.RoleOU(cert)
	if err != nil {
		return "", err
	}
	r, err := ParseRole(ou)
	if err != nil {
		return "", fmt.Errorf("role of certificate %q: %w", cert.Subject.CommonName, err)
	}
	return r, nil
}

func roleList(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}
