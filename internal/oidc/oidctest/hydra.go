// Package oidctest runs a real OpenID Connect provider for tests: ORY
// Hydra (scripts/ensure-hydra.sh builds it; AIRLOCK_TEST_HYDRA names it)
// on a database of its own on the test PostgreSQL (AIRLOCK_TEST_POSTGRES),
// with the login, consent and logout app played by the test: each client
// registered with NewClient logs its users in as its Behaviour says. A
// test without both variables is skipped, saying how to set them.
package oidctest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Hydra sits behind a "front", a reverse proxy that is the issuer URL
// relying parties see: it passes everything through to Hydra's public
// port, adds the keys given to AddJWK to the JWKS, and, for the clients
// that ask (SetTamper), replaces the id_token in a token response. That is
// how a test makes ID tokens Hydra would never issue (another issuer, a
// bad signature) arrive through the real flow.

const hydraStartTimeout = 60 * time.Second

// Hydra is a running Hydra with its front and its login and consent app.
type Hydra struct {
	// Issuer is the front's URL: the issuer Hydra announces.
	Issuer string
	// Public is Hydra's own public URL, behind the front; Admin its admin
	// API's.
	Public, Admin string
	// Roots trusts the certificate Hydra and the front serve; RootPEM is
	// that certificate, for a process that reads a CA file.
	Roots   *x509.CertPool
	RootPEM []byte
	// Client trusts Roots; for the admin API.
	Client *http.Client

	mu     sync.Mutex            // guards the fields below
	cases  map[string]*Behaviour // client ID -> what the login app does
	tamper map[string]func(idToken string) string
	jwks   []any
}

// Behaviour is what the login and consent app does for one client.
type Behaviour struct {
	Subject string
	// Claims go into the ID token (Hydra's session.id_token).
	Claims map[string]any
	// Deny, when set, rejects the consent with access_denied and this
	// description.
	Deny string
}

// Start starts a Hydra for the test, or skips it when the test has no
// Hydra binary or PostgreSQL.
func Start(t testing.TB) *Hydra {
	t.Helper()
	bin := os.Getenv("AIRLOCK_TEST_HYDRA")
	if bin == "" {
		t.Skip("AIRLOCK_TEST_HYDRA not set: export AIRLOCK_TEST_HYDRA=$(bash scripts/ensure-hydra.sh) (`make test` does)")
	}
	pg := os.Getenv("AIRLOCK_TEST_POSTGRES")
	if pg == "" {
		t.Skip("AIRLOCK_TEST_POSTGRES not set: export AIRLOCK_TEST_POSTGRES=$(bash scripts/ensure-postgres.sh) (`make test` does)")
	}
	dir := t.TempDir()
	h := &Hydra{cases: map[string]*Behaviour{}, tamper: map[string]func(string) string{}}

	cert, certPEM, keyPEM := selfSigned(t)
	h.Roots = x509.NewCertPool()
	h.Roots.AddCert(cert.Leaf)
	h.RootPEM = certPEM
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: h.Roots}
	h.Client = &http.Client{Transport: tr, Timeout: 20 * time.Second}
	writeFile(t, filepath.Join(dir, "tls.crt"), certPEM)
	writeFile(t, filepath.Join(dir, "tls.key"), keyPEM)

	publicPort, adminPort := FreePort(t), FreePort(t)
	h.Public = "https://127.0.0.1:" + strconv.Itoa(publicPort)
	h.Admin = "https://127.0.0.1:" + strconv.Itoa(adminPort)

	front := httptest.NewUnstartedServer(h.frontHandler(t, tr))
	front.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	// The "untrusted certificate" case makes a handshake fail on purpose.
	front.Config.ErrorLog = log.New(io.Discard, "", 0)
	front.StartTLS()
	t.Cleanup(front.Close)
	h.Issuer = front.URL
	app := httptest.NewServer(h.appHandler(t))
	t.Cleanup(app.Close)

	dsn := hydraDatabase(t, pg)
	cfg := map[string]any{
		"serve": map[string]any{
			"public": map[string]any{"host": "127.0.0.1", "port": publicPort},
			"admin":  map[string]any{"host": "127.0.0.1", "port": adminPort},
			"tls": map[string]any{
				"enabled": true,
				"cert":    map[string]any{"path": filepath.Join(dir, "tls.crt")},
				"key":     map[string]any{"path": filepath.Join(dir, "tls.key")},
			},
		},
		"urls": map[string]any{
			"self":    map[string]any{"issuer": h.Issuer, "public": h.Issuer},
			"login":   app.URL + "/login",
			"consent": app.URL + "/consent",
			"logout":  app.URL + "/logout",
		},
		"secrets": map[string]any{"system": []string{hex.EncodeToString(randomBytes(16))}},
		"log":     map[string]any{"level": "warn"},
		"sqa":     map[string]any{"opt_out": true},
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "hydra.json")
	writeFile(t, cfgPath, cfgJSON)
	// A clean environment: Hydra reads any variable named like a config key
	// (LOG_LEVEL, SERVE_...), so the test's own must not leak in.
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "DSN=" + dsn}

	migrate := exec.CommandContext(t.Context(), bin, "migrate", "sql", "-e", "--yes", "-c", cfgPath)
	migrate.Env = env
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("hydra migrate sql: %v\n%s", err, tail(out))
	}

	logPath := filepath.Join(dir, "hydra.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	serve := exec.Command(bin, "serve", "all", "-c", cfgPath, "--sqa-opt-out")
	serve.Env = env
	serve.Stdout, serve.Stderr = logFile, logFile
	dieWithTest(serve)
	if err := serve.Start(); err != nil {
		t.Fatalf("start hydra: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	t.Cleanup(func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = serve.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("hydra's log:\n%s", tail(b))
		}
	})
	deadline := time.Now().Add(hydraStartTimeout)
	for {
		resp, err := h.Client.Get(h.Admin + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("hydra exited while starting: %v\n%s", err, tail(b))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("hydra not ready within %s (last: %v)", hydraStartTimeout, err)
		}
	}
	return h
}

