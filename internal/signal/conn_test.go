package signal

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestEarlyFrameKept: a frame sent before the 101 arrived (here: with
// the upgrade request, in one write) is read by the relay, not lost in
// the buffers net/http hands over.
func TestEarlyFrameKept(t *testing.T) {
	e := newEnv(t, Options{})
	raw := e.rawDial(t, RoleAgent, "s1", maskedText(`{"type":"ping"}`)...)
	if op, p := raw.frame(t); op != 1 || string(p) != `{"type":"pong"}` {
		t.Fatalf("answer: opcode %x %q, want a text frame {\"type\":\"pong\"}", op, p)
	}
}

// maskedText is a client's text frame of a short message.
func maskedText(msg string) []byte {
	mask := [4]byte{1, 2, 3, 4}
	b := []byte{0x81, 0x80 | byte(len(msg)), mask[0], mask[1], mask[2], mask[3]}
	for i := range len(msg) {
		b = append(b, msg[i]^mask[i%4])
	}
	return b
}

// newTLSEnv is newEnv behind TLS, as the relay runs: crypto/tls buffers
// records of its own, which a read pass must drain before it parks.
func newTLSEnv(t *testing.T, o Options) *env {
	t.Helper()
	e := newEnv(t, o)
	e.hs.Close()
	hs := httptest.NewTLSServer(e.srv)
	t.Cleanup(hs.Close)
	e.hs, e.url = hs, "wss"+strings.TrimPrefix(hs.URL, "https")
	return e
}

// TestBackToBack: messages that arrive together, in one TLS read or
// one segment, are all handled, none left in a buffer while the socket
// waits for readiness; a message of many TLS records and TCP segments
// arrives whole. Over TLS and plain TCP.
func TestBackToBack(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  func(*testing.T, Options) *env
	}{{"tls", newTLSEnv}, {"tcp", newEnv}} {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.env(t, Options{RatePerSecond: 1000, Burst: 1000})
			agent := e.connect(RoleAgent, "s1")
			viewer := e.connect(RoleViewer, "s1")
			expect(t, agent, map[string]any{"type": "viewer-joined"})
			expect(t, viewer, map[string]any{"type": "agent-ready"})
			agent.SetReadLimit(1 << 20)
			for round := range 20 {
				for i := range 10 {
					send(t, viewer, map[string]any{"type": "control", "n": round*10 + i})
				}
				for i := range 10 {
					expect(t, agent, map[string]any{"type": "control", "n": round*10 + i})
				}
			}
			big := strings.Repeat("a", 60<<10)
			send(t, viewer, map[string]any{"type": "offer", "sdp": big})
			send(t, viewer, map[string]any{"type": "control", "n": "after"})
			expect(t, agent, map[string]any{"type": "offer", "sdp": big})
			expect(t, agent, map[string]any{"type": "control", "n": "after"})
		})
	}
}

// TestIdlePeersHoldNoGoroutine: connected, idle peers wait in the poller,
// not in goroutines of their own.
func TestIdlePeersHoldNoGoroutine(t *testing.T) {
	e := newTLSEnv(t, Options{})
	if e.srv.poll == nil {
		t.Skip("no poller on this system")
	}
	const pairs = 50
	var conns []*websocket.Conn
	for i := range pairs {
		s := fmt.Sprintf("s%d", i)
		agent, viewer := e.connect(RoleAgent, s), e.connect(RoleViewer, s)
		expect(t, agent, map[string]any{"type": "viewer-joined"})
		expect(t, viewer, map[string]any{"type": "agent-ready"})
		conns = append(conns, agent, viewer)
	}
	// The clients' own goroutines (coder/websocket keeps none while no
	// read runs) and the HTTP server's are all that may remain.
	var n int
	for range 100 {
		runtime.GC()
		n = relayGoroutines()
		if n == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n != 0 {
		t.Errorf("%d goroutines of the relay with %d idle peers, want 0", n, 2*pairs)
	}
	// And they still answer.
	for i := 0; i < len(conns); i += 2 {
		send(t, conns[i+1], map[string]any{"type": "ping"})
		expect(t, conns[i+1], map[string]any{"type": "pong"})
	}
}

// relayGoroutines counts the goroutines running this package's code.
func relayGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "internal/signal.(*") && !strings.Contains(g, "internal/signal.TestIdlePeers") &&
			!strings.Contains(g, "(*poller).run") {
			n++
		}
	}
	return n
}

