package turn

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/turn/v4"
)

const testWait = 5 * time.Second

var loopback = net.IPv4(127, 0, 0, 1)

// checkGoroutines fails the test if the goroutine count has not settled back
// to its starting value within testWait after every other cleanup ran.
// Call it first so its cleanup runs last.
func checkGoroutines(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(testWait)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutines: %d, started with %d\n%s", n, base, buf)
				return
			}
			runtime.Gosched()
			time.Sleep(10 * time.Millisecond) // polling a bounded wait
		}
	})
}

type testServer struct {
	srv                       *Server
	udpAddr, tcpAddr, tlsAddr string
	sessions                  *sessions
}

// sessions is the infra's answer to Config.Session, which tests change
// as sessions end.
type sessions struct {
	mu sync.Mutex
	m  map[string]SessionInfo
}

func (s *sessions) set(id string, info SessionInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[id] = info
}

func (s *sessions) get(_ context.Context, id string) (SessionInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id], nil // unknown sessions are not live
}

// loopbackPeers lets a test relay real packets: loopback is the only place
// tests may send to, and the one production never allows. PublicIP is
// 127.0.0.1, so peers live at 127.0.0.2.
func loopbackPeers(c *Config) {
	c.PeerNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	c.alwaysDeny = []netip.Prefix{}
	c.hostAddrs = func() ([]netip.Addr, error) { return nil, nil }
}

// startServer runs a Server on loopback UDP and TCP listeners, with
// sessions s1 and s2 live; tweak adjusts the Config.
func startServer(t *testing.T, tweak func(*Config)) testServer {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		_ = udp.Close()
		t.Fatal(err)
	}
	tlsLn, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		_ = udp.Close()
		_ = tcp.Close()
		t.Fatal(err)
	}
	ss := &sessions{m: map[string]SessionInfo{"s1": {Live: true}, "s2": {Live: true}}}
	cfg := Config{
		Secret:       testSecret,
		PublicIP:     loopback,
		RelayBindIP:  loopback,
		RelayPortMin: 50100,
		RelayPortMax: 50199,
		Session:      ss.get,
		// Sweeps are run by hand in these tests.
		SweepEvery: time.Hour,
		Logger:     testLogger(t),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := NewServer(cfg, udp, tcp, tls.NewListener(tlsLn, serverTLS(t)))
	if err != nil {
		_ = udp.Close()
		_ = tcp.Close()
		_ = tlsLn.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return testServer{srv: s, udpAddr: udp.LocalAddr().String(), tcpAddr: tcp.Addr().String(), tlsAddr: tlsLn.Addr().String(), sessions: ss}
}

// newClient starts a pion TURN client over UDP or TCP ("tcp" wraps the
// stream in turn.NewSTUNConn, as a browser's TURN/TCP framing does).
// It also returns the client's local address.
func newClient(t *testing.T, ts testServer, network, username, password string) (*turn.Client, net.Addr) {
	t.Helper()
	var (
		conn net.PacketConn
		addr string
	)
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn, addr = pc, ts.udpAddr
	case "tcp":
		c, err := net.DialTimeout("tcp4", ts.tcpAddr, testWait)
		if err != nil {
			t.Fatal(err)
		}
		conn, addr = turn.NewSTUNConn(c), ts.tcpAddr
	case "tls":
		// turns:, as a browser behind a network that lets only HTTPS out.
		d := &net.Dialer{Timeout: testWait}
		c, err := tls.DialWithDialer(d, "tcp4", ts.tlsAddr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test's own self-signed certificate
		if err != nil {
			t.Fatal(err)
		}
		conn, addr = turn.NewSTUNConn(c), ts.tlsAddr
	default:
		t.Fatalf("unknown network %q", network)
	}
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr,
		TURNServerAddr: addr,
		Username:       username,
		Password:       password,
		Realm:          DefaultRealm,
		Conn:           conn,
	})
	if err != nil {
		_ = conn.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		_ = conn.Close()
	})
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	return c, conn.LocalAddr()
}

