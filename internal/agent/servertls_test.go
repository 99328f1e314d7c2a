package agent

import (
	"context"
	"crypto/tls"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-rbi/airlock/internal/pki"
)

// TestAgentAcceptsOnlyInfraServer: the agent talks to a server holding a
// certificate of the deployment's CA of each role; only role infra gets
// the registration token, the others are refused at the handshake with
// words that say why. (Test files may use pki; the agent itself may not.)
func TestAgentAcceptsOnlyInfraServer(t *testing.T) {
	ca, err := pki.InitCA(filepath.Join(t.TempDir(), "ca"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		role    pki.Role
		wantErr string // "" means registered
	}{
		{pki.RoleInfra, ""},
		{pki.RoleProvision, "the server's certificate has role provision; an agent talks only to the infra server (role infra)"},
		{pki.RoleAdmin, "the server's certificate has role admin; an agent talks only to the infra server (role infra)"},
		{pki.RoleAgent, "the server's certificate has role agent; an agent talks only to the infra server (role infra)"},
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			b, err := ca.Issue(pki.IssueRequest{Role: tt.role, Name: "airlock-server", Hosts: []string{"127.0.0.1"}})
			if err != nil {
				t.Fatal(err)
			}
			pair, err := tls.X509KeyPair(b.CertPEM, b.KeyPEM)
			if err != nil {
				t.Fatal(err)
			}
			api := &fakeAPI{beat: make(chan struct{}, 1)}
			srv := httptest.NewUnstartedServer(api)
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
			srv.StartTLS()
			defer srv.Close()
			a, err := New(Config{Server: srv.URL, Session: "s1", RegisterToken: "alr_good", CAPEM: ca.CertPEM})
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.registerOnce(context.Background())
			api.mu.Lock()
			registered := api.registered
			api.mu.Unlock()
			if tt.wantErr == "" {
				if err != nil || registered != 1 {
					t.Fatalf("registration with the infra server: %v (registered %d)", err, registered)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("registration: %v, want an error containing %q", err, tt.wantErr)
			}
			if registered != 0 {
				t.Fatalf("the %s server received the registration token", tt.role)
			}
		})
	}
}
