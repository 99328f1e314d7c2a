// Package peerid checks who answers a TLS connection: that the server's
// certificate chains to the deployment CA, carries the role the client
// expects (the certificate's single subject OU, as internal/pki issues
// it) and, when the client knows more, the name and serial on record.
//
// A chain to the CA alone is not enough: every holder of a certificate of
// the deployment (nodes, admins, agents) has one, so a client that checks
// only the CA lets a node's certificate pose as the server. It is kept
// apart from internal/pki, which holds the CA's key, so that the agent,
// which runs next to untrusted content, can link it.
package peerid

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The roles a deployment's certificates carry in their subject OU;
// internal/pki defines its Role values from these.
const (
	RoleInfra     = "infra"
	RoleAdmin     = "admin"
	RoleProvision = "provision"
	RoleAgent     = "agent"
	// The infra server's services when they run as processes of their
	// own (airlock server --roles): each serves an internal listener and
	// calls the others.
	RoleGateway = "gateway"
	RoleAPI     = "api"
	RoleSignal  = "signal"
	RoleCron    = "cron"
	RolePortal  = "portal"
)

// RoleOU returns the role a certificate carries: its subject OU, of
// which there must be exactly one, since a certificate with several could
// be read differently by different checks.
func RoleOU(cert *x509.Certificate) (string, error) {
	if cert == nil {
		return "", errors.New("role of certificate: no certificate")
	}
	ous := cert.Subject.OrganizationalUnit
	switch len(ous) {
	case 0:
		return "", fmt.Errorf("role of certificate %q: no role (subject has no OU)", cert.Subject.CommonName)
	case 1:
		return ous[0], nil
	}
	return "", fmt.Errorf("role of certificate %q: ambiguous role (subject has %d OUs %q, want exactly one)",
		cert.Subject.CommonName, len(ous), ous)
}

// Rule is which server certificate a client accepts.
type Rule struct {
	// Roots is the deployment CA the certificate must chain to.
	Roots *x509.CertPool
	// Role is the role the certificate must carry.
	Role string
	// Name, when set, is the only common name accepted.
	Name string
	// Serials, when not empty, are the only serials accepted (hex, as
	// big.Int.Text(16) writes them): the certificates on record for the
	// server, e.g. a node's current one and the one it just renewed.
	Serials []string
	// Host is the host name or address the client dialled; the
	// certificate must be valid for it. The name the TLS connection
	// reports is used instead when there is one (it is empty for an IP
	// address, which TLS does not send).
	Host string
	// Client and Server name both ends in refusals, e.g. "an agent" and
	// "the infra server".
	Client, Server string
}

// Check verifies chain, the server's certificates leaf first, against the
// rule, for a connection to host (Rule.Host when empty). It does all of
// crypto/tls's verification itself, so that the role is checked before
// the key usage: an admin or agent certificate (which may not serve) is
// then refused for its role, which says what is wrong, rather than for an
// incompatible key usage.
func (r Rule) Check(chain []*x509.Certificate, host string) error {
	if len(chain) == 0 {
		return fmt.Errorf("the server presented no certificate; %s talks only to %s", r.client(), r.server())
	}
	if r.Roots == nil {
		return fmt.Errorf("%s has no deployment CA to check %s's certificate against", r.client(), r.server())
	}
	if host == "" {
		host = r.Host
	}
	if host == "" {
		return fmt.Errorf("%s has no host name to check %s's certificate against", r.client(), r.server())
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: r.Roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("the server's certificate %q is not of this deployment: %w", leaf.Subject.CommonName, err)
	}
	role, err := RoleOU(leaf)
	if err != nil {
		return fmt.Errorf("the server's certificate carries no single role (%w); %s talks only to %s (role %s)",
			err, r.client(), r.server(), r.Role)
	}
	if role != r.Role {
		return fmt.Errorf("the server's certificate has role %s; %s talks only to %s (role %s) [certificate %q]",
			role, r.client(), r.server(), r.Role, leaf.Subject.CommonName)
	}
	opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("the server's certificate %q may not serve: %w", leaf.Subject.CommonName, err)
	}
	if err := leaf.VerifyHostname(host); err != nil {
		return fmt.Errorf("the server's certificate does not name the host %s talks to: %w", r.client(), err)
	}
	if r.Name != "" && leaf.Subject.CommonName != r.Name {
		return fmt.Errorf("the server's certificate is for %q; %s talks only to %s (%q)",
			leaf.Subject.CommonName, r.client(), r.server(), r.Name)
	}
	if len(r.Serials) > 0 {
		serial := leaf.SerialNumber.Text(16)
		if !slices.Contains(r.Serials, serial) {
			return fmt.Errorf("the server's certificate %q (serial %s) is not the one on record for %s (serials %s); %s talks only to the certificate on record",
				leaf.Subject.CommonName, serial, r.server(), strings.Join(r.Serials, ", "), r.client())
		}
	}
	return nil
}

// VerifyConnection checks the server's certificate of cs for
// tls.Config.VerifyConnection, which crypto/tls calls before the client
// sends anything of its own.
func (r Rule) VerifyConnection(cs tls.ConnectionState) error {
	return r.Check(cs.PeerCertificates, cs.ServerName)
}

// ClientConfig returns a client TLS config that trusts only Roots and
// applies the rule; see Apply.
func (r Rule) ClientConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	r.Apply(cfg)
	return cfg
}

// Apply makes cfg (a client config, which may carry a client certificate)
// accept only the server the rule describes. crypto/tls's own
// verification is switched off because Check does all of it (chain, key
// usage, host name) and more; VerifyConnection runs whatever that setting,
// on resumed sessions too.
func (r Rule) Apply(cfg *tls.Config) {
	cfg.RootCAs = r.Roots
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = r.VerifyConnection
}

func (r Rule) client() string {
	if r.Client == "" {
		return "this client"
	}
	return r.Client
}

func (r Rule) server() string {
	if r.Server == "" {
		return "its server"
	}
	return r.Server
}
