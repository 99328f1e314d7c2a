package turn

import (
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// hostIPv4 is one of this host's own non-loopback IPv4 addresses.
func hostIPv4(t *testing.T) netip.Addr {
	t.Helper()
	addrs, err := localAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if a.Is4() && !a.IsLoopback() {
			return a
		}
	}
	t.Skip("this host has no non-loopback IPv4 address")
	return netip.Addr{}
}

// TestPermissionRefused runs the real server with its production peer rule
// and asks for permissions only: a refused CreatePermission is answered
// before anything is sent, and a granted one sends nothing either, so no
// packet ever leaves for these addresses.
func TestPermissionRefused(t *testing.T) {
	checkGoroutines(t)
	host := hostIPv4(t)
	ts := startServer(t, func(c *Config) {
		// Loopback and the host's own address are listed on purpose: the
		// refusals below must come from the rules that no network opens.
		c.PeerNetworks = []netip.Prefix{netip.MustParsePrefix("172.17.0.0/16"),
			netip.MustParsePrefix("127.0.0.0/8"), netip.PrefixFrom(host, 32)}
	})
	ts.sessions.set("s2", SessionInfo{Live: true, Peers: []netip.Addr{netip.MustParseAddr("172.17.0.9")}})
	tests := []struct {
		name    string
		session string
		peer    string
		want    bool
	}{
		{"ok/session network", "s1", "172.17.0.5", true},
		{"ok/the session's own container", "s2", "172.17.0.9", true},
		{"fail/another container than the session's", "s2", "172.17.0.5", false},
		{"fail/10/8", "s1", "10.0.0.1", false},
		{"fail/192.168/16", "s1", "192.168.1.1", false},
		{"fail/100.64/10", "s1", "100.64.0.1", false},
		{"fail/metadata", "s1", "169.254.169.254", false},
		{"fail/loopback", "s1", "127.0.0.1", false},
		{"fail/the host's own address", "s1", host.String(), false},
		{"fail/docker gateway", "s1", "172.17.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, p := Credentials(testSecret, tt.session, "alice", time.Hour, time.Now())
			c, _ := newClient(t, ts, "udp", u, p)
			relay, err := c.Allocate()
			if err != nil {
				t.Fatalf("Allocate: %v", err)
			}
			defer func() { _ = relay.Close() }()
			err = c.CreatePermission(&net.UDPAddr{IP: net.ParseIP(tt.peer), Port: 9})
			if tt.want && err != nil {
				t.Fatalf("CreatePermission(%s) = %v, want granted", tt.peer, err)
			}
			if !tt.want && err == nil {
				t.Fatalf("CreatePermission(%s) granted, want refused", tt.peer)
			}
		})
	}
}

func TestQuota(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, func(c *Config) {
		loopbackPeers(c)
		c.MaxPerUser, c.MaxPerSession = 3, 2
	})
	for _, id := range []string{"s3", "s4"} {
		ts.sessions.set(id, SessionInfo{Live: true})
	}
	// Steps run in order against one server; each allocation is held.
	steps := []struct {
		name          string
		session, user string
		want          bool
	}{
		{"ok/first of session s1", "s1", "alice", true},
		{"ok/second of session s1", "s1", "alice", true},
		{"fail/third of session s1", "s1", "alice", false},
		{"fail/session quota holds for another user too", "s1", "bob", false},
		{"ok/third of alice, in s2", "s2", "alice", true},
		{"fail/fourth of alice", "s3", "alice", false},
		{"ok/bob is not alice", "s3", "bob", true},
		{"ok/bob again", "s4", "bob", true},
	}
	// Not subtests: each client, and so its allocation, must outlive its
	// step.
	for _, st := range steps {
		u, p := Credentials(testSecret, st.session, st.user, time.Hour, time.Now())
		c, _ := newClient(t, ts, "udp", u, p)
		relay, err := c.Allocate()
		if err == nil {
			t.Cleanup(func() { _ = relay.Close() })
		}
		if st.want && err != nil {
			t.Fatalf("%s: Allocate = %v, want granted", st.name, err)
		}
		if !st.want && err == nil {
			t.Fatalf("%s: Allocate granted, want refused", st.name)
		}
	}
}

// TestSessionEnd checks that the allocations of a session that ended are
// closed and that its credentials, still unexpired, are refused.
func TestSessionEnd(t *testing.T) {
	tests := []struct {
		name string
		end  func(ts testServer)
	}{
		{"ok/found by the sweep", func(ts testServer) { ts.srv.Sweep() }},
		{"ok/ended by the infra", func(ts testServer) { ts.srv.EndSession("s1") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			ts := startServer(t, loopbackPeers)
			peer, _ := startEcho(t)
			u, p := Credentials(testSecret, "s1", "alice", time.Hour, time.Now())
			c, _ := newClient(t, ts, "udp", u, p)
			relay, err := c.Allocate()
			if err != nil {
				t.Fatalf("Allocate: %v", err)
			}
			defer func() { _ = relay.Close() }()
			if err := c.CreatePermission(peer); err != nil {
				t.Fatalf("CreatePermission while live: %v", err)
			}
			// Another session's allocation must survive.
			u2, p2 := Credentials(testSecret, "s2", "alice", time.Hour, time.Now())
			c2, _ := newClient(t, ts, "udp", u2, p2)
			relay2, err := c2.Allocate()
			if err != nil {
				t.Fatalf("Allocate s2: %v", err)
			}
			defer func() { _ = relay2.Close() }()

			ts.sessions.set("s1", SessionInfo{Live: false})
			tt.end(ts)

			// The relay socket is closed: its port can be bound again.
			port := relay.LocalAddr().(*net.UDPAddr).Port
			deadline := time.Now().Add(testWait)
			for {
				pc, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
				if err == nil {
					_ = pc.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("relay port %d still bound after the session ended: %v", port, err)
				}
				time.Sleep(10 * time.Millisecond) // polling a bounded wait
			}
			// And pion forgot it (a client still using it gets no answer).
			for ts.srv.pion.AllocationCount() != 1 {
				if time.Now().After(deadline) {
					t.Fatalf("%d allocations after the session ended, want 1 (the other session's)", ts.srv.pion.AllocationCount())
				}
				time.Sleep(10 * time.Millisecond) // polling a bounded wait
			}
			c3, _ := newClient(t, ts, "udp", u, p)
			if r, err := c3.Allocate(); err == nil {
				_ = r.Close()
				t.Fatal("Allocate with the ended session's credentials succeeded")
			}
			if err := c2.CreatePermission(peer); err != nil {
				t.Fatalf("the other session's allocation: CreatePermission = %v", err)
			}
		})
	}
}
