package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/pki"
)

// TestClientAcceptsOnlyInfraServer: given the deployment CA, the CLI
// sends its token only to a server whose certificate has role infra;
// given another CA (a public or company one), it accepts that CA's
// certificates, which carry no role, as a browser would.
func TestClientAcceptsOnlyInfraServer(t *testing.T) {
	ca, err := pki.InitCA(filepath.Join(t.TempDir(), "ca"))
	if err != nil {
		t.Fatal(err)
	}
	deploymentCert := func(role pki.Role) tls.Certificate {
		b, err := ca.Issue(pki.IssueRequest{Role: role, Name: "airlock-server", Hosts: []string{"127.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(b.CertPEM, b.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return pair
	}
	publicCA, publicCert := otherCA(t)
	tests := []struct {
		name    string
		cert    tls.Certificate
		caPEM   string
		wantErr string // "" means the call went through
	}{
		{"infra", deploymentCert(pki.RoleInfra), string(ca.CertPEM), ""},
		{"provision", deploymentCert(pki.RoleProvision), string(ca.CertPEM),
			"the server's certificate has role provision; the CLI talks only to the infra server (role infra)"},
		{"admin", deploymentCert(pki.RoleAdmin), string(ca.CertPEM), "has role admin; the CLI talks only to the infra server"},
		{"agent", deploymentCert(pki.RoleAgent), string(ca.CertPEM), "has role agent; the CLI talks only to the infra server"},
		{"public CA", publicCert, publicCA, ""},
		// A file that holds the deployment CA means the role is enforced,
		// whatever else it holds.
		{"public cert, deployment CA in the file", publicCert, publicCA + string(ca.CertPEM), "carries no single role"},
		{"public cert, deployment CA only", publicCert, string(ca.CertPEM), "is not of this deployment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls int
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls++
				w.Write([]byte(`{}`))
			}))
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{tt.cert}}
			srv.StartTLS()
			defer srv.Close()
			c, err := New(Config{Server: srv.URL, Token: "alr_secret", CAPEM: tt.caPEM})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Do(context.Background(), http.MethodGet, "/api/v1/me", nil, nil)
			srv.Close() // the handler's calls are done once Close returns
			if tt.wantErr == "" {
				if err != nil || calls != 1 {
					t.Fatalf("call: %v (%d calls)", err, calls)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("call: %v, want an error containing %q", err, tt.wantErr)
			}
			if calls != 0 {
				t.Fatal("the server received the call (and the token)")
			}
		})
	}
}

func TestServerTLSRefusesBadCA(t *testing.T) {
	tests := []struct{ name, pem, wantErr string }{
		{"not PEM", "hello", "not PEM"},
		{"no certificate", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not PEM"},
		{"bad certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(Config{Server: "https://127.0.0.1:8443", CAPEM: tt.pem}); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// otherCA makes a CA that is not an Airlock deployment's and a server
// certificate of it for 127.0.0.1, with no role.
func otherCA(t *testing.T) (caPEM string, server tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Example Root", Organization: []string{"Example"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "airlock.example"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
