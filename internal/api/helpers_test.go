package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/pki"
	"github.com/airlock-rbi/airlock/internal/sessions"
	"github.com/airlock-rbi/airlock/internal/store"
)

// Test fixtures shared by every API test.
const (
	testAgentURL  = "https://host.docker.internal:8443"
	adminPassword = "admin-password-1"
	userPassword  = "user-password-1"
)

// testProfile is the server's "chromium" seccomp profile in tests,
// indented so that the compacted copy the api sends, testProfileCompact,
// is told apart.
const (
	testProfile        = "{\n\t\"defaultAction\": \"SCMP_ACT_ERRNO\",\n\t\"syscalls\": [{\"names\": [\"clone\"], \"action\": \"SCMP_ACT_ALLOW\"}]\n}\n"
	testProfileCompact = `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["clone"],"action":"SCMP_ACT_ALLOW"}]}`
)

// fakeClock is the server's and the signer's clock; tests move it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type startCall struct {
	NodeURL string
	Spec    airlock.ContainerSpec
}

type removeCall struct {
	NodeURL, Container string
	Grace              time.Duration
}

// fakeDriver is an in-memory Driver: it records calls, keeps the set of
// containers it was asked to create, and fails when told to.
type fakeDriver struct {
	mu         sync.Mutex
	starts     []startCall
	removes    []removeCall
	forgotten  []string
	containers map[string]bool
	startErr   error
	removeErr  error
	// removeDelay makes Remove take that long, as a real container's
	// stop does, so that concurrent stops overlap.
	removeDelay time.Duration
	// halted are the containers stopped and kept (suspended sessions).
	halted map[string]bool
}

var _ Driver = (*fakeDriver)(nil)

func (d *fakeDriver) Start(ctx context.Context, nodeURL string, spec airlock.ContainerSpec) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.starts = append(d.starts, startCall{NodeURL: nodeURL, Spec: spec})
	if d.startErr != nil {
		return "", d.startErr
	}
	if d.containers == nil {
		d.containers = map[string]bool{}
	}
	d.containers[spec.Name] = true
	return "cid-" + spec.Name, nil
}

func (d *fakeDriver) Remove(ctx context.Context, nodeURL, containerID string, grace time.Duration) error {
	d.mu.Lock()
	delay := d.removeDelay
	d.mu.Unlock()
	time.Sleep(delay)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.removes = append(d.removes, removeCall{NodeURL: nodeURL, Container: containerID, Grace: grace})
	if d.removeErr != nil {
		return d.removeErr
	}
	delete(d.containers, containerID)
	return nil
}

// Forget is the optional method deleteNode calls to drop a node's client.
func (d *fakeDriver) Forget(nodeURL string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.forgotten = append(d.forgotten, nodeURL)
}

func (d *fakeDriver) setStartErr(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.startErr = err
}

func (d *fakeDriver) setRemoveErr(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.removeErr = err
}

func (d *fakeDriver) startCalls() []startCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]startCall(nil), d.starts...)
}

func (d *fakeDriver) removeCalls() []removeCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]removeCall(nil), d.removes...)
}

func (d *fakeDriver) forgottenURLs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.forgotten...)
}

// startFor returns the Start call for session id, if any.
func (d *fakeDriver) startFor(id string) (startCall, bool) {
	for _, c := range d.startCalls() {
		if c.Spec.Labels[airlock.LabelSession] == id {
			return c, true
		}
	}
	return startCall{}, false
}

// env is one API server on a fresh SQLite store, with an admin and a user
// signed in by API token.
type env struct {
	t      *testing.T
	st     *store.DB
	dbPath string // the SQLite file, for tests that tamper with it
	drv    *fakeDriver
	clk    *fakeClock
	ca     *pki.CA
	signer *auth.Signer
	srv    *Server

	revokedMu sync.Mutex
	revoked   []string

	admin, user       *airlock.User
	adminTok, userTok string
}