// hydraDatabase creates a database for Hydra on the test PostgreSQL, dropped
// when the test ends, and returns its DSN.
func hydraDatabase(t testing.TB, pg string) string {
	t.Helper()
	base, err := url.Parse(pg)
	if err != nil {
		t.Fatalf("AIRLOCK_TEST_POSTGRES is not a postgres:// URL: %v", err)
	}
	conn, err := pgx.Connect(t.Context(), pg)
	if err != nil {
		t.Fatalf("AIRLOCK_TEST_POSTGRES does not answer: %v", err)
	}
	name := "airlock_hydra_" + hex.EncodeToString(randomBytes(6))
	if _, err := conn.Exec(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	t.Cleanup(func() {
		// Cleanups run in reverse: Hydra has stopped by now. t.Context is done.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
		conn.Close(ctx)
	})
	u := *base
	u.Path = "/" + name
	return u.String()
}

// frontHandler proxies to Hydra's public port, adding the test key to the
// JWKS and applying the token tamper registered for the requesting client.
func (h *Hydra) frontHandler(t testing.TB, tr *http.Transport) http.Handler {
	target, _ := url.Parse("https://127.0.0.1") // the port is set per request
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			u := *target
			u.Host = strings.TrimPrefix(h.Public, "https://")
			r.SetURL(&u)
			r.SetXForwarded()
			// Only the identity encoding, so the responses can be rewritten.
			r.Out.Header.Del("Accept-Encoding")
		},
		Transport: tr,
		ModifyResponse: func(resp *http.Response) error {
			switch resp.Request.URL.Path {
			case "/.well-known/jwks.json":
				h.mu.Lock()
				extra := slices.Clone(h.jwks)
				h.mu.Unlock()
				return rewriteJSON(resp, func(m map[string]any) error {
					keys, _ := m["keys"].([]any)
					m["keys"] = append(keys, extra...)
					return nil
				})
			case "/oauth2/token":
				id, _, _ := resp.Request.BasicAuth()
				if id == "" {
					id = resp.Request.PostFormValue("client_id")
				}
				h.mu.Lock()
				f := h.tamper[id]
				h.mu.Unlock()
				if f == nil || resp.StatusCode != http.StatusOK {
					return nil
				}
				return rewriteJSON(resp, func(m map[string]any) error {
					raw, _ := m["id_token"].(string)
					m["id_token"] = f(raw)
					return nil
				})
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			t.Errorf("front: %s %s: %v", r.Method, r.URL.Path, err)
			http.Error(w, err.Error(), http.StatusBadGateway)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth2/token" {
			// Keep the form readable for ModifyResponse's client lookup.
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			form, _ := url.ParseQuery(string(body))
			r.Form, r.PostForm = form, form
		}
		rp.ServeHTTP(w, r)
	})
}

