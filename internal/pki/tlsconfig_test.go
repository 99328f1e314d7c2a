package pki

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer accepts TLS connections on loopback and reports each
// server-side handshake result on errs.
type testServer struct {
	addr string
	errs chan error
}

func startServer(t *testing.T, cfg *tls.Config) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{addr: ln.Addr().String(), errs: make(chan error, 64)}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				// Deadlines, not sleeps, keep a broken test from hanging.
				c.SetDeadline(time.Now().Add(10 * time.Second))
				tc := tls.Server(c, cfg)
				if err := tc.Handshake(); err != nil {
					s.errs <- err
					return
				}
				// Tell the client it was accepted: in TLS 1.3 the client's
				// handshake completes before the server has judged the
				// client certificate.
				_, err := tc.Write([]byte("ok"))
				s.errs <- err
			})
		}
	})
	return s
}

type dialResult struct {
	clientErr error
	serverErr error
	state     tls.ConnectionState
}

// dial connects once and waits for the server's verdict on that connection.
// Calls must not overlap if serverErr is to belong to this connection.
func (s *testServer) dial(t *testing.T, cfg *tls.Config) dialResult {
	t.Helper()
	var res dialResult
	d := &net.Dialer{Deadline: time.Now().Add(10 * time.Second)}
	conn, err := tls.DialWithDialer(d, "tcp", s.addr, cfg)
	if err != nil {
		res.clientErr = err
	} else {
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		res.state = conn.ConnectionState()
		if _, err := io.ReadFull(conn, make([]byte, 2)); err != nil {
			res.clientErr = err
		}
	}
	res.serverErr = <-s.errs
	return res
}

func clientConfig(t *testing.T, dir string) *tls.Config {
	t.Helper()
	cfg, err := ClientTLSConfig(dir)
	if err != nil {
		t.Fatalf("ClientTLSConfig: %v", err)
	}
	cfg.NextProtos = []string{"h2", "http/1.1"}
	return cfg
}

func TestServerTLSConfigHandshake(t *testing.T) {
	ca, _ := newTestCA(t)
	serverDir, _ := issueTo(t, ca, IssueRequest{Role: RoleInfra, Name: "127.0.0.1"})
	serverCfg, err := ServerTLSConfig(serverDir, RoleInfra, RoleAdmin)
	if err != nil {
		t.Fatalf("ServerTLSConfig: %v", err)
	}
	srv := startServer(t, serverCfg)

	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)

	otherCA, _ := newTestCA(t)

	tests := []struct {
		name          string
		client        func(t *testing.T) *tls.Config
		wantServerErr string // empty: handshake must succeed
	}{
		{"ok/admin client", func(t *testing.T) *tls.Config {
			dir, _ := issueTo(t, ca, IssueRequest{Role: RoleAdmin, Name: "alice"})
			return clientConfig(t, dir)
		}, ""},
		{"ok/infra client", func(t *testing.T) *tls.Config {
			dir, _ := issueTo(t, ca, IssueRequest{Role: RoleInfra, Name: "infra-2"})
			return clientConfig(t, dir)
		}, ""},
		{"fail/no client cert", func(t *testing.T) *tls.Config {
			return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
		}, "didn't provide a certificate"},
		{"fail/cert from another CA", func(t *testing.T) *tls.Config {
			foreign, err := otherCA.Issue(IssueRequest{Role: RoleAdmin, Name: "mallory"})
			if err != nil {
				t.Fatal(err)
			}
			// Trust the real CA so only the client certificate is wrong.
			foreign.CACertPEM = ca.CertPEM
			dir := filepath.Join(t.TempDir(), "foreign")
			if err := WriteBundle(dir, foreign); err != nil {
				t.Fatal(err)
			}
			cfg := clientConfig(t, dir)
			// Go's client withholds a certificate the server's CA list
			// does not name; an attacker would not, so force it.
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return &cfg.Certificates[0], nil
			}
			return cfg
		}, "unknown authority"},
		{"fail/expired client cert", func(t *testing.T) *tls.Config {
			past := *ca
			past.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
			dir, b := issueTo(t, &past, IssueRequest{Role: RoleAdmin, Name: "alice", TTL: time.Hour})
			if !b.Cert.NotAfter.Before(time.Now()) {
				t.Fatalf("certificate not expired: NotAfter %s", b.Cert.NotAfter)
			}
			return clientConfig(t, dir)
		}, "expired"},
		{"fail/role agent", func(t *testing.T) *tls.Config {
			dir, _ := issueTo(t, ca, IssueRequest{Role: RoleAgent, Name: "agent-1"})
			return clientConfig(t, dir)
		}, "role agent; this server allows only infra, admin"},
		{"fail/role provision", func(t *testing.T) *tls.Config {
			dir, _ := issueTo(t, ca, IssueRequest{Role: RoleProvision, Name: "prov-1"})
			return clientConfig(t, dir)
		}, "role provision; this server allows only infra, admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := srv.dial(t, tt.client(t))
			if tt.wantServerErr == "" {
				if res.serverErr != nil || res.clientErr != nil {
					t.Fatalf("handshake failed: server: %v; client: %v", res.serverErr, res.clientErr)
				}
				if res.state.Version != tls.VersionTLS13 {
					t.Errorf("version = %x, want TLS 1.3", res.state.Version)
				}
				if res.state.NegotiatedProtocol != "http/1.1" {
					t.Errorf("ALPN = %q, want http/1.1", res.state.NegotiatedProtocol)
				}
				return
			}
			if res.serverErr == nil || !strings.Contains(res.serverErr.Error(), tt.wantServerErr) {
				t.Errorf("server handshake error = %v, want containing %q", res.serverErr, tt.wantServerErr)
			}
			if res.clientErr == nil {
				t.Error("client was not refused")
			}
		})
	}
}