type envOption func(*Options)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "airlock.db")
	st, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ca, err := pki.InitCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatalf("init CA: %v", err)
	}
	clk := &fakeClock{now: airlock.Now()}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	signer, err := auth.NewSigner(key, clk.Now)
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	e := &env{t: t, st: st, dbPath: dbPath, drv: &fakeDriver{}, clk: clk, ca: ca, signer: signer}
	o := Options{
		Store: st, Driver: e.drv, Signer: signer, CA: ca,
		AgentURL: testAgentURL, CAPEM: ca.CertPEM,
		SeccompProfiles: map[string][]byte{"chromium": []byte(testProfile)},
		OnRevoke: func(serial string) {
			e.revokedMu.Lock()
			defer e.revokedMu.Unlock()
			e.revoked = append(e.revoked, serial)
		},
		Now:            clk.Now,
		PasswordParams: &auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1},
	}
	for _, f := range opts {
		f(&o)
	}
	if e.srv, err = New(o); err != nil {
		t.Fatal(err)
	}
	// Close waits for background launches; it runs before the store
	// closes (cleanups run last-in first-out).
	t.Cleanup(e.srv.Close)

	if e.admin, err = e.srv.CreateUser(ctx, "admin", adminPassword, airlock.RoleAdmin, 0); err != nil {
		t.Fatalf("create admin: %v", err)
	}
	if e.user, err = e.srv.CreateUser(ctx, "alice", userPassword, airlock.RoleUser, 0); err != nil {
		t.Fatalf("create user: %v", err)
	}
	e.adminTok = e.login("admin", adminPassword)
	e.userTok = e.login("alice", userPassword)
	return e
}

// req describes one request. Body is sent as is if it is a string or
// []byte and as JSON otherwise; nil sends no body.
type req struct {
	Method, Path string
	Bearer       string
	Body         any
	Header       map[string]string
	TLS          *tls.ConnectionState
}

func (e *env) do(r req) *httptest.ResponseRecorder {
	e.t.Helper()
	return doOn(e.t, e.srv, r)
}

// doOn serves r by h.
func doOn(t *testing.T, h http.Handler, r req) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("marshal body: %v", err)
		}
		body = bytes.NewReader(j)
	}
	hr := httptest.NewRequest(r.Method, r.Path, body)
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.Bearer != "" {
		hr.Header.Set("Authorization", "Bearer "+r.Bearer)
	}
	for k, v := range r.Header {
		if v == "" {
			hr.Header.Del(k)
			continue
		}
		hr.Header.Set(k, v)
	}
	hr.TLS = r.TLS
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, hr)
	return rec
}

// login returns an API token for name.
func (e *env) login(name, password string) string {
	e.t.Helper()
	rec := e.do(req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"user": name, "password": password, "token": true}})
	if rec.Code != http.StatusOK {
		e.t.Fatalf("login %s: %d %s", name, rec.Code, rec.Body)
	}
	var lr loginResponse
	mustJSON(e.t, rec, &lr)
	if lr.Token == "" {
		e.t.Fatalf("login %s: no token in %s", name, rec.Body)
	}
	return lr.Token
}

// addUser creates a user with limit maxSessions and returns it and a token.
func (e *env) addUser(name string, maxSessions int) (*airlock.User, string) {
	e.t.Helper()
	u, err := e.srv.CreateUser(context.Background(), name, name+"-password", airlock.RoleUser, maxSessions)
	if err != nil {
		e.t.Fatalf("create user %s: %v", name, err)
	}
	return u, e.login(name, name+"-password")
}

// addWorkspace stores a workspace through the API.
func (e *env) addWorkspace(spec map[string]any) workspaceSpec {
	e.t.Helper()
	rec := e.do(req{Method: "POST", Path: "/api/v1/workspaces", Bearer: e.adminTok, Body: spec})
	if rec.Code != http.StatusCreated {
		e.t.Fatalf("create workspace: %d %s", rec.Code, rec.Body)
	}
	var ws workspaceSpec
	mustJSON(e.t, rec, &ws)
	return ws
}

// addNode stores a node directly, ready and heartbeating now unless mod
// says otherwise.
func (e *env) addNode(name string, capacity int, mod ...func(*airlock.Node)) *airlock.Node {
	e.t.Helper()
	now := e.clk.Now()
	n := &airlock.Node{ID: newID(), Name: name, URL: "https://" + name + ".example:2376", Capacity: capacity,
		Isolation: []airlock.Isolation{airlock.IsolationStandard}, State: airlock.NodeReady,
		LastHeartbeat: now, CreatedAt: now, UpdatedAt: now}
	for _, f := range mod {
		f(n)
	}
	if err := e.st.CreateNode(context.Background(), n); err != nil {
		e.t.Fatalf("create node: %v", err)
	}
	return n
}

