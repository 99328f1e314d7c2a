package turn

import (
	"errors"
	"net"
	"testing"
	"time"
)

// testSecret is 32 bytes, the minimum NewServer accepts.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

func TestCredentials(t *testing.T) {
	now := time.Unix(1700000000, 0)
	// Passwords computed outside Go, with coturn's algorithm:
	//   printf '%s' "$username" | openssl dgst -sha1 -hmac "$secret" -binary | base64
	tests := []struct {
		name         string
		user         string
		ttl          time.Duration
		wantUsername string
		wantPassword string
	}{
		{"ok/one hour", "alice", time.Hour, "1700003600:alice", "HUgaepYTXVnvj1Vo97U6+hBbmH4="},
		{"ok/user with colon", "bob:x", time.Minute, "1700000060:bob:x", "hk3uNaZD77Zl57hdYgoSi3K2rLQ="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, p := Credentials(testSecret, tt.user, tt.ttl, now)
			if u != tt.wantUsername || p != tt.wantPassword {
				t.Fatalf("Credentials = %q, %q; want %q, %q", u, p, tt.wantUsername, tt.wantPassword)
			}
			if err := checkUsername(u, now); err != nil {
				t.Fatalf("checkUsername(%q) = %v, want nil", u, err)
			}
		})
	}
}

func TestCheckUsername(t *testing.T) {
	now := time.Unix(1700000000, 0)
	tests := []struct {
		name     string
		username string
		want     error
	}{
		{"ok/future", "1700000001:alice", nil},
		{"ok/expires now", "1700000000:alice", nil},
		{"fail/expired", "1699999999:alice", ErrExpired},
		{"fail/no user", "1700000001:", ErrBadUsername},
		{"fail/bare timestamp", "1700000001", ErrBadUsername},
		{"fail/bare user", "alice", ErrBadUsername},
		{"fail/user first", "alice:1700000001", ErrBadUsername},
		{"fail/negative", "-1:alice", ErrBadUsername},
		{"fail/empty", "", ErrBadUsername},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkUsername(tt.username, now); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("checkUsername(%q) = %v, want %v", tt.username, err, tt.want)
			}
		})
	}
}

func TestICEServers(t *testing.T) {
	now := time.Unix(1700000000, 0)
	tests := []struct {
		name, host string
		wantSTUN   string
		wantTURN   []string
	}{
		{"ok/name", "turn.example", "stun:turn.example:3478",
			[]string{"turn:turn.example:3478?transport=udp", "turn:turn.example:3478?transport=tcp"}},
		{"ok/ipv6", "2001:db8::1", "stun:[2001:db8::1]:3478",
			[]string{"turn:[2001:db8::1]:3478?transport=udp", "turn:[2001:db8::1]:3478?transport=tcp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ICEServers(tt.host, 3478, testSecret, "alice", time.Hour, now)
			if len(got) != 2 {
				t.Fatalf("got %d servers, want 2", len(got))
			}
			if len(got[0].URLs) != 1 || got[0].URLs[0] != tt.wantSTUN || got[0].Username != "" || got[0].Credential != "" {
				t.Errorf("STUN entry = %+v, want %s without credentials", got[0], tt.wantSTUN)
			}
			if len(got[1].URLs) != 2 || got[1].URLs[0] != tt.wantTURN[0] || got[1].URLs[1] != tt.wantTURN[1] {
				t.Errorf("TURN URLs = %v, want %v", got[1].URLs, tt.wantTURN)
			}
			if got[1].Username != "1700003600:alice" || got[1].Credential != "HUgaepYTXVnvj1Vo97U6+hBbmH4=" {
				t.Errorf("TURN credentials = %q, %q", got[1].Username, got[1].Credential)
			}
		})
	}
}

func TestDefaultAllowPeer(t *testing.T) {
	tests := []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", false},
		{"::1", false},
		{"169.254.169.254", false},
		{"fe80::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"224.0.0.1", false},
		{"239.1.2.3", false},
		{"ff02::1", false},
		{"255.255.255.255", false},
		{"172.17.0.2", true},
		{"10.1.2.3", true},
		{"192.168.1.10", true},
		{"203.0.113.7", true},
		{"2001:db8::1", true},
	}
	for _, tt := range tests {
		name := "fail/" + tt.ip
		if tt.want {
			name = "ok/" + tt.ip
		}
		t.Run(name, func(t *testing.T) {
			if got := DefaultAllowPeer(net.ParseIP(tt.ip)); got != tt.want {
				t.Fatalf("DefaultAllowPeer(%s) = %v, want %v", tt.ip, got, tt.want)
			}
		})
	}
	if DefaultAllowPeer(nil) {
		t.Error("DefaultAllowPeer(nil) = true, want false")
	}
}