// TestControlFrames: the relay answers a client's ping, takes a
// fragmented message with a ping between its fragments, echoes a close,
// and refuses an unmasked frame with 1002.
func TestControlFrames(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.connect(RoleAgent, "s1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.CloseRead(ctx) // a reader, which takes the pong
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}

	raw := e.rawDial(t, RoleAgent, "s2")
	frag := func(fin bool, op byte, msg string) []byte {
		b := maskedText(msg)
		b[0] = op
		if fin {
			b[0] |= 0x80
		}
		return b
	}
	var out []byte
	out = append(out, frag(false, 1, `{"type":`)...)
	out = append(out, frag(true, 9, "hi")...) // a ping between fragments
	out = append(out, frag(true, 0, `"ping"}`)...)
	if _, err := raw.c.Write(out); err != nil {
		t.Fatal(err)
	}
	if op, p := raw.frame(t); op != 0xA || string(p) != "hi" {
		t.Fatalf("got opcode %x %q, want the pong of \"hi\"", op, p)
	}
	if op, p := raw.frame(t); op != 1 || string(p) != `{"type":"pong"}` {
		t.Fatalf("got opcode %x %q, want the pong message", op, p)
	}
	// Unmasked: a protocol error.
	if _, err := raw.c.Write([]byte{0x81, 2, '{', '}'}); err != nil {
		t.Fatal(err)
	}
	op, p := raw.frame(t)
	if op != 8 || len(p) < 2 || int(p[0])<<8|int(p[1]) != 1002 {
		t.Fatalf("got opcode %x %q, want close 1002", op, p)
	}
}

// rawConn is a hand-driven client connection, after its upgrade.
type rawConn struct {
	c  net.Conn
	br *bufio.Reader
}

// rawDial upgrades a hand-driven connection; early is sent in the same
// write as the upgrade request, before the 101 came.
func (e *env) rawDial(t *testing.T, role, session string, early ...byte) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", e.hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req := "GET /?token=" + e.token(role, session) + " HTTP/1.1\r\nHost: " + e.hs.Listener.Addr().String() +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
		base64.StdEncoding.EncodeToString(key) + "\r\nSec-WebSocket-Protocol: " + Subprotocol + "\r\n\r\n"
	if _, err := c.Write(append([]byte(req), early...)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	return &rawConn{c, br}
}

// frame reads one short server frame.
func (r *rawConn) frame(t *testing.T) (byte, []byte) {
	t.Helper()
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(r.br, hdr); err != nil {
		t.Fatalf("read a frame: %v", err)
	}
	p := make([]byte, hdr[1]&0x7f)
	if _, err := io.ReadFull(r.br, p); err != nil {
		t.Fatalf("read a payload: %v", err)
	}
	return hdr[0] & 0x0f, p
}

// TestOriginChecked: a browser page of another origin is refused before
// the upgrade; its own host and the allowed patterns pass.
func TestOriginChecked(t *testing.T) {
	e := newEnv(t, Options{OriginPatterns: []string{"*.example.com"}})
	host := e.hs.Listener.Addr().String()
	for _, tt := range []struct {
		origin string
		want   int
	}{
		{"", http.StatusSwitchingProtocols},
		{"http://" + host, http.StatusSwitchingProtocols},
		{"https://portal.example.com", http.StatusSwitchingProtocols},
		{"https://evil.test", http.StatusForbidden},
		{"null", http.StatusForbidden},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		h := http.Header{}
		if tt.origin != "" {
			h.Set("Origin", tt.origin)
		}
		c, resp, err := websocket.Dial(ctx, e.url+"?token="+e.token(RoleAgent, "s-"+tt.origin), &websocket.DialOptions{
			Subprotocols: []string{Subprotocol}, HTTPHeader: h, HTTPClient: e.hs.Client(),
		})
		cancel()
		got := 0
		if resp != nil {
			got = resp.StatusCode
		}
		if got != tt.want {
			t.Errorf("Origin %q: status %d (%v), want %d", tt.origin, got, err, tt.want)
		}
		if c != nil {
			_ = c.CloseNow()
		}
	}
}