// addSession stores a session directly in state for u on node n.
func (e *env) addSession(u *airlock.User, ws, nodeID string, state airlock.SessionState) *airlock.Session {
	e.t.Helper()
	now := e.clk.Now()
	id := newID()
	s := &airlock.Session{ID: id, UserID: u.ID, WorkspaceID: ws, NodeID: nodeID, ContainerID: sessions.ContainerName(id),
		State: state, CreatedAt: now, UpdatedAt: now}
	if err := e.st.CreateSession(context.Background(), s); err != nil {
		e.t.Fatalf("create session: %v", err)
	}
	return s
}

// createSession launches a session of workspace through the API as tok.
func (e *env) createSession(tok, workspace string) sessionView {
	e.t.Helper()
	rec := e.do(req{Method: "POST", Path: "/api/v1/sessions", Bearer: tok, Body: map[string]string{"workspace": workspace}})
	if rec.Code != http.StatusCreated {
		e.t.Fatalf("create session: %d %s", rec.Code, rec.Body)
	}
	var v sessionView
	mustJSON(e.t, rec, &v)
	return v
}

// waitFor polls cond until it holds; background launches finish in
// milliseconds, so the bound is generous and the wait short.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// launched waits until the background launch of session id is over and
// returns the Start call the driver saw.
func (e *env) launched(id string) startCall {
	e.t.Helper()
	var call startCall
	e.waitFor("launch of "+id, func() bool {
		var ok bool
		if call, ok = e.drv.startFor(id); !ok {
			return false
		}
		s, err := e.st.SessionByID(context.Background(), id)
		if err != nil {
			e.t.Fatalf("session %s: %v", id, err)
		}
		return s.StartedAt != nil || s.State.Final()
	})
	return call
}

func (e *env) session(id string) *airlock.Session {
	e.t.Helper()
	s, err := e.st.SessionByID(context.Background(), id)
	if err != nil {
		e.t.Fatalf("session %s: %v", id, err)
	}
	return s
}

// envValue returns the value of name in a container environment.
func envValue(envs []string, name string) (string, bool) {
	for _, kv := range envs {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func mustJSON(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json; body %s", ct, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
}

// leaks are strings no client message may contain.
var leaks = []string{"sql", "SQL", "goroutine", "panic", "/tmp/", "%!", "argon2", "\n"}

// wantError checks that rec is the JSON error {code, message} with the
// status of code and a message containing each of msg (case-insensitive),
// and nothing else.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, code string, msg ...string) errorBody {
	t.Helper()
	if want := status(code); rec.Code != want {
		t.Errorf("status %d, want %d; body %s", rec.Code, want, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json; body %q", ct, rec.Body)
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	var eb errorBody
	if err := dec.Decode(&eb); err != nil {
		t.Fatalf("error body %s: %v", rec.Body, err)
	}
	if eb.Code != code {
		t.Errorf("code %q, want %q (message %q)", eb.Code, code, eb.Message)
	}
	if eb.Message == "" {
		t.Errorf("empty message")
	}
	for _, m := range msg {
		if !strings.Contains(strings.ToLower(eb.Message), strings.ToLower(m)) {
			t.Errorf("message %q does not mention %q", eb.Message, m)
		}
	}
	for _, l := range leaks {
		if strings.Contains(eb.Message, l) {
			t.Errorf("message %q leaks %q", eb.Message, l)
		}
	}
	return eb
}

func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body %s", rec.Code, status, rec.Body)
	}
}

// newCSR returns a PEM certificate request and its key.
func newCSR(t *testing.T, cn string) (string, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), key
}

func parseCertPEM(t *testing.T, p string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(p))
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", p)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// peer is the TLS state of a request made with cert.
func peer(cert *x509.Certificate) *tls.ConnectionState {
	return &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: []*x509.Certificate{cert}}
}

var errDriver = errors.New("fake driver failure")

// Halt and Resume record the container's state in halted.
func (d *fakeDriver) Halt(_ context.Context, _ string, id string, _ time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.halted == nil {
		d.halted = map[string]bool{}
	}
	d.halted[id] = true
	return nil
}

func (d *fakeDriver) Resume(_ context.Context, _ string, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.halted, id)
	return nil
}