func TestAllocate(t *testing.T) {
	now := time.Now()
	fresh := func() (string, string) { return Credentials(testSecret, "s1", "alice", time.Hour, now) }
	tests := []struct {
		name    string
		network string
		creds   func() (string, string)
		wantErr bool
	}{
		{"ok/udp fresh credentials", "udp", fresh, false},
		{"ok/tcp fresh credentials", "tcp", fresh, false},
		{"ok/tls fresh credentials", "tls", fresh, false},
		{"fail/tls expired credentials", "tls", func() (string, string) {
			return Credentials(testSecret, "s1", "alice", -time.Minute, now)
		}, true},
		{"fail/expired credentials", "udp", func() (string, string) {
			return Credentials(testSecret, "s1", "alice", -time.Minute, now)
		}, true},
		{"fail/wrong password", "udp", func() (string, string) {
			u, _ := fresh()
			_, p := Credentials([]byte("another secret, also 32 bytes lo"), "s1", "alice", time.Hour, now)
			return u, p
		}, true},
		{"fail/unknown username format", "udp", func() (string, string) {
			return "alice", restPassword(testSecret, "alice")
		}, true},
		{"fail/username without a session", "udp", func() (string, string) {
			u := strconv.FormatInt(now.Add(time.Hour).Unix(), 10) + ":alice"
			return u, restPassword(testSecret, u)
		}, true},
		{"fail/session that is not live", "udp", func() (string, string) {
			return Credentials(testSecret, "ended", "alice", time.Hour, now)
		}, true},
		{"fail/tcp expired credentials", "tcp", func() (string, string) {
			return Credentials(testSecret, "s1", "alice", -time.Minute, now)
		}, true},
		{"fail/tcp session that is not live", "tcp", func() (string, string) {
			return Credentials(testSecret, "ended", "alice", time.Hour, now)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			ts := startServer(t, loopbackPeers)
			u, p := tt.creds()
			c, _ := newClient(t, ts, tt.network, u, p)
			relay, err := c.Allocate()
			if tt.wantErr {
				if err == nil {
					_ = relay.Close()
					t.Fatal("Allocate succeeded, want error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Allocate: %v", err)
			}
			defer func() { _ = relay.Close() }()
			ra, ok := relay.LocalAddr().(*net.UDPAddr)
			if !ok || !ra.IP.Equal(loopback) || ra.Port < 50100 || ra.Port > 50199 {
				t.Fatalf("relayed address %v, want 127.0.0.1:50100-50199", relay.LocalAddr())
			}
		})
	}
}

// startEcho runs a UDP echo peer on loopback until the test ends.
func startEcho(t *testing.T) (net.Addr, <-chan struct{}) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			select {
			case got <- struct{}{}:
			default:
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() {
		_ = pc.Close()
		<-done
	})
	return pc.LocalAddr(), got
}

func TestRelay(t *testing.T) {
	other := []netip.Addr{netip.MustParseAddr("127.0.0.3")}
	tests := []struct {
		name  string
		tweak func(*Config)
		peers []netip.Addr // the session's container addresses
		want  bool
	}{
		{"ok/echo through relay to a peer of the session networks", loopbackPeers, nil, true},
		{"ok/echo through relay to the session's own container", loopbackPeers, []netip.Addr{netip.MustParseAddr("127.0.0.2")}, true},
		{"fail/peer is another session's container", loopbackPeers, other, false},
		{"fail/loopback refused by the default rule", func(c *Config) {
			c.PeerNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		}, nil, false},
		{"fail/no session networks", func(c *Config) {
			loopbackPeers(c)
			c.PeerNetworks = nil
		}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			ts := startServer(t, tt.tweak)
			ts.sessions.set("s1", SessionInfo{Live: true, Peers: tt.peers})
			peer, peerGot := startEcho(t)
			u, p := Credentials(testSecret, "s1", "alice", time.Hour, time.Now())
			c, _ := newClient(t, ts, "udp", u, p)
			relay, err := c.Allocate()
			if err != nil {
				t.Fatalf("Allocate: %v", err)
			}
			defer func() { _ = relay.Close() }()

			err = c.CreatePermission(peer)
			if !tt.want {
				// pion answers a refused CreatePermission with an error
				// response, which the client returns.
				if err == nil {
					t.Fatal("CreatePermission succeeded for a refused peer")
				}
				// And nothing reaches the peer even if the client tries.
				_, _ = relay.WriteTo([]byte("hello"), peer)
				select {
				case <-peerGot:
					t.Fatal("refused peer received data")
				case <-time.After(300 * time.Millisecond): // bounded wait for a packet that must not come
				}
				return
			}
			if err != nil {
				t.Fatalf("CreatePermission: %v", err)
			}
			msg := []byte("hello through the relay")
			if _, err := relay.WriteTo(msg, peer); err != nil {
				t.Fatalf("WriteTo: %v", err)
			}
			if err := relay.SetReadDeadline(time.Now().Add(testWait)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1500)
			n, from, err := relay.ReadFrom(buf)
			if err != nil {
				t.Fatalf("ReadFrom: %v", err)
			}
			if !bytes.Equal(buf[:n], msg) || from.String() != peer.String() {
				t.Fatalf("got %q from %v, want %q from %v", buf[:n], from, msg, peer)
			}
		})
	}
}

