package signal

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/airlock-rbi/airlock/internal/auth"
)

// testKey is the signing key of the tests; otherKey signs forgeries.
var (
	testKey  = []byte("0123456789abcdef0123456789abcdef")
	otherKey = []byte("fedcba9876543210fedcba9876543210")
)

// clock is the signer's injectable clock: real time plus an offset.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

type env struct {
	t      *testing.T
	clock  *clock
	signer *auth.Signer
	srv    *Server
	hs     *httptest.Server
	url    string
}

// newEnv starts a relay behind a real HTTP server. Cleanup closes both and
// then checks that no goroutine outlived them.
func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	checkGoroutines(t)
	c := &clock{}
	signer, err := auth.NewSigner(testKey, c.now)
	if err != nil {
		t.Fatal(err)
	}
	o.Verifier = signer
	srv := New(o)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return &env{t: t, clock: c, signer: signer, srv: srv, hs: hs, url: "ws" + strings.TrimPrefix(hs.URL, "http")}
}

// checkGoroutines fails the test if, once its other cleanups ran, more
// goroutines remain than before it started (with a bounded wait for them
// to wind down).
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func (e *env) token(role, session string) string {
	e.t.Helper()
	return e.sign(e.signer, auth.Claims{Subject: "u1", Session: session, Role: role, Audience: Audience, Expires: e.clock.now().Add(time.Minute).Unix()})
}

func (e *env) sign(s *auth.Signer, c auth.Claims) string {
	e.t.Helper()
	tok, err := s.Sign(c)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// dial connects with token, offering protos; it closes the client at
// cleanup.
func (e *env) dial(token string, protos ...string) (*websocket.Conn, *http.Response, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, e.url+"?token="+token, &websocket.DialOptions{
		Subprotocols: protos,
		HTTPClient:   e.hs.Client(),
	})
	if c != nil {
		e.t.Cleanup(func() { _ = c.CloseNow() })
	}
	return c, resp, err
}

func (e *env) connect(role, session string) *websocket.Conn {
	e.t.Helper()
	c, _, err := e.dial(e.token(role, session), Subprotocol)
	if err != nil {
		e.t.Fatalf("dial %s: %v", role, err)
	}
	if got := c.Subprotocol(); got != Subprotocol {
		e.t.Fatalf("subprotocol = %q, want %q", got, Subprotocol)
	}
	return c
}

func send(t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	sendRaw(t, c, websocket.MessageText, b)
}

func sendRaw(t *testing.T, c *websocket.Conn, typ websocket.MessageType, b []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, typ, b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func recv(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("message %q: %v", b, err)
	}
	return m
}

// expect reads one message and checks the given fields.
func expect(t *testing.T, c *websocket.Conn, want map[string]any) map[string]any {
	t.Helper()
	m := recv(t, c)
	for k, v := range want {
		gb, _ := json.Marshal(m[k])
		wb, _ := json.Marshal(v)
		if string(gb) != string(wb) {
			t.Fatalf("message %v: %s = %s, want %s", m, k, gb, wb)
		}
	}
	return m
}

// expectClose reads, skipping messages, until the connection closes, and
// checks the close code; it returns the reason.
func expectClose(t *testing.T, c *websocket.Conn, code websocket.StatusCode) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read error %v, want close %d", err, code)
		}
		if ce.Code != code {
			t.Fatalf("close %d %q, want %d", ce.Code, ce.Reason, code)
		}
		return ce.Reason
	}
}

