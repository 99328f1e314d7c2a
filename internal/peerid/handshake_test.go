package peerid_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/peerid"
	"github.com/airlock-rbi/airlock/internal/pki"
)

// TestClientConfigHandshake runs real handshakes against a loopback
// server by IP address, where TLS sends no server name and the rule's
// Host is what the certificate is checked against.
func TestClientConfigHandshake(t *testing.T) {
	ca := newCA(t)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	tests := []struct {
		name    string
		role    pki.Role
		host    string
		wantErr string
	}{
		{"infra", pki.RoleInfra, "127.0.0.1", ""},
		{"provision", pki.RoleProvision, "127.0.0.1", "has role provision; an agent talks only to the infra server (role infra)"},
		{"admin", pki.RoleAdmin, "127.0.0.1", "has role admin"},
		{"infra for another host", pki.RoleInfra, "10.9.9.9", "does not name the host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ca.Issue(pki.IssueRequest{Role: tt.role, Name: "srv", Hosts: []string{tt.host}})
			if err != nil {
				t.Fatal(err)
			}
			pair, err := tls.X509KeyPair(b.CertPEM, b.KeyPEM)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				c.(*tls.Conn).Handshake()
			}()
			rule := peerid.Rule{Roots: roots, Role: peerid.RoleInfra, Host: "127.0.0.1", Client: "an agent", Server: "the infra server"}
			d := &net.Dialer{Timeout: 10 * time.Second}
			c, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), rule.ClientConfig())
			if err == nil {
				c.Close()
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("handshake: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
