package infra

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/gateway"
	"github.com/airlock-rbi/airlock/internal/pki"
	"github.com/airlock-rbi/airlock/internal/signal"
)

// splitDeployment is each role in a process of its own (here, a Run of
// its own in this test process), sharing a data directory, on loopback.
type splitDeployment struct {
	data, public, metrics string
	zone                  Zone
	client                *http.Client // trusts the deployment CA, no certificate
	servers               map[Role]*Server
}

// runRole runs one process of the deployment until the test ends.
func runRole(t *testing.T, cfg Config) *Server {
	t.Helper()
	ready := make(chan *Server, 1)
	exited := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Ready = func(_ string, s *Server) { ready <- s }
	cfg.Logger = quietLog
	if os.Getenv("AIRLOCK_TEST_VERBOSE") != "" {
		cfg.Logger = nil
	}
	go func() { exited <- Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-exited; err != nil {
			t.Errorf("roles %s: %v", cfg.Roles, err)
		}
	})
	select {
	case s := <-ready:
		return s
	case err := <-exited:
		t.Fatalf("roles %s exited: %v", cfg.Roles, err)
	case <-time.After(60 * time.Second):
		t.Fatalf("roles %s did not start", cfg.Roles)
	}
	return nil
}

func startSplit(t *testing.T) *splitDeployment {
	t.Helper()
	d := &splitDeployment{data: t.TempDir(), public: freeAddr(t), metrics: freeAddr(t), servers: map[Role]*Server{}}
	d.zone = Zone{APIListen: freeAddr(t), SignalListen: freeAddr(t), PortalListen: freeAddr(t)}
	d.zone.APIURL, d.zone.SignalURL, d.zone.PortalURL = "https://"+d.zone.APIListen, "https://"+d.zone.SignalListen, "https://"+d.zone.PortalListen
	base := Config{DataDir: d.data, Zone: d.zone, AgentURL: "https://" + d.public, AdminPassword: "admin-password-1",
		PasswordParams: &auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}
	role := func(roles Roles, mod func(*Config)) *Server {
		cfg := base
		cfg.Roles = roles
		if mod != nil {
			mod(&cfg)
		}
		srv := runRole(t, cfg)
		d.servers[roles[0]] = srv
		return srv
	}
	// The api first: it makes the CA and the key files the others use.
	role(Roles{RoleAPI}, func(c *Config) {
		c.MetricsListen = d.metrics
		c.Lifecycle.Every = 100 * time.Millisecond
	})
	role(Roles{RoleSignal}, nil)
	role(Roles{RolePortal}, nil)
	role(Roles{RoleCron}, func(c *Config) { c.Lifecycle.Every = 100 * time.Millisecond })
	role(Roles{RoleGateway}, func(c *Config) { c.Listen = d.public })

	pool := x509.NewCertPool()
	pem, err := os.ReadFile(filepath.Join(d.data, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	d.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return d
}

func (d *splitDeployment) call(t *testing.T, method, path, bearer string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "https://"+d.public+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := d.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

// TestSplitDeployment: with each role in its own process, everything a
// client does goes through the gateway and works as in one process:
// sign-in, the api's user and admin routes, the portal, the relay; a
// token revoked stops at once; cron's rounds run at the api.
func TestSplitDeployment(t *testing.T) {
	d := startSplit(t)
	if code, body := d.call(t, "GET", "/healthz", "", nil); code != http.StatusOK {
		t.Fatalf("healthz: %d %s", code, body)
	}
	code, body := d.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"user": "admin", "password": "admin-password-1", "token": true})
	if code != http.StatusOK {
		t.Fatalf("login through the gateway: %d %s", code, body)
	}
	var login struct{ Token string }
	if err := json.Unmarshal(body, &login); err != nil || login.Token == "" {
		t.Fatalf("login answer %s", body)
	}
	if code, body := d.call(t, "GET", "/api/v1/me", login.Token, nil); code != http.StatusOK || !strings.Contains(string(body), `"name":"admin"`) {
		t.Fatalf("me: %d %s", code, body)
	}
	// An admin route, and one that writes.
	if code, body := d.call(t, "POST", "/api/v1/workspaces", login.Token, map[string]any{"name": "web", "image": "airlock/chromium:latest"}); code != http.StatusCreated {
		t.Fatalf("create workspace: %d %s", code, body)
	}
	if code, body := d.call(t, "GET", "/api/v1/audit?action=workspace.", login.Token, nil); code != http.StatusOK || !strings.Contains(string(body), "127.0.0.1") {
		t.Fatalf("the audit log does not have the client's address as the gateway saw it: %d %s", code, body)
	}
	// The portal, from its own process.
	if code, body := d.call(t, "GET", "/", "", nil); code != http.StatusOK || !strings.Contains(string(body), "<title>") {
		t.Fatalf("portal: %d %.200s", code, body)
	}
	// The relay, from its own process, upgraded through the gateway: it
	// closes a socket whose first message's credential is no good with
	// its own code.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "wss://"+d.public+"/api/v1/signal", &websocket.DialOptions{HTTPClient: d.client,
		Subprotocols: []string{signal.Subprotocol}})
	if err != nil {
		t.Fatalf("dial the relay through the gateway: %v", err)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":"alr_bad"}`)); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Read(ctx)
	if st := websocket.CloseStatus(err); st != 4401 {
		t.Fatalf("the relay closed a bad credential with %v (%d); want 4401", err, st)
	}
	// A token revoked is refused on the next call: the gateway asks the
	// api every time.
	var tok struct{ ID, Token string }
	code, body = d.call(t, "POST", "/api/v1/tokens", login.Token, map[string]any{"name": "short"})
	if code != http.StatusCreated || json.Unmarshal(body, &tok) != nil {
		t.Fatalf("create token: %d %s", code, body)
	}
	if code, _ := d.call(t, "GET", "/api/v1/me", tok.Token, nil); code != http.StatusOK {
		t.Fatalf("the new token: %d", code)
	}
	if code, body := d.call(t, "DELETE", "/api/v1/tokens/"+tok.ID, login.Token, nil); code != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if code, _ := d.call(t, "GET", "/api/v1/me", tok.Token, nil); code != http.StatusUnauthorized {
		t.Fatalf("a revoked token through the gateway: %d, want 401", code)
	}
	// No credential, a forged identity header: 401.
	req, _ := http.NewRequest("GET", "https://"+d.public+"/api/v1/me", nil)
	req.Header.Set(gateway.IdentityHeader, base64.RawURLEncoding.EncodeToString([]byte(`{"kind":"user","user_id":"x","role":"admin"}`)))
	if res, err := d.client.Do(req); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a forged identity at the public door: %v %v", res, err)
	}
	// Cron's rounds run at the api.
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get("http://" + d.metrics + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if strings.Contains(string(b), `airlock_lifecycle_round_seconds_count{outcome="ok"}`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no lifecycle round counted at the api: cron did not ask for one")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// zonePeer is a client of an internal listener presenting the bundle in
// dir (none when empty).
func zonePeer(t *testing.T, caPool *x509.CertPool, dir string) *http.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: caPool}
	if dir != "" {
		cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// TestSplitZoneRefuses: each internal listener, reached directly, refuses
// at the handshake a peer with no certificate, one with a role it does
// not admit, and one of another deployment's CA; a peer it admits that
// is not the gateway cannot speak for a user; the internal routes are
// for their roles only.
func TestSplitZoneRefuses(t *testing.T) {
	d := startSplit(t)
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(filepath.Join(d.data, "ca.pem"))
	pool.AppendCertsFromPEM(pem)
	ca, err := pki.LoadCA(d.data)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(dir string, c *pki.CA, role pki.Role) string {
		t.Helper()
		if err := IssueTo(c, dir, pki.IssueRequest{Role: role, Name: "test-" + string(role)}); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	other, err := pki.InitCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	agent := issue(t.TempDir(), ca, pki.RoleAgent)
	foreignGateway := issue(t.TempDir(), other, pki.RoleGateway)
	cron := zoneDir(d.data, RoleCron)
	gw := zoneDir(d.data, RoleGateway)
	api := zoneDir(d.data, RoleAPI)

	for _, tc := range []struct {
		name, url, cert string
		refused         bool
	}{
		{"api/no-certificate", d.zone.APIURL + "/api/v1/me", "", true},
		{"api/agent-role", d.zone.APIURL + "/api/v1/me", agent, true},
		{"api/other-deployment", d.zone.APIURL + "/api/v1/me", foreignGateway, true},
		{"api/gateway", d.zone.APIURL + "/healthz", gw, false},
		{"signal/no-certificate", d.zone.SignalURL + "/", "", true},
		{"signal/cron-role", d.zone.SignalURL + "/", cron, true},
		{"signal/other-deployment", d.zone.SignalURL + "/", foreignGateway, true},
		{"signal/api", d.zone.SignalURL + "/", api, false},
		{"portal/no-certificate", d.zone.PortalURL + "/", "", true},
		{"portal/api-role", d.zone.PortalURL + "/", api, true},
		{"portal/other-deployment", d.zone.PortalURL + "/", foreignGateway, true},
		{"portal/gateway", d.zone.PortalURL + "/", gw, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := zonePeer(t, pool, tc.cert).Get(tc.url)
			if tc.refused {
				if err == nil {
					res.Body.Close()
					t.Fatalf("answered %s; want the handshake refused", res.Status)
				}
				var netErr interface{ Timeout() bool }
				if errors.As(err, &netErr) && netErr.Timeout() {
					t.Fatalf("timed out (%v): want a refusal", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused an admitted peer: %v", err)
			}
			res.Body.Close()
		})
	}

	// cron is admitted by the api, but speaks for itself: an identity
	// header it sends is dropped, so a user route wants a credential.
	req, _ := http.NewRequest("GET", d.zone.APIURL+"/api/v1/me", nil)
	req.Header.Set(gateway.IdentityHeader, base64.RawURLEncoding.EncodeToString([]byte(`{"kind":"user","user_id":"x","role":"admin"}`)))
	res, err := zonePeer(t, pool, cron).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("cron with an identity header on a user route: %s; want 401", res.Status)
	}
	// The internal routes are their callers' only.
	for _, tc := range []struct {
		method, url, cert, body string
		status                  int
	}{
		{"POST", d.zone.APIURL + gateway.AuthenticatePath, cron, "", http.StatusForbidden},
		{"POST", d.zone.APIURL + gateway.AuthenticatePath, gw, "", http.StatusUnauthorized}, // no credential to verify
		{"POST", d.zone.APIURL + roundPath, gw, "", http.StatusForbidden},
		{"GET", d.zone.APIURL + revokedPath, cron, "", http.StatusForbidden},
		{"GET", d.zone.APIURL + revokedPath, gw, "", http.StatusOK},
		{"POST", d.zone.SignalURL + signal.RevokePath, gw, `{"session":"s1"}`, http.StatusForbidden},
		{"POST", d.zone.SignalURL + signal.RevokePath, api, `{"session":"s1"}`, http.StatusNoContent},
		{"POST", d.zone.SignalURL + signal.RevokePath, api, `{"nothing":"s1"}`, http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
		res, err := zonePeer(t, pool, tc.cert).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status {
			t.Errorf("%s %s as %s: %s %s; want %d", tc.method, tc.url, filepath.Base(tc.cert), res.Status, b, tc.status)
		}
	}
}

// TestSplitRotation: the zone's certificates renewed while the deployment
// runs (as the renewer does at two thirds of their life) are used by the
// next connection, and a relay connection open through the gateway
// stays up across it.
func TestSplitRotation(t *testing.T) {
	d := startSplit(t)
	signer := d.servers[RoleSignal].Signer
	tok, err := signer.Sign(auth.Claims{Subject: "u1", Session: "s1", Role: signal.RoleViewer, Audience: signal.Audience,
		Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "wss://"+d.public+"/api/v1/signal?token="+tok, &websocket.DialOptions{HTTPClient: d.client,
		Subprotocols: []string{signal.Subprotocol}})
	if err != nil {
		t.Fatalf("a viewer through the gateway: %v", err)
	}
	defer c.CloseNow()
	go func() {
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping before the renewal: %v", err)
	}

	serialOf := func(url, certDir string) string {
		t.Helper()
		pool := x509.NewCertPool()
		pem, _ := os.ReadFile(filepath.Join(d.data, "ca.pem"))
		pool.AppendCertsFromPEM(pem)
		cert, err := tls.LoadX509KeyPair(filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		conn, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.Handshake(); err != nil {
			t.Fatal(err)
		}
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
	}
	before := serialOf(d.zone.SignalURL, zoneDir(d.data, RoleGateway))
	ca, err := pki.LoadCA(d.data)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range AllRoles {
		if err := IssueTo(ca, zoneDir(d.data, r), pki.IssueRequest{Role: pki.Role(r), Name: "airlock-" + string(r), Hosts: []string{"127.0.0.1", "localhost"}}); err != nil {
			t.Fatal(err)
		}
	}
	// The listeners reload a bundle that changed on disk: a new
	// connection gets the new certificate.
	deadline := time.Now().Add(10 * time.Second)
	for serialOf(d.zone.SignalURL, zoneDir(d.data, RoleGateway)) == before {
		if time.Now().After(deadline) {
			t.Fatal("the relay's internal listener still presents the old certificate 10 s after the renewal")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The open connection is still up, both ways through the gateway.
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("the relay connection dropped across the renewal: %v", err)
	}
	// And new calls through the zone work with the new certificates.
	code, body := d.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"user": "admin", "password": "admin-password-1", "token": true})
	if code != http.StatusOK {
		t.Fatalf("login after the renewal: %d %s", code, body)
	}
}
