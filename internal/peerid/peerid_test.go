package peerid_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/peerid"
	"github.com/airlock-rbi/airlock/internal/pki"
)

func newCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, err := pki.InitCA(filepath.Join(t.TempDir(), "ca"))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issue(t *testing.T, ca *pki.CA, role pki.Role, name string, hosts ...string) *x509.Certificate {
	t.Helper()
	b, err := ca.Issue(pki.IssueRequest{Role: role, Name: name, Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	return b.Cert
}

func TestCheck(t *testing.T) {
	ca, other := newCA(t), newCA(t)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	server := issue(t, ca, pki.RoleInfra, "airlock-server", "localhost", "127.0.0.1")
	node := issue(t, ca, pki.RoleProvision, "127.0.0.1")
	renewed := issue(t, ca, pki.RoleProvision, "127.0.0.1")
	agentRule := peerid.Rule{Roots: roots, Role: peerid.RoleInfra, Client: "an agent", Server: "the infra server"}
	nodeRule := peerid.Rule{Roots: roots, Role: peerid.RoleProvision, Client: "the launcher", Server: "node n1",
		Serials: []string{node.SerialNumber.Text(16)}}
	tests := []struct {
		name    string
		rule    peerid.Rule
		chain   []*x509.Certificate
		host    string
		wantErr string // "" means accepted
	}{
		{"infra server", agentRule, []*x509.Certificate{server}, "localhost", ""},
		{"infra server by IP", agentRule, []*x509.Certificate{server}, "127.0.0.1", ""},
		{"host from the rule", peerid.Rule{Roots: roots, Role: peerid.RoleInfra, Host: "127.0.0.1"}, []*x509.Certificate{server}, "", ""},
		{"provision posing as server", agentRule, []*x509.Certificate{node}, "127.0.0.1",
			"the server's certificate has role provision; an agent talks only to the infra server (role infra)"},
		{"admin posing as server", agentRule, []*x509.Certificate{issue(t, ca, pki.RoleAdmin, "alice", "localhost")}, "localhost",
			"has role admin; an agent talks only to the infra server (role infra)"},
		{"agent posing as server", agentRule, []*x509.Certificate{issue(t, ca, pki.RoleAgent, "s-1", "localhost")}, "localhost",
			"has role agent; an agent talks only to the infra server (role infra)"},
		{"another deployment's infra", agentRule, []*x509.Certificate{issue(t, other, pki.RoleInfra, "airlock-server", "localhost")}, "localhost",
			"is not of this deployment"},
		{"wrong host", agentRule, []*x509.Certificate{server}, "example.com", "does not name the host"},
		{"no host at all", peerid.Rule{Roots: roots, Role: peerid.RoleInfra}, []*x509.Certificate{server}, "", "no host name"},
		{"no certificate", agentRule, nil, "localhost", "presented no certificate"},
		{"no roots", peerid.Rule{Role: peerid.RoleInfra}, []*x509.Certificate{server}, "localhost", "no deployment CA"},
		{"name pinned", peerid.Rule{Roots: roots, Role: peerid.RoleInfra, Name: "airlock-server"}, []*x509.Certificate{server}, "localhost", ""},
		{"other name", peerid.Rule{Roots: roots, Role: peerid.RoleInfra, Name: "airlock-api"}, []*x509.Certificate{server}, "localhost",
			`is for "airlock-server"`},
		{"node on record", nodeRule, []*x509.Certificate{node}, "127.0.0.1", ""},
		{"another node's certificate", nodeRule, []*x509.Certificate{issue(t, ca, pki.RoleProvision, "127.0.0.1")}, "127.0.0.1",
			"is not the one on record for node n1"},
		{"infra posing as node", nodeRule, []*x509.Certificate{server}, "127.0.0.1",
			"has role infra; the launcher talks only to node n1 (role provision)"},
		{"renewed, both on record", peerid.Rule{Roots: roots, Role: peerid.RoleProvision,
			Serials: []string{renewed.SerialNumber.Text(16), node.SerialNumber.Text(16)}}, []*x509.Certificate{node}, "127.0.0.1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rule.Check(tt.chain, tt.host)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Check = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestIsDeploymentCA(t *testing.T) {
	ca := newCA(t)
	tests := []struct {
		name string
		cert *x509.Certificate
		want bool
	}{
		{"deployment CA", ca.Cert, true},
		{"a leaf of it", issue(t, ca, pki.RoleInfra, "airlock-server"), false},
		{"a CA named otherwise", selfSignedCA(t, "Some Public Root"), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := peerid.IsDeploymentCA(tt.cert); got != tt.want {
				t.Errorf("IsDeploymentCA = %v, want %v", got, tt.want)
			}
		})
	}
}

func selfSignedCA(t *testing.T, org string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: org, Organization: []string{org}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