// A client must refuse a server whose certificate lacks ServerAuth, so an
// admin or agent certificate cannot impersonate a service.
func TestClientRefusesNonServerCert(t *testing.T) {
	ca, _ := newTestCA(t)
	serverDir, _ := issueTo(t, ca, IssueRequest{Role: RoleAdmin, Name: "127.0.0.1"})
	serverCfg, err := ServerTLSConfig(serverDir, RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, serverCfg)
	clientDir, _ := issueTo(t, ca, IssueRequest{Role: RoleAdmin, Name: "alice"})
	res := srv.dial(t, clientConfig(t, clientDir))
	if res.clientErr == nil || !strings.Contains(res.clientErr.Error(), "key usage") {
		t.Errorf("client error = %v, want key usage error", res.clientErr)
	}
	if res.serverErr == nil {
		t.Error("server handshake succeeded")
	}
}

func TestServerTLSConfigReload(t *testing.T) {
	ca, _ := newTestCA(t)
	serverDir, first := issueTo(t, ca, IssueRequest{Role: RoleInfra, Name: "127.0.0.1"})
	serverCfg, err := ServerTLSConfig(serverDir, RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, serverCfg)
	clientDir, _ := issueTo(t, ca, IssueRequest{Role: RoleAdmin, Name: "alice"})
	client := clientConfig(t, clientDir)

	servedSerial := func(t *testing.T) *big.Int {
		t.Helper()
		res := srv.dial(t, client)
		if res.clientErr != nil || res.serverErr != nil {
			t.Fatalf("handshake failed: server: %v; client: %v", res.serverErr, res.clientErr)
		}
		return res.state.PeerCertificates[0].SerialNumber
	}

	if got := servedSerial(t); got.Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatalf("served serial %v, want first %v", got, first.Cert.SerialNumber)
	}

	// Handshakes racing with renewals must all succeed, whichever pair
	// they get; this also exercises the reloader under -race.
	var latest *Bundle
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 4 {
		wg.Go(func() {
			for range 4 {
				d := &net.Dialer{Deadline: time.Now().Add(10 * time.Second)}
				conn, err := tls.DialWithDialer(d, "tcp", srv.addr, client)
				if err == nil {
					_, err = io.ReadFull(conn, make([]byte, 2))
					conn.Close()
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	for range 3 {
		b, err := ca.Issue(IssueRequest{Role: RoleInfra, Name: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteBundle(serverDir, b); err != nil {
			t.Fatal(err)
		}
		latest = b
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("handshake during renewal: %v", err)
	}
	if t.Failed() {
		// A dial that never connected has no server result to wait for.
		t.FailNow()
	}
	for range 16 {
		if err := <-srv.errs; err != nil {
			t.Errorf("server handshake during renewal: %v", err)
		}
	}

	if got := servedSerial(t); got.Cmp(latest.Cert.SerialNumber) != 0 {
		t.Fatalf("after renewal served serial %v, want %v", got, latest.Cert.SerialNumber)
	}
}

func TestServerTLSConfigErrors(t *testing.T) {
	ca, _ := newTestCA(t)
	dir, _ := issueTo(t, ca, IssueRequest{Role: RoleInfra, Name: "infra-1"})
	tests := []struct {
		name    string
		dir     string
		allowed []Role
		wantErr string
	}{
		{"no roles", dir, nil, "no roles allowed"},
		{"unknown role", dir, []Role{RoleAdmin, "root"}, "unknown role"},
		{"missing bundle", t.TempDir(), []Role{RoleAdmin}, "ca.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ServerTLSConfig(tt.dir, tt.allowed...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ServerTLSConfig error = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := ClientTLSConfig(t.TempDir()); err == nil {
		t.Error("ClientTLSConfig accepted an empty directory")
	}
}
