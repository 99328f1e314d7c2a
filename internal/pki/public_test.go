package pki

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
)

func TestPublicServerTLSConfig(t *testing.T) {
	ca, _ := newTestCA(t)
	serverDir, _ := issueTo(t, ca, IssueRequest{Role: RoleInfra, Name: "127.0.0.1"})
	revokedDir, revokedB := issueTo(t, ca, IssueRequest{Role: RoleProvision, Name: "node-gone"})
	goodDir, _ := issueTo(t, ca, IssueRequest{Role: RoleProvision, Name: "node-1"})
	revokedSerial := revokedB.Cert.SerialNumber.Text(16)
	cfg, err := PublicServerTLSConfig(serverDir, func(serial string) bool { return serial == revokedSerial })
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, cfg)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, tc := range []struct {
		name    string
		client  *tls.Config
		wantErr string
	}{
		{"ok/browser-without-certificate", &tls.Config{RootCAs: pool}, ""},
		{"ok/node-certificate", clientConfig(t, goodDir), ""},
		{"fail/revoked-node-certificate", clientConfig(t, revokedDir), "revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := srv.dial(t, tc.client)
			if tc.wantErr == "" {
				if res.serverErr != nil || res.clientErr != nil {
					t.Fatalf("refused: server %v, client %v", res.serverErr, res.clientErr)
				}
				return
			}
			if res.serverErr == nil || !strings.Contains(res.serverErr.Error(), tc.wantErr) {
				t.Fatalf("server error %v, want %q", res.serverErr, tc.wantErr)
			}
		})
	}
}