func TestBinding(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run("ok/"+network, func(t *testing.T) {
			checkGoroutines(t)
			ts := startServer(t, nil)
			// Binding requests need no credentials.
			c, local := newClient(t, ts, network, "", "")
			mapped, err := c.SendBindingRequest()
			if err != nil {
				t.Fatalf("SendBindingRequest: %v", err)
			}
			// No NAT on loopback: the mapped address is the client's own
			// socket (pion reports it as a UDPAddr on TCP too, so compare
			// the strings).
			if mapped.String() != local.String() {
				t.Fatalf("mapped address %v, want %v", mapped, local)
			}
		})
	}
}

func TestNewServerConfig(t *testing.T) {
	ip := loopback
	live := (&sessions{m: map[string]SessionInfo{}}).get
	tests := []struct {
		name string
		cfg  Config
		noLn bool
		want error
	}{
		{"fail/no listener", Config{Secret: testSecret, PublicIP: ip, Session: live}, true, ErrNoListener},
		{"fail/short secret", Config{Secret: testSecret[:31], PublicIP: ip, Session: live}, false, ErrShortSecret},
		{"fail/no public ip", Config{Secret: testSecret, Session: live}, false, ErrNoPublicIP},
		{"fail/ipv6 public ip", Config{Secret: testSecret, PublicIP: net.ParseIP("2001:db8::1"), Session: live}, false, ErrNoPublicIP},
		{"fail/no session check", Config{Secret: testSecret, PublicIP: ip}, false, ErrNoSession},
		{"fail/inverted port range", Config{Secret: testSecret, PublicIP: ip, Session: live, RelayPortMin: 50200, RelayPortMax: 50100}, false, ErrBadPortRange},
		{"fail/half port range", Config{Secret: testSecret, PublicIP: ip, Session: live, RelayPortMin: 50200}, false, ErrBadPortRange},
		{"fail/ipv6 relay bind", Config{Secret: testSecret, PublicIP: ip, Session: live, RelayBindIP: net.IPv6loopback}, false, ErrBadRelayBind},
		{"fail/negative quota", Config{Secret: testSecret, PublicIP: ip, Session: live, MaxPerSession: -1}, false, ErrBadQuota},
		{"fail/invalid peer network", Config{Secret: testSecret, PublicIP: ip, Session: live, PeerNetworks: []netip.Prefix{{}}}, false, ErrBadNetwork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var udp net.PacketConn
			if !tt.noLn {
				pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = pc.Close() }()
				udp = pc
			}
			s, err := NewServer(tt.cfg, udp, nil)
			if err == nil {
				_ = s.Close()
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("NewServer = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCloseIdempotent(t *testing.T) {
	checkGoroutines(t)
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(Config{Secret: testSecret, PublicIP: loopback, RelayBindIP: loopback,
		Session: (&sessions{m: map[string]SessionInfo{}}).get}, udp, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// testLogger sends the server's log to t.Log so failures show pion's view.
// pion's read loops may still log their exit after Close has returned,
// so the log goes quiet once the test's cleanups run: t.Log after a test
// has ended is a race.
func testLogger(t *testing.T) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// TestCloseEndsTCPConns checks that Close hangs up on connected TCP clients,
// which pion's own Close leaves running.
func TestCloseEndsTCPConns(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, nil)
	conn, err := net.DialTimeout("tcp4", ts.tcpAddr, testWait)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if err := conn.SetDeadline(time.Now().Add(testWait)); err != nil {
		t.Fatal(err)
	}
	// A hand-built STUN binding request (RFC 5389 header: type, length,
	// magic cookie, transaction ID); its answer proves the server accepted
	// the connection before Close.
	req := []byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, 20)
	if _, err := io.ReadFull(conn, hdr); err != nil {
		t.Fatalf("reading binding response: %v", err)
	}
	if hdr[0] != 0x01 || hdr[1] != 0x01 {
		t.Fatalf("response type %#x%02x, want binding success 0x0101", hdr[0], hdr[1])
	}
	if _, err := io.CopyN(io.Discard, conn, int64(hdr[2])<<8|int64(hdr[3])); err != nil {
		t.Fatalf("reading binding response body: %v", err)
	}

	if err := ts.srv.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("Read after Close = %v, want the server to hang up", err)
	}
}
