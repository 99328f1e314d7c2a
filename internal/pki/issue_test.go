package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIssueRoles(t *testing.T) {
	ca, _ := newTestCA(t)
	// Certificates carry whole seconds, so a whole-second clock makes the
	// validity bounds exact.
	now := time.Now().Truncate(time.Second)
	ca.Now = func() time.Time { return now }
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)

	tests := []struct {
		role       Role
		ttl        time.Duration
		wantTTL    time.Duration
		serverAuth bool
	}{
		{RoleInfra, 0, 24 * time.Hour, true},
		{RoleAdmin, 0, 8 * time.Hour, false},
		{RoleProvision, 0, 72 * time.Hour, true},
		{RoleAgent, 0, time.Hour, false},
		{RoleInfra, 30 * time.Minute, 30 * time.Minute, true},
		{RoleAdmin, 90 * 24 * time.Hour, 90 * 24 * time.Hour, false},
		{RoleAgent, 5 * time.Minute, 5 * time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.role)+"/"+tt.ttl.String(), func(t *testing.T) {
			b, err := ca.Issue(IssueRequest{Role: tt.role, Name: "node-1"})
			if tt.ttl != 0 {
				b, err = ca.Issue(IssueRequest{Role: tt.role, Name: "node-1", TTL: tt.ttl})
			}
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			c := b.Cert

			role, err := RoleOf(c)
			if err != nil || role != tt.role {
				t.Errorf("RoleOf = %q, %v; want %q", role, err, tt.role)
			}
			if c.Subject.CommonName != "node-1" {
				t.Errorf("CN = %q", c.Subject.CommonName)
			}
			if !slices.Equal(c.Subject.Organization, ca.Cert.Subject.Organization) {
				t.Errorf("O = %q, want CA's %q", c.Subject.Organization, ca.Cert.Subject.Organization)
			}
			if !c.NotBefore.Equal(now.Add(-time.Minute)) {
				t.Errorf("NotBefore = %s, want now-1m", c.NotBefore)
			}
			if got := c.NotAfter.Sub(now); got != tt.wantTTL {
				t.Errorf("TTL = %s, want %s", got, tt.wantTTL)
			}
			if c.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("KeyUsage = %v", c.KeyUsage)
			}
			if c.IsCA {
				t.Error("leaf is a CA")
			}
			if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
				t.Error("missing ClientAuth")
			}
			if got := slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth); got != tt.serverAuth {
				t.Errorf("ServerAuth = %v, want %v", got, tt.serverAuth)
			}
			if _, err := c.Verify(x509.VerifyOptions{
				Roots:       pool,
				CurrentTime: now,
				KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			}); err != nil {
				t.Errorf("Verify: %v", err)
			}
			// The key must belong to the certificate and load the way the
			// docker CLI loads it.
			if _, err := tls.X509KeyPair(b.CertPEM, b.KeyPEM); err != nil {
				t.Errorf("X509KeyPair: %v", err)
			}
			if string(b.CACertPEM) != string(ca.CertPEM) {
				t.Error("CACertPEM is not the CA certificate")
			}
		})
	}
}

func TestIssueSANs(t *testing.T) {
	ca, _ := newTestCA(t)
	tests := []struct {
		name    string
		hosts   []string
		wantDNS []string
		wantIPs []string
	}{
		{"infra-1.example.internal", nil, []string{"infra-1.example.internal"}, nil},
		{"10.0.0.5", nil, nil, []string{"10.0.0.5"}},
		{"::1", nil, nil, []string{"::1"}},
		{"infra-1", []string{"127.0.0.1", "infra-1.lan", "fd00::1", "infra-1"}, []string{"infra-1", "infra-1.lan"}, []string{"127.0.0.1", "fd00::1"}},
		{"10.0.0.5", []string{"10.0.0.5", "::ffff:10.0.0.5"}, nil, []string{"10.0.0.5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ca.Issue(IssueRequest{Role: RoleInfra, Name: tt.name, Hosts: tt.hosts})
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			if !slices.Equal(b.Cert.DNSNames, tt.wantDNS) {
				t.Errorf("DNSNames = %q, want %q", b.Cert.DNSNames, tt.wantDNS)
			}
			var ips []string
			for _, ip := range b.Cert.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(ips, tt.wantIPs) {
				t.Errorf("IPAddresses = %q, want %q", ips, tt.wantIPs)
			}
			for _, h := range append([]string{tt.name}, tt.hosts...) {
				if err := b.Cert.VerifyHostname(h); err != nil {
					t.Errorf("VerifyHostname(%q): %v", h, err)
				}
			}
		})
	}
}

