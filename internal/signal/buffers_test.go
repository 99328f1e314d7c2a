package signal

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestEarlyFrameKept: a frame sent before the 101 arrived (here: with
// the upgrade request, in one write) is read by the relay, not lost in
// the buffers net/http hands over.
func TestEarlyFrameKept(t *testing.T) {
	e := newEnv(t, Options{})
	c, err := net.Dial("tcp", e.hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req := "GET /?token=" + e.token(RoleAgent, "s1") + " HTTP/1.1\r\nHost: " + e.hs.Listener.Addr().String() +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
		base64.StdEncoding.EncodeToString(key) + "\r\nSec-WebSocket-Protocol: " + Subprotocol + "\r\n\r\n"
	if _, err := c.Write(append([]byte(req), maskedText(`{"type":"ping"}`)...)); err != nil {
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
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(br, hdr); err != nil {
		t.Fatalf("read the answer's frame: %v", err)
	}
	payload := make([]byte, hdr[1]&0x7f)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatalf("read the answer's payload: %v", err)
	}
	if hdr[0] != 0x81 || string(payload) != `{"type":"pong"}` {
		t.Fatalf("answer %x %q, want a text frame {\"type\":\"pong\"}", hdr, payload)
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
