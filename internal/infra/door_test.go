package infra

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/gateway"
)

// testInfra is an infra server run in this process, as `airlock server`
// runs it, on loopback.
type testInfra struct {
	addr, metrics string
	pool          *x509.CertPool
	client        func(h2 bool) *http.Client
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startInfra(t *testing.T, door gateway.Limits) *testInfra {
	t.Helper()
	data := t.TempDir()
	ti := &testInfra{metrics: freeAddr(t)}
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	var runErr error
	go func() {
		defer close(exited)
		// No session is launched, so the agents' URL is never used; a
		// loopback listener needs one all the same.
		runErr = Run(ctx, Config{DataDir: data, Listen: "127.0.0.1:0", AgentURL: "https://127.0.0.1:9", MetricsListen: ti.metrics,
			AdminPassword: "admin-password-1", PasswordParams: &auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1},
			Door: door, Ready: func(addr string, _ *Server) { ready <- addr }})
	}()
	t.Cleanup(func() {
		cancel()
		<-exited
		if runErr != nil {
			t.Errorf("infra server: %v", runErr)
		}
	})
	select {
	case ti.addr = <-ready:
	case <-exited:
		t.Fatal("infra server exited before it was ready")
	case <-time.After(30 * time.Second):
		t.Fatal("infra server did not come up in 30s")
	}
	pem, err := os.ReadFile(filepath.Join(data, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	ti.pool = pool
	ti.client = func(h2 bool) *http.Client {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	return ti
}

// trickle is a request body that sends one byte every tick, up to n bytes,
// and says whether it got to the end.
type trickle struct {
	n, sent int
	tick    time.Duration
	ended   atomic.Bool
	mu      sync.Mutex
}

func (b *trickle) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sent >= b.n {
		b.ended.Store(true)
		return 0, io.EOF
	}
	time.Sleep(b.tick)
	b.sent++
	p[0] = 'a'
	return 1, nil
}

// TestTrickledBodyCutOff: a client sends a 1 MiB body a byte at a time.
// With a body deadline of 300 ms the server must give up on it long before
// the 200 bytes the client trickles over 10 s are out; without one it reads
// for as long as the client likes.
func TestTrickledBodyCutOff(t *testing.T) {
	ti := startInfra(t, gateway.Limits{BodyTimeout: 300 * time.Millisecond})
	for _, tc := range []struct {
		name string
		h2   bool
	}{{"http/1.1", false}, {"h2", true}} {
		t.Run(tc.name, func(t *testing.T) {
			body := &trickle{n: 200, tick: 50 * time.Millisecond}
			req, err := http.NewRequest("POST", "https://"+ti.addr+"/api/v1/auth/login", io.MultiReader(strings.NewReader(`{"user":"`), body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.ContentLength = 1 << 20
			resp, err := ti.client(tc.h2).Do(req)
			if body.ended.Load() {
				t.Fatalf("the server read all %d trickled bytes (%d ms apart) without cutting the body off (%v)", body.n, body.tick.Milliseconds(), err)
			}
			if err != nil {
				// The server may reset the stream or close the
				// connection instead of answering: also a cut-off.
				return
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d %s; want 400 for a body that did not arrive in time", resp.StatusCode, raw)
			}
		})
	}
}

// TestLongRequestsNotCut: the read deadline that cuts off trickled bodies
// must not reach what is meant to last: a WebSocket that stays quiet for
// longer (the signalling relay), a request without a body that takes long
// (the watch long-poll), a handler that works long after reading its body.
func TestLongRequestsNotCut(t *testing.T) {
	const bodyTimeout = 200 * time.Millisecond
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			echo(w, r)
			return
		}
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(4 * bodyTimeout):
			_, _ = io.WriteString(w, "alive")
		case <-r.Context().Done():
			// The client would not see this; the test's status says it.
			http.Error(w, "cancelled", http.StatusServiceUnavailable)
		}
	})
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = gateway.NewServer(h, nil, nil, gateway.Limits{BodyTimeout: bodyTimeout})
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	t.Run("websocket", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(srv.URL, "https")+"/ws", &websocket.DialOptions{HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		for i := range 3 {
			// Quiet for longer than the body deadline, then talk.
			time.Sleep(2 * bodyTimeout)
			if err := c.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
			if _, msg, err := c.Read(ctx); err != nil || string(msg) != "ping" {
				t.Fatalf("echo %d after a quiet %s: %q, %v; the connection was cut off", i, 2*bodyTimeout, msg, err)
			}
		}
	})
	for _, tc := range []struct {
		name, method, body string
		h2                 bool
	}{
		{"GET http/1.1", "GET", "", false},
		{"GET h2", "GET", "", true},
		{"POST then work, http/1.1", "POST", "{}", false},
		{"POST then work, h2", "POST", "{}", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := srv.Client()
			tr := c.Transport.(*http.Transport).Clone()
			tr.ForceAttemptHTTP2 = tc.h2
			if !tc.h2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
				tr.TLSClientConfig = tr.TLSClientConfig.Clone()
				tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
			}
			defer tr.CloseIdleConnections()
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, _ := http.NewRequest(tc.method, srv.URL, body)
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(raw) != "alive" {
				t.Fatalf("%d %q: a request that outlived the body deadline was cut off", resp.StatusCode, raw)
			}
			if tc.h2 != (resp.ProtoMajor == 2) {
				t.Fatalf("protocol %s", resp.Proto)
			}
		})
	}
}

// echo is a WebSocket that sends back what it gets, as long as the peer
// keeps it open.
func echo(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	for {
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		if err := c.Write(r.Context(), typ, msg); err != nil {
			return
		}
	}
}

// TestBodyTooLarge: a body beyond MaxBodyBytes is refused, whatever the
// handler's own limit.
func TestBodyTooLarge(t *testing.T) {
	var got error
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, got = io.ReadAll(r.Body)
	})
	srv := httptest.NewServer(nil)
	srv.Config.Handler = gateway.NewServer(h, nil, nil, gateway.Limits{MaxBodyBytes: 1000}).Handler
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(strings.Repeat("x", 5000)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var mbe *http.MaxBytesError
	if !errors.As(got, &mbe) {
		t.Fatalf("reading a 5000-byte body with a limit of 1000: %v", got)
	}
}

// TestHTTP2StreamsLowered reads the server's first HTTP/2 SETTINGS frame:
// it must offer a client 32 concurrent streams, not Go's default of 250
// (each stream a request that may ask for a 64 MiB password hash).
func TestHTTP2StreamsLowered(t *testing.T) {
	ti := startInfra(t, gateway.Limits{})
	conn, err := tls.Dial("tcp", ti.addr, &tls.Config{RootCAs: ti.pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN chose %q, want h2", p)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	// The client preface, then an empty SETTINGS frame.
	if _, err := io.WriteString(conn, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		t.Fatal(err)
	}
	var hdr [9]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		t.Fatal(err)
	}
	n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	if hdr[3] != 0x4 || n%6 != 0 || n > 1<<14 {
		t.Fatalf("first frame: type %d, length %d; want a SETTINGS frame", hdr[3], n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(conn, payload); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 6 {
		id := int(payload[i])<<8 | int(payload[i+1])
		val := int(payload[i+2])<<24 | int(payload[i+3])<<16 | int(payload[i+4])<<8 | int(payload[i+5])
		if id == 0x3 { // SETTINGS_MAX_CONCURRENT_STREAMS
			if val != 32 {
				t.Fatalf("the server offers %d concurrent streams, want 32", val)
			}
			return
		}
	}
	t.Fatal("the server's SETTINGS do not bound concurrent streams")
}