func TestIssueRefused(t *testing.T) {
	ca, _ := newTestCA(t)
	tests := []struct {
		name    string
		req     IssueRequest
		wantErr string
	}{
		{"negative ttl", IssueRequest{Role: RoleAdmin, Name: "a", TTL: -time.Second}, "ttl"},
		{"ttl over 90 days", IssueRequest{Role: RoleAdmin, Name: "a", TTL: 90*24*time.Hour + time.Second}, "ttl"},
		{"empty name", IssueRequest{Role: RoleAdmin, Name: ""}, "empty"},
		{"space in name", IssueRequest{Role: RoleAdmin, Name: "alice smith"}, "invalid character"},
		{"tab in name", IssueRequest{Role: RoleAdmin, Name: "alice\tsmith"}, "invalid character"},
		{"non-ascii name", IssueRequest{Role: RoleAdmin, Name: "bücher.example"}, "invalid character"},
		{"name too long", IssueRequest{Role: RoleAdmin, Name: strings.Repeat("a", 254)}, "longer than 253"},
		{"bad host", IssueRequest{Role: RoleInfra, Name: "a", Hosts: []string{"ok", "not ok"}}, "host"},
		{"empty host", IssueRequest{Role: RoleInfra, Name: "a", Hosts: []string{""}}, "empty"},
		{"no role", IssueRequest{Name: "a"}, "unknown role"},
		{"unknown role", IssueRequest{Role: "root", Name: "a"}, "unknown role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ca.Issue(tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Issue error = %v, want containing %q", err, tt.wantErr)
			}
		})
	}

	// 253 characters is still a valid name.
	if _, err := ca.Issue(IssueRequest{Role: RoleAdmin, Name: strings.Repeat("a", 253)}); err != nil {
		t.Errorf("Issue with 253-character name: %v", err)
	}
}

func TestIssueNearCAExpiry(t *testing.T) {
	ca, _ := newTestCA(t)
	tests := []struct {
		name    string
		now     time.Time
		wantErr bool
	}{
		{"capped", ca.Cert.NotAfter.Add(-time.Hour), false},
		{"after ca expiry", ca.Cert.NotAfter.Add(time.Second), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca.Now = func() time.Time { return tt.now }
			b, err := ca.Issue(IssueRequest{Role: RoleInfra, Name: "a", TTL: 24 * time.Hour})
			if tt.wantErr {
				if err == nil {
					t.Fatal("Issue succeeded after CA expiry")
				}
				return
			}
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			if !b.Cert.NotAfter.Equal(ca.Cert.NotAfter) {
				t.Errorf("NotAfter = %s, want capped at CA NotAfter %s", b.Cert.NotAfter, ca.Cert.NotAfter)
			}
		})
	}
}

func TestSignCSR(t *testing.T) {
	ca, _ := newTestCA(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// The CSR asks for more than it should get; only its key may be used.
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "evil", OrganizationalUnit: []string{"admin"}},
		DNSNames:    []string{"evil.example"},
		IPAddresses: []net.IP{net.ParseIP("1.2.3.4")},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	parse := func(t *testing.T) *x509.CertificateRequest {
		csr, err := x509.ParseCertificateRequest(der)
		if err != nil {
			t.Fatal(err)
		}
		return csr
	}

	tests := []struct {
		name    string
		csr     func(t *testing.T) *x509.CertificateRequest
		wantErr string
	}{
		{"ok", parse, ""},
		{"nil", func(*testing.T) *x509.CertificateRequest { return nil }, "no csr"},
		{"bad signature", func(t *testing.T) *x509.CertificateRequest {
			csr := parse(t)
			csr.Signature = slices.Clone(csr.Signature)
			csr.Signature[len(csr.Signature)-1] ^= 0xff
			return csr
		}, "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ca.SignCSR(tt.csr(t), IssueRequest{Role: RoleAgent, Name: "agent-7"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SignCSR error = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("SignCSR: %v", err)
			}
			if b.KeyPEM != nil {
				t.Error("KeyPEM set for a CSR")
			}
			if !key.PublicKey.Equal(b.Cert.PublicKey) {
				t.Error("certificate is not for the CSR's key")
			}
			if role, _ := RoleOf(b.Cert); role != RoleAgent {
				t.Errorf("role = %q, want agent (CSR subject must be ignored)", role)
			}
			if b.Cert.Subject.CommonName != "agent-7" || !slices.Equal(b.Cert.DNSNames, []string{"agent-7"}) || len(b.Cert.IPAddresses) != 0 {
				t.Errorf("subject %v, SANs %q %v taken from CSR", b.Cert.Subject, b.Cert.DNSNames, b.Cert.IPAddresses)
			}
			if got := b.Cert.NotAfter.Sub(b.Cert.NotBefore); got != RoleAgent.DefaultTTL()+time.Minute {
				t.Errorf("validity = %s", got)
			}
		})
	}
}

func TestIssueFreshKeys(t *testing.T) {
	ca, _ := newTestCA(t)
	a, err := ca.Issue(IssueRequest{Role: RoleAdmin, Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ca.Issue(IssueRequest{Role: RoleAdmin, Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Cert.SerialNumber.Cmp(b.Cert.SerialNumber) == 0 {
		t.Error("two certificates share a serial")
	}
	if string(a.KeyPEM) == string(b.KeyPEM) {
		t.Error("two certificates share a key")
	}
}
