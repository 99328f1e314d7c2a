package enroll

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/pki"
)

// TestJoinAcceptsOnlyInfraServer: a server with a certificate of the
// deployment's CA but another role (another node's, say) may serve the
// CA, but never receives the join token.
func TestJoinAcceptsOnlyInfraServer(t *testing.T) {
	ca, err := pki.InitCA(filepath.Join(t.TempDir(), "ca"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		role    pki.Role
		wantErr string // "" means the token reached the server
	}{
		{pki.RoleInfra, ""},
		{pki.RoleProvision, "the server's certificate has role provision; a provision node talks only to the infra server (role infra)"},
		{pki.RoleAdmin, "the server's certificate has role admin; a provision node talks only to the infra server (role infra)"},
	} {
		t.Run(string(tc.role), func(t *testing.T) {
			b, err := ca.Issue(pki.IssueRequest{Role: tc.role, Name: "airlock-server", Hosts: []string{"127.0.0.1"}})
			if err != nil {
				t.Fatal(err)
			}
			pair, err := tls.X509KeyPair(b.CertPEM, b.KeyPEM)
			if err != nil {
				t.Fatal(err)
			}
			var enrolls atomic.Int32
			mux := http.NewServeMux()
			mux.HandleFunc("GET /api/v1/ca", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(ca.CertPEM) })
			mux.HandleFunc("POST /api/v1/nodes/enroll", func(w http.ResponseWriter, r *http.Request) {
				enrolls.Add(1)
				http.Error(w, `{"code":"invalid","message":"test server"}`, http.StatusBadRequest)
			})
			srv := httptest.NewUnstartedServer(mux)
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
			srv.StartTLS()
			defer srv.Close()
			tok, err := auth.NewJoinToken(ca.Fingerprint())
			if err != nil {
				t.Fatal(err)
			}
			err = Join(context.Background(), srv.URL, tok.String(), Node{Name: "n1", URL: "https://127.0.0.1:2376", Capacity: 1}, t.TempDir())
			if tc.wantErr == "" {
				if enrolls.Load() != 1 {
					t.Fatalf("the infra server did not get the enrollment: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("join: %v, want an error containing %q", err, tc.wantErr)
			}
			if enrolls.Load() != 0 {
				t.Fatalf("the %s server received the join token", tc.role)
			}
		})
	}
}