// rewriteJSON replaces a JSON response body by f's edit of it.
func rewriteJSON(resp *http.Response, f func(map[string]any) error) error {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("front: %s is not a JSON object: %w", resp.Request.URL.Path, err)
	}
	if err := f(m); err != nil {
		return err
	}
	out, err := json.Marshal(m)
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return nil
}

// appHandler is Hydra's login, consent and logout app, accepting or
// rejecting through the admin API as the client's behaviour says.
func (h *Hydra) appHandler(t testing.TB) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		ch := r.URL.Query().Get("login_challenge")
		var req struct {
			Client struct {
				ClientID string `json:"client_id"`
			} `json:"client"`
		}
		if err := h.AdminJSON(r.Context(), "GET", "/admin/oauth2/auth/requests/login?login_challenge="+url.QueryEscape(ch), nil, &req); err != nil {
			appError(t, w, err)
			return
		}
		b := h.behaviourOf(req.Client.ClientID)
		if b == nil {
			appError(t, w, fmt.Errorf("login for unknown client %q", req.Client.ClientID))
			return
		}
		var next redirect
		if err := h.AdminJSON(r.Context(), "PUT", "/admin/oauth2/auth/requests/login/accept?login_challenge="+url.QueryEscape(ch),
			map[string]any{"subject": b.Subject, "remember": true, "remember_for": 3600}, &next); err != nil {
			appError(t, w, err)
			return
		}
		http.Redirect(w, r, next.RedirectTo, http.StatusFound)
	})
	mux.HandleFunc("GET /consent", func(w http.ResponseWriter, r *http.Request) {
		ch := r.URL.Query().Get("consent_challenge")
		var req struct {
			RequestedScope    []string `json:"requested_scope"`
			RequestedAudience []string `json:"requested_access_token_audience"`
			Client            struct {
				ClientID string `json:"client_id"`
			} `json:"client"`
		}
		if err := h.AdminJSON(r.Context(), "GET", "/admin/oauth2/auth/requests/consent?consent_challenge="+url.QueryEscape(ch), nil, &req); err != nil {
			appError(t, w, err)
			return
		}
		b := h.behaviourOf(req.Client.ClientID)
		if b == nil {
			appError(t, w, fmt.Errorf("consent for unknown client %q", req.Client.ClientID))
			return
		}
		var next redirect
		var err error
		if b.Deny != "" {
			err = h.AdminJSON(r.Context(), "PUT", "/admin/oauth2/auth/requests/consent/reject?consent_challenge="+url.QueryEscape(ch),
				map[string]any{"error": "access_denied", "error_description": b.Deny, "status_code": 403}, &next)
		} else {
			err = h.AdminJSON(r.Context(), "PUT", "/admin/oauth2/auth/requests/consent/accept?consent_challenge="+url.QueryEscape(ch),
				map[string]any{
					"grant_scope":                 req.RequestedScope,
					"grant_access_token_audience": req.RequestedAudience,
					"remember":                    false,
					"session":                     map[string]any{"id_token": b.Claims},
				}, &next)
		}
		if err != nil {
			appError(t, w, err)
			return
		}
		http.Redirect(w, r, next.RedirectTo, http.StatusFound)
	})
	mux.HandleFunc("GET /logout", func(w http.ResponseWriter, r *http.Request) {
		ch := r.URL.Query().Get("logout_challenge")
		var next redirect
		if err := h.AdminJSON(r.Context(), "PUT", "/admin/oauth2/auth/requests/logout/accept?logout_challenge="+url.QueryEscape(ch), nil, &next); err != nil {
			appError(t, w, err)
			return
		}
		http.Redirect(w, r, next.RedirectTo, http.StatusFound)
	})
	return mux
}

