package signal

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// smallBufferListener sets a small send buffer on the relay's side of
// every connection, so a client that stops reading blocks the relay's
// writes after a few KiB rather than a few MiB.
type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		if err := c.(*net.TCPConn).SetWriteBuffer(4096); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, err
}

// newSmallBufferEnv is newEnv with small socket buffers on both ends.
func newSmallBufferEnv(t *testing.T, o Options) *env {
	t.Helper()
	e := newEnv(t, o)
	e.hs.Close()
	hs := httptest.NewUnstartedServer(e.srv)
	hs.Listener = smallBufferListener{hs.Listener}
	hs.Start()
	t.Cleanup(hs.Close)
	tr := hs.Client().Transport.(*http.Transport)
	tr.DialContext = (&net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}).DialContext
	e.hs, e.url = hs, "ws"+strings.TrimPrefix(hs.URL, "http")
	return e
}

// TestSlowPeerDropped: a peer that stops reading is dropped once a write
// to it has waited WriteTimeout, while the other side is served all
// along and then hears that it left.
func TestSlowPeerDropped(t *testing.T) {
	e := newSmallBufferEnv(t, Options{WriteTimeout: 300 * time.Millisecond})
	agent := e.connect(RoleAgent, "s1")
	viewer := e.connect(RoleViewer, "s1") // never read from below
	expect(t, agent, map[string]any{"type": "viewer-joined"})

	// Far more than the socket buffers hold, in fewer messages than the
	// send queue's bound: the relay's write blocks, the queue does not
	// overflow, and only the write timeout can drop the viewer.
	pad := strings.Repeat("x", 32<<10)
	start := time.Now()
	for range 16 {
		send(t, agent, map[string]any{"type": "control", "pad": pad})
	}
	send(t, agent, map[string]any{"type": "ping"})
	expect(t, agent, map[string]any{"type": "pong"})
	expect(t, agent, map[string]any{"type": "peer-left", "role": RoleViewer})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("viewer dropped after %v, want about the write timeout of 300ms", d)
	}
	send(t, agent, map[string]any{"type": "ping"})
	expect(t, agent, map[string]any{"type": "pong"})
	if _, v, a := e.srv.Stats(); v != 0 || a != 1 {
		t.Errorf("Stats: %d viewers, %d agents, want 0 and 1", v, a)
	}
	viewer.CloseNow()
}

// TestDeadPeerDropped: a peer that answers no ping (here: a client that
// does not read, so its library does not answer) is dropped at once
// after PongTimeout, and the other side hears that it left.
func TestDeadPeerDropped(t *testing.T) {
	e := newEnv(t, Options{PingInterval: 50 * time.Millisecond, PongTimeout: 200 * time.Millisecond})
	viewer := e.connect(RoleViewer, "s1") // never read from: pings go unanswered
	start := time.Now()
	agent := e.connect(RoleAgent, "s1")
	expect(t, agent, map[string]any{"type": "viewer-joined"})
	// The agent reads, so its pings are answered and it stays.
	expect(t, agent, map[string]any{"type": "peer-left", "role": RoleViewer})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("dead viewer dropped after %v, want about 250ms", d)
	}
	send(t, agent, map[string]any{"type": "ping"})
	expect(t, agent, map[string]any{"type": "pong"})
	if _, v, a := e.srv.Stats(); v != 0 || a != 1 {
		t.Errorf("Stats: %d viewers, %d agents, want 0 and 1", v, a)
	}
	// The viewer's connection was dropped, not closed with a handshake
	// nobody would answer.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if _, _, err := viewer.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatal("the dead viewer's connection is still open")
			}
			break
		}
	}
}

// TestSendQueueBounded: a peer that lets sendQueueLen messages wait is
// asked to close with 1013 rather than queue more; what it was sent
// after that is dropped.
func TestSendQueueBounded(t *testing.T) {
	e := newEnv(t, Options{})
	claims, err := e.signer.Verify(e.token(RoleViewer, "s1"), Audience)
	if err != nil {
		t.Fatal(err)
	}
	// Not run: nothing flushes its queue.
	p := newPeer(e.srv, nil, "", nil)
	p.setClaims(claims)
	for i := range sendQueueLen {
		p.enqueue([]byte(`{"type":"pong"}`))
		if _, closing := p.closeRequested(); closing {
			t.Fatalf("closed after %d messages, want room for %d", i+1, sendQueueLen)
		}
	}
	p.enqueue([]byte(`{"type":"pong"}`))
	if code, closing := p.closeRequested(); !closing || code != closeTryLater {
		t.Fatalf("after %d messages: closing %v with %d, want %d", sendQueueLen+1, closing, code, closeTryLater)
	}
	p.enqueue([]byte(`{"type":"pong"}`))
	if n := len(p.queue); n != 0 {
		t.Errorf("a closing peer keeps %d messages queued", n)
	}
}
