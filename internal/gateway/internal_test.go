package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/airlock-rbi/airlock/internal/pki"
)

// deployment is a CA and the bundles it issued, by name.
type deployment struct {
	ca   *pki.CA
	dirs map[string]string
}

func newDeployment(t *testing.T, certs map[string]pki.Role) *deployment {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.InitCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	d := &deployment{ca: ca, dirs: map[string]string{}}
	for name, role := range certs {
		b, err := ca.Issue(pki.IssueRequest{Role: role, Name: name, Hosts: []string{"127.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}
		d.dirs[name] = filepath.Join(dir, name)
		if err := pki.WriteBundle(d.dirs[name], b); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// serveInternal runs h behind Internal on a listener that admits only
// the gateway and cron, as the api's internal listener would.
func serveInternal(t *testing.T, d *deployment, h http.Handler) (url string, calls *atomic.Int64) {
	t.Helper()
	cfg, err := pki.ServerTLSConfig(d.dirs["api"], pki.RoleGateway, pki.RoleCron)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	calls = &atomic.Int64{}
	srv := &http.Server{Handler: Internal(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		h.ServeHTTP(w, r)
	})), TLSConfig: cfg}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return "https://" + ln.Addr().String(), calls
}

func clientWith(t *testing.T, roots *x509.CertPool, certDir string) *http.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}
	if certDir != "" {
		c, err := tls.LoadX509KeyPair(filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}

// TestInternalHandshake: an internal listener refuses at the handshake a
// peer without a certificate, with a role it does not admit, or with a
// certificate of another deployment; it takes a user's identity from the
// gateway only.
func TestInternalHandshake(t *testing.T) {
	d := newDeployment(t, map[string]pki.Role{"api": pki.RoleAPI, "gateway": pki.RoleGateway, "cron": pki.RoleCron,
		"admin": pki.RoleAdmin, "signal": pki.RoleSignal})
	other := newDeployment(t, map[string]pki.Role{"gateway": pki.RoleGateway})
	url, calls := serveInternal(t, d, echoService("api"))
	roots := x509.NewCertPool()
	roots.AddCert(d.ca.Cert)

	tests := []struct {
		name    string
		client  *http.Client
		header  string
		refused string // part of the handshake error, or "" for through
		status  int
		user    string
	}{
		{"no certificate", clientWith(t, roots, ""), "", "certificate required", 0, ""},
		{"a role it does not admit", clientWith(t, roots, d.dirs["admin"]), "", "tls:", 0, ""},
		{"another service's role", clientWith(t, roots, d.dirs["signal"]), "", "tls:", 0, ""},
		{"another deployment's gateway", clientWith(t, roots, other.dirs["gateway"]), encodeIdentity(root), "tls:", 0, ""},
		{"the gateway with an identity", clientWith(t, roots, d.dirs["gateway"]), encodeIdentity(alice), "", 200, "alice"},
		{"the gateway without one", clientWith(t, roots, d.dirs["gateway"]), "", "", 200, ""},
		{"the gateway with a malformed one", clientWith(t, roots, d.dirs["gateway"]), "not base64!", "", 400, ""},
		{"cron claiming an identity", clientWith(t, roots, d.dirs["cron"]), encodeIdentity(root), "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := calls.Load()
			req, _ := http.NewRequest("GET", url+"/api/v1/me", nil)
			if tt.header != "" {
				req.Header.Set(IdentityHeader, tt.header)
			}
			resp, err := tt.client.Do(req)
			if tt.refused != "" {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("answered %d, want a refused handshake", resp.StatusCode)
				}
				if !strings.Contains(err.Error(), tt.refused) {
					t.Errorf("error %v, want one with %q", err, tt.refused)
				}
				if calls.Load() != before {
					t.Errorf("the handler ran for a refused peer")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status != 200 {
				return
			}
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if body["user"] != tt.user {
				t.Errorf("served as %q, want %q", body["user"], tt.user)
			}
			if hdr, _ := body["headers"].(map[string]any); hdr[IdentityHeader] != nil {
				t.Errorf("the service saw the raw identity header")
			}
		})
	}

	t.Run("through a gateway in another process", func(t *testing.T) {
		cfg, err := pki.ClientTLSConfig(d.dirs["gateway"])
		if err != nil {
			t.Fatal(err)
		}
		remote, err := Remote(url, RemoteOptions{TLS: cfg})
		if err != nil {
			t.Fatal(err)
		}
		g := newTestGateway(t, nil, map[string]http.Handler{"api": remote, "signal": remote, "portal": remote})
		a := call(t, g, "GET", "/api/v1/me", map[string]string{"Authorization": "Bearer alice-token", IdentityHeader: encodeIdentity(root)})
		if a.status != 200 || a.body["user"] != "alice" {
			t.Fatalf("%d %v, want alice", a.status, a.body)
		}
		a = call(t, g, "GET", "/", map[string]string{IdentityHeader: encodeIdentity(root)})
		if a.status != 200 || a.body["user"] != "" {
			t.Fatalf("public route: %d %v, want no user", a.status, a.body)
		}
	})
}

func TestInternalWithoutTLS(t *testing.T) {
	rec := httptest.NewRecorder()
	Internal(echoService("api")).ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/me", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("plain request: %d, want 401", rec.Code)
	}
}

// TestInternalForwardedClient: behind a gateway in another process the
// service sees the client's address and the certificate the client
// presented at the public listener, as it would in one process; a peer
// that is not the gateway cannot claim either.
func TestInternalForwardedClient(t *testing.T) {
	d := newDeployment(t, map[string]pki.Role{"api": pki.RoleAPI, "gateway": pki.RoleGateway, "cron": pki.RoleCron, "node": pki.RoleProvision})
	type seen struct {
		addr, cert string
	}
	got := make(chan seen, 4)
	url, _ := serveInternal(t, d, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{addr: r.RemoteAddr}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			s.cert = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		got <- s
	}))
	gwTLS, err := pki.ClientTLSConfig(d.dirs["gateway"])
	if err != nil {
		t.Fatal(err)
	}
	remote, err := Remote(url, RemoteOptions{TLS: gwTLS})
	if err != nil {
		t.Fatal(err)
	}
	// The client at the public door: a node with its certificate,
	// verified there.
	nodeCert, err := tls.LoadX509KeyPair(filepath.Join(d.dirs["node"], "cert.pem"), filepath.Join(d.dirs["node"], "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(nodeCert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/api/v1/nodes/heartbeat", nil)
	req.RemoteAddr = "192.0.2.7:5555"
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf}}}
	req.Header.Set(ClientAddrHeader, "10.9.9.9:1") // the client's own: dropped
	rec := httptest.NewRecorder()
	remote.ServeHTTP(rec, req)
	if s := <-got; s.addr != "192.0.2.7:5555" || s.cert != "node" {
		t.Fatalf("through the gateway the service saw %+v; want the client's address 192.0.2.7:5555 and certificate node", s)
	}
	// Without a client certificate, the gateway's own is not the caller's.
	req = httptest.NewRequest("GET", "/api/v1/me", nil)
	req.RemoteAddr = "192.0.2.8:6666"
	remote.ServeHTTP(httptest.NewRecorder(), req)
	if s := <-got; s.addr != "192.0.2.8:6666" || s.cert != "" {
		t.Fatalf("a client without a certificate: the service saw %+v", s)
	}
	// cron is admitted but is no gateway: its claims are dropped.
	call, _ := http.NewRequest("GET", url+"/api/v1/me", nil)
	call.Header.Set(ClientAddrHeader, "192.0.2.9:7777")
	call.Header.Set(ClientCertHeader, "bm90IGEgY2VydA")
	roots := x509.NewCertPool()
	roots.AddCert(d.ca.Cert)
	res, err := clientWith(t, roots, d.dirs["cron"]).Do(call)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if s := <-got; strings.HasPrefix(s.addr, "192.0.2.9") || s.cert != "cron" {
		t.Fatalf("cron's claimed client: the service saw %+v; want cron itself", s)
	}
}