type redirect struct {
	RedirectTo string `json:"redirect_to"`
}

func appError(t testing.TB, w http.ResponseWriter, err error) {
	t.Errorf("login app: %v", err)
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

func (h *Hydra) behaviourOf(clientID string) *Behaviour {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cases[clientID]
}

// AdminJSON calls Hydra's admin API with a JSON body and decodes the answer.
func (h *Hydra) AdminJSON(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.Admin+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode %s: %w", method, path, b, err)
	}
	return nil
}

// Client is an OAuth 2.0 client registered at Hydra.
type Client struct {
	ID, Secret string
}

// NewClient registers a client whose logins the app handles as b says,
// redirecting to redirectURL after a login and allowed postLogoutURL
// after a logout. A public client authenticates with PKCE alone.
func (h *Hydra) NewClient(t testing.TB, b *Behaviour, public bool, redirectURL, postLogoutURL string) Client {
	t.Helper()
	auth := "client_secret_basic"
	if public {
		auth = "none"
	}
	var c struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	err := h.AdminJSON(t.Context(), "POST", "/admin/clients", map[string]any{
		"client_name":                t.Name(),
		"grant_types":                []string{"authorization_code"},
		"response_types":             []string{"code"},
		"scope":                      "openid email profile groups",
		"redirect_uris":              []string{redirectURL},
		"post_logout_redirect_uris":  []string{postLogoutURL},
		"token_endpoint_auth_method": auth,
	}, &c)
	if err != nil {
		t.Fatalf("create client: %v", err)
	}
	h.mu.Lock()
	h.cases[c.ClientID] = b
	h.mu.Unlock()
	return Client{ID: c.ClientID, Secret: c.ClientSecret}
}

// SetTamper makes the front replace the id_token of clientID's token
// responses with f's result.
func (h *Hydra) SetTamper(clientID string, f func(string) string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tamper[clientID] = f
}

// AddJWK publishes key (a JWK as JSON-shaped values) in Hydra's key set,
// as if Hydra had it: tokens a test signs with it verify.
func (h *Hydra) AddJWK(key any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.jwks = append(h.jwks, key)
}

// Browser is a user agent that follows redirects through Hydra and the
// app and stops at the first one to stop (the RP's callback).
type Browser struct {
	Client *http.Client
}

// NewBrowser is a Browser with a cookie jar of its own.
func (h *Hydra) NewBrowser(t testing.TB) *Browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: h.Roots}
	return &Browser{Client: &http.Client{
		Transport:     tr,
		Jar:           jar,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Follow GETs start and follows redirects until one leads to stop, whose
// URL it returns.
func (b *Browser) Follow(ctx context.Context, start, stop string) (*url.URL, error) {
	next := start
	for hop := 0; hop < 20; hop++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, err
		}
		resp, err := b.Client.Do(req)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode < 300 || resp.StatusCode >= 400 {
			return nil, fmt.Errorf("GET %s: %s, not a redirect: %s", next, resp.Status, body)
		}
		loc, err := resp.Location()
		if err != nil {
			return nil, fmt.Errorf("GET %s: %s without a Location: %w", next, resp.Status, err)
		}
		if strings.HasPrefix(loc.String(), stop) {
			return loc, nil
		}
		next = loc.String()
	}
	return nil, fmt.Errorf("more than 20 redirects from %s", start)
}

// selfSigned makes the TLS certificate Hydra and the front serve.
func selfSigned(t testing.TB) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "airlock oidc test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert, certPEM, keyPEM
}

// FreePort returns a loopback TCP port nothing listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// tail is the end of a log, enough to see why it failed.
func tail(b []byte) string {
	const n = 6000
	if len(b) > n {
		return "..." + string(b[len(b)-n:])
	}
	return string(b)
}
