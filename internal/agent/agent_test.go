package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The routes fakeAPI plays.
const (
	registerAPI = "/api/v1/agent/register"
	beatAPI     = "/api/v1/agent/heartbeat"
)

// fakeAPI plays the api's two agent endpoints; the real ones are tested
// with the server in internal/api.
type fakeAPI struct {
	mu         sync.Mutex
	failFirst  int // answer 503 to this many registrations first
	registered int
	beats      []string // credentials seen on heartbeats
	beat       chan struct{}
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case registerAPI:
		var body struct{ Token string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		if f.failFirst > 0 {
			f.failFirst--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if body.Token != "alr_good" || f.registered > 0 {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":"unauthorized","message":"registration token is not valid"}`))
			return
		}
		f.registered++
		_ = json.NewEncoder(w).Encode(Registration{SessionID: "s1", Credential: "cred-0", HeartbeatSeconds: 0})
	case beatAPI:
		f.beats = append(f.beats, r.Header.Get("Authorization"))
		_ = json.NewEncoder(w).Encode(Registration{SessionID: "s1", Credential: "cred-" + string(rune('0'+len(f.beats))), HeartbeatSeconds: 0})
		select {
		case f.beat <- struct{}{}:
		default:
		}
	}
}

func newAgent(t *testing.T, api *fakeAPI, token string) *Agent {
	t.Helper()
	srv := httptest.NewTLSServer(api)
	t.Cleanup(srv.Close)
	a, err := New(Config{Server: srv.URL, Session: "s1", RegisterToken: token, Transport: srv.Client().Transport})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRegisterRetriesThenRefusesReuse(t *testing.T) {
	api := &fakeAPI{failFirst: 2, beat: make(chan struct{}, 1)}
	a := newAgent(t, api, "alr_good")
	reg, err := a.register(context.Background())
	if err != nil || reg.Credential != "cred-0" {
		t.Fatalf("register after transient failures: %+v %v", reg, err)
	}
	if _, err := a.register(context.Background()); !errors.Is(err, ErrRefused) {
		t.Fatalf("second use of the token: %v, want ErrRefused", err)
	}
}

func TestRunRefusedTokenStops(t *testing.T) {
	api := &fakeAPI{beat: make(chan struct{}, 1)}
	a := newAgent(t, api, "alr_forged")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Run(ctx); !errors.Is(err, ErrRefused) {
		t.Fatalf("Run with a forged token: %v, want ErrRefused", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"fail/no-server", Config{Session: "s", RegisterToken: "x", CAPEM: []byte("x")}},
		{"fail/no-session", Config{Server: "https://x", RegisterToken: "x"}},
		{"fail/http", Config{Server: "http://x", Session: "s", RegisterToken: "x"}},
		{"fail/no-token", Config{Server: "https://x"}},
		{"fail/bad-ca", Config{Server: "https://x", Session: "s", RegisterToken: "x", CAPEM: []byte("not pem")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// A server the container cannot reach (a loopback listener, a firewall)
// ends registration within RegisterWithin, with the dial error as the
// reason, instead of retrying until the server times the session out.
func TestRegisterGivesUpOnUnreachableServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	a, err := New(Config{Server: "https://" + addr, Session: "s1", RegisterToken: "alr_good",
		Transport: &http.Transport{}, RegisterWithin: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = a.register(ctx)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("register: %v (context %v), want giving up", err, ctx.Err())
	}
	for _, want := range []string{"register with https://" + addr, "no answer within 300ms", "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// A certificate that does not chain to the deployment CA cannot change
// by retrying: the first failure is final, however long the window.
func TestRegisterUntrustedCertificateIsFinal(t *testing.T) {
	srv := httptest.NewTLSServer(&fakeAPI{})
	t.Cleanup(srv.Close)
	caPEM := otherCA(t)
	a, err := New(Config{Server: srv.URL, Session: "s1", RegisterToken: "alr_good", CAPEM: caPEM, RegisterWithin: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = a.register(ctx)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "the server's certificate is not trusted") {
		t.Fatalf("register: %v (context %v), want a final certificate error", err, ctx.Err())
	}
}

// otherCA is a self-signed CA certificate that signed nothing the test
// servers present.
func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another deployment"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