func TestRefusedBeforeUpgrade(t *testing.T) {
	tests := []struct {
		name       string
		token      func(e *env) string
		protos     []string
		wantStatus int
		wantCode   string
		wantMsg    string
	}{
		{
			name:       "fail/no token, no subprotocol",
			token:      func(e *env) string { return "" },
			protos:     []string{},
			wantStatus: http.StatusBadRequest, wantCode: "bad_request", wantMsg: Subprotocol,
		},
		{
			name: "fail/bad signature",
			token: func(e *env) string {
				other, err := auth.NewSigner(otherKey, nil)
				if err != nil {
					e.t.Fatal(err)
				}
				return e.sign(other, auth.Claims{Session: "s1", Role: RoleViewer, Audience: Audience, Expires: time.Now().Add(time.Minute).Unix()})
			},
			wantStatus: http.StatusUnauthorized, wantCode: "unauthorized", wantMsg: "invalid token",
		},
		{
			name:       "fail/garbage token",
			token:      func(e *env) string { return "not-a-token" },
			wantStatus: http.StatusUnauthorized, wantCode: "unauthorized", wantMsg: "invalid token",
		},
		{
			name: "fail/expired",
			token: func(e *env) string {
				tok := e.token(RoleViewer, "s1")
				e.clock.advance(2 * time.Minute)
				return tok
			},
			wantStatus: http.StatusUnauthorized, wantCode: "unauthorized", wantMsg: "token expired",
		},
		{
			name: "fail/wrong audience",
			token: func(e *env) string {
				return e.sign(e.signer, auth.Claims{Session: "s1", Role: RoleViewer, Audience: "airlock-api", Expires: time.Now().Add(time.Minute).Unix()})
			},
			wantStatus: http.StatusUnauthorized, wantCode: "unauthorized", wantMsg: "invalid token",
		},
		{
			name:       "fail/wrong role",
			token:      func(e *env) string { return e.token("admin", "s1") },
			wantStatus: http.StatusForbidden, wantCode: "forbidden", wantMsg: "role",
		},
		{
			name:       "fail/no session",
			token:      func(e *env) string { return e.token(RoleViewer, "") },
			wantStatus: http.StatusForbidden, wantCode: "forbidden", wantMsg: "no session",
		},
		{
			name:       "fail/missing subprotocol",
			token:      func(e *env) string { return e.token(RoleViewer, "s1") },
			protos:     []string{},
			wantStatus: http.StatusBadRequest, wantCode: "bad_request", wantMsg: Subprotocol,
		},
		{
			name:       "fail/other subprotocol",
			token:      func(e *env) string { return e.token(RoleViewer, "s1") },
			protos:     []string{"airlock.signal.v0"},
			wantStatus: http.StatusBadRequest, wantCode: "bad_request", wantMsg: Subprotocol,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			protos := tt.protos
			if protos == nil {
				protos = []string{Subprotocol}
			}
			c, resp, err := e.dial(tt.token(e), protos...)
			if err == nil {
				c.CloseNow()
				t.Fatal("dial succeeded, want refusal before upgrade")
			}
			if resp == nil {
				t.Fatalf("no HTTP response: %v", err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			body, _ := io.ReadAll(resp.Body)
			var got struct{ Code, Message string }
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if got.Code != tt.wantCode || !strings.Contains(got.Message, tt.wantMsg) {
				t.Errorf("body %+v, want code %q and message containing %q", got, tt.wantCode, tt.wantMsg)
			}
			if s, v, a := e.srv.Stats(); s+v+a != 0 {
				t.Errorf("Stats = %d, %d, %d after a refusal", s, v, a)
			}
		})
	}
}

func TestPairAndRelay(t *testing.T) {
	e := newEnv(t, Options{})
	viewer := e.connect(RoleViewer, "s1")

	// Alone: relayed messages are dropped with an error, not a close.
	send(t, viewer, map[string]any{"type": "offer", "sdp": "v=0 early"})
	expect(t, viewer, map[string]any{"type": "error", "message": "no peer connected"})
	send(t, viewer, map[string]any{"type": "ping"})
	expect(t, viewer, map[string]any{"type": "pong"})

	agent := e.connect(RoleAgent, "s1")
	expect(t, agent, map[string]any{"type": "viewer-joined"})
	expect(t, viewer, map[string]any{"type": "agent-ready"})
	if s, v, a := e.srv.Stats(); s != 1 || v != 1 || a != 1 {
		t.Errorf("Stats = %d, %d, %d, want 1, 1, 1", s, v, a)
	}

	// A spoofed "from" is overwritten; payloads pass through.
	send(t, viewer, map[string]any{"type": "offer", "sdp": "v=0 offer", "from": "agent", "extra": []int{1, 2}})
	expect(t, agent, map[string]any{"type": "offer", "sdp": "v=0 offer", "from": "viewer", "extra": []int{1, 2}})
	send(t, agent, map[string]any{"type": "answer", "sdp": "v=0 answer"})
	expect(t, viewer, map[string]any{"type": "answer", "sdp": "v=0 answer", "from": "agent"})
	cand := map[string]any{"candidate": "candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}
	send(t, viewer, map[string]any{"type": "candidate", "candidate": cand})
	expect(t, agent, map[string]any{"type": "candidate", "candidate": cand, "from": "viewer"})
	send(t, agent, map[string]any{"type": "candidate", "candidate": cand})
	expect(t, viewer, map[string]any{"type": "candidate", "candidate": cand, "from": "agent"})
	send(t, agent, map[string]any{"type": "candidate", "candidate": nil})
	expect(t, viewer, map[string]any{"type": "candidate", "candidate": nil, "from": "agent"})
	send(t, viewer, map[string]any{"type": "control", "action": "keyframe"})
	expect(t, agent, map[string]any{"type": "control", "action": "keyframe", "from": "viewer"})

	// Another session is not paired with this one.
	other := e.connect(RoleViewer, "s2")
	send(t, other, map[string]any{"type": "offer", "sdp": "x"})
	expect(t, other, map[string]any{"type": "error", "message": "no peer connected"})
	if s, v, a := e.srv.Stats(); s != 2 || v != 2 || a != 1 {
		t.Errorf("Stats = %d, %d, %d, want 2, 2, 1", s, v, a)
	}
}

func TestPeerLeft(t *testing.T) {
	for _, leaving := range []string{RoleViewer, RoleAgent} {
		t.Run("ok/"+leaving+" leaves", func(t *testing.T) {
			e := newEnv(t, Options{})
			viewer := e.connect(RoleViewer, "s1")
			agent := e.connect(RoleAgent, "s1")
			expect(t, agent, map[string]any{"type": "viewer-joined"})
			expect(t, viewer, map[string]any{"type": "agent-ready"})
			gone, stays := viewer, agent
			if leaving == RoleAgent {
				gone, stays = agent, viewer
			}
			if err := gone.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}
			expect(t, stays, map[string]any{"type": "peer-left", "role": leaving})
			send(t, stays, map[string]any{"type": "control"})
			expect(t, stays, map[string]any{"type": "error", "message": "no peer connected"})
			if s, v, a := e.srv.Stats(); s != 1 || v+a != 1 {
				t.Errorf("Stats = %d, %d, %d, want one peer in one session", s, v, a)
			}
		})
	}
}

func TestReplaced(t *testing.T) {
	t.Run("ok/viewer replaced on reconnect", func(t *testing.T) {
		e := newEnv(t, Options{})
		agent := e.connect(RoleAgent, "s1")
		old := e.connect(RoleViewer, "s1")
		expect(t, agent, map[string]any{"type": "viewer-joined"})
		expect(t, old, map[string]any{"type": "agent-ready"})

		viewer := e.connect(RoleViewer, "s1")
		if r := expectClose(t, old, closeReplaced); r != "replaced by a newer viewer" {
			t.Errorf("reason %q", r)
		}
		expect(t, viewer, map[string]any{"type": "agent-ready"})
		expect(t, agent, map[string]any{"type": "viewer-joined"})
		// The agent hears of no peer-left for the replaced viewer: the next
		// thing it gets is the new viewer's offer.
		send(t, viewer, map[string]any{"type": "offer", "sdp": "v=0 again"})
		expect(t, agent, map[string]any{"type": "offer", "sdp": "v=0 again", "from": "viewer"})
		if s, v, a := e.srv.Stats(); s != 1 || v != 1 || a != 1 {
			t.Errorf("Stats = %d, %d, %d, want 1, 1, 1", s, v, a)
		}
	})
	t.Run("ok/agent replaced", func(t *testing.T) {
		e := newEnv(t, Options{})
		viewer := e.connect(RoleViewer, "s1")
		old := e.connect(RoleAgent, "s1")
		expect(t, viewer, map[string]any{"type": "agent-ready"})
		agent := e.connect(RoleAgent, "s1")
		if r := expectClose(t, old, closeReplaced); r != "replaced by a newer agent" {
			t.Errorf("reason %q", r)
		}
		expect(t, viewer, map[string]any{"type": "agent-ready"})
		expect(t, agent, map[string]any{"type": "viewer-joined"})
		send(t, agent, map[string]any{"type": "answer", "sdp": "a"})
		expect(t, viewer, map[string]any{"type": "answer", "sdp": "a", "from": "agent"})
	})
}

func TestProtocolViolations(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		send       func(t *testing.T, c *websocket.Conn)
		wantCode   websocket.StatusCode
		wantReason string
	}{
		{
			name:       "fail/unknown type",
			send:       func(t *testing.T, c *websocket.Conn) { send(t, c, map[string]any{"type": "x"}) },
			wantCode:   closeBadMessage,
			wantReason: `unknown message type "x"`,
		},
		{
			name:       "fail/no type",
			send:       func(t *testing.T, c *websocket.Conn) { send(t, c, map[string]any{"sdp": "x"}) },
			wantCode:   closeBadMessage,
			wantReason: `message has no "type"`,
		},
		{
			name:       "fail/offer without sdp",
			send:       func(t *testing.T, c *websocket.Conn) { send(t, c, map[string]any{"type": "offer"}) },
			wantCode:   closeBadMessage,
			wantReason: `offer needs an "sdp" string`,
		},
		{
			name:       "fail/not JSON",
			send:       func(t *testing.T, c *websocket.Conn) { sendRaw(t, c, websocket.MessageText, []byte("hello")) },
			wantCode:   closeBadMessage,
			wantReason: "message is not a JSON object",
		},
		{
			name: "fail/binary frame",
			send: func(t *testing.T, c *websocket.Conn) {
				sendRaw(t, c, websocket.MessageBinary, []byte(`{"type":"ping"}`))
			},
			wantCode:   closeBadMessage,
			wantReason: "binary frames are not accepted: send JSON text",
		},
		{
			name: "fail/oversized",
			opts: Options{MaxMessageBytes: 1024},
			send: func(t *testing.T, c *websocket.Conn) {
				send(t, c, map[string]any{"type": "offer", "sdp": strings.Repeat("a", 2048)})
			},
			wantCode:   websocket.StatusMessageTooBig,
			wantReason: "read limited at",
		},
		{
			// Its payload spans many reads: it is passed over as it
			// comes, and the close that answers the refusal still read.
			name: "fail/oversized across reads",
			opts: Options{MaxMessageBytes: 1024},
			send: func(t *testing.T, c *websocket.Conn) {
				send(t, c, map[string]any{"type": "offer", "sdp": strings.Repeat("a", 4<<20)})
			},
			wantCode:   websocket.StatusMessageTooBig,
			wantReason: "read limited at 1024 bytes",
		},
		{
			name: "fail/flood",
			opts: Options{RatePerSecond: 1, Burst: 5},
			send: func(t *testing.T, c *websocket.Conn) {
				for range 20 {
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`))
					cancel()
					if err != nil {
						return // closed by the server mid-flood
					}
				}
			},
			wantCode:   closeTooMany,
			wantReason: "too many messages",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts)
			agent := e.connect(RoleAgent, "s1")
			viewer := e.connect(RoleViewer, "s1")
			expect(t, agent, map[string]any{"type": "viewer-joined"})
			tt.send(t, viewer)
			if r := expectClose(t, viewer, tt.wantCode); !strings.Contains(r, tt.wantReason) {
				t.Errorf("reason %q, want it to contain %q", r, tt.wantReason)
			}
			// The agent stays, and hears that the viewer left.
			expect(t, agent, map[string]any{"type": "peer-left", "role": "viewer"})
		})
	}
}

func TestTokenExpiresWhileConnected(t *testing.T) {
	e := newEnv(t, Options{})
	// Expiry has a one-second granularity: this token lives 1–2 s.
	tok := e.sign(e.signer, auth.Claims{Session: "s1", Role: RoleViewer, Audience: Audience, Expires: time.Now().Add(2 * time.Second).Unix()})
	c, _, err := e.dial(tok, Subprotocol)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if r := expectClose(t, c, closeExpired); r != "token expired" {
		t.Errorf("reason %q", r)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("closed after %v, want within the token's 2 s", d)
	}
}

func TestClose(t *testing.T) {
	e := newEnv(t, Options{})
	conns := []*websocket.Conn{
		e.connect(RoleViewer, "s1"), e.connect(RoleAgent, "s1"),
		e.connect(RoleViewer, "s2"), e.connect(RoleAgent, "s3"),
	}
	e.closeServer(t, conns...)
	if s, v, a := e.srv.Stats(); s+v+a != 0 {
		t.Errorf("Stats = %d, %d, %d after Close", s, v, a)
	}
	e.srv.Close() // idempotent
	_, resp, err := e.dial(e.token(RoleViewer, "s1"), Subprotocol)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial after Close: %v, want 503", err)
	}
}

// closeServer closes the relay, checks that each of conns is closed with
// 1001 "server shutting down", and that Close returns.
func (e *env) closeServer(t *testing.T, conns ...*websocket.Conn) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		e.srv.Close()
		close(done)
	}()
	for _, c := range conns {
		if r := expectClose(t, c, websocket.StatusGoingAway); r != "server shutting down" {
			t.Errorf("reason %q", r)
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
}

func TestPingsKeepConnectionAlive(t *testing.T) {
	// With a 1 ms ping interval, transport pings interleave with the
	// messages below; clients that read answer them and stay connected.
	e := newEnv(t, Options{PingInterval: time.Millisecond, RatePerSecond: 1000, Burst: 1000})
	viewer := e.connect(RoleViewer, "s1")
	agent := e.connect(RoleAgent, "s1")
	expect(t, agent, map[string]any{"type": "viewer-joined"})
	expect(t, viewer, map[string]any{"type": "agent-ready"})
	for i := range 50 {
		send(t, viewer, map[string]any{"type": "control", "n": i})
		expect(t, agent, map[string]any{"type": "control", "n": i, "from": "viewer"})
		send(t, agent, map[string]any{"type": "control", "n": i})
		expect(t, viewer, map[string]any{"type": "control", "n": i, "from": "agent"})
	}
}
