package turn

import (
	"errors"
	"strings"
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
		session      string
		user         string
		ttl          time.Duration
		wantUsername string
		wantPassword string
	}{
		{"ok/one hour", "s1", "alice", time.Hour, "1700003600:s1:alice", "w1zg3ECvBV8CHT1+atrXmT+KaXw="},
		{"ok/user with colon", "s2", "bob:x", time.Minute, "1700000060:s2:bob:x", "Qen9lSeKVhv/3PvXMOKgoQaet5I="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, p := Credentials(testSecret, tt.session, tt.user, tt.ttl, now)
			if u != tt.wantUsername || p != tt.wantPassword {
				t.Fatalf("Credentials = %q, %q; want %q, %q", u, p, tt.wantUsername, tt.wantPassword)
			}
			got, err := checkUsername(u, now)
			if err != nil {
				t.Fatalf("checkUsername(%q) = %v, want nil", u, err)
			}
			if got.Session != tt.session || got.User != tt.user {
				t.Fatalf("checkUsername(%q) = session %q user %q, want %q %q", u, got.Session, got.User, tt.session, tt.user)
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
		{"ok/future", "1700000001:s1:alice", nil},
		{"ok/expires now", "1700000000:s1:alice", nil},
		{"fail/expired", "1699999999:s1:alice", ErrExpired},
		{"fail/no user", "1700000001:s1:", ErrBadUsername},
		{"fail/no session", "1700000001::alice", ErrBadUsername},
		{"fail/old format without session", "1700000001:alice", ErrBadUsername},
		{"fail/bare timestamp", "1700000001", ErrBadUsername},
		{"fail/bare user", "alice", ErrBadUsername},
		{"fail/user first", "alice:s1:1700000001", ErrBadUsername},
		{"fail/negative", "-1:s1:alice", ErrBadUsername},
		{"fail/leading zeros", "01700000001:s1:alice", ErrBadUsername},
		{"fail/plus sign", "+1700000001:s1:alice", ErrBadUsername},
		{"fail/empty", "", ErrBadUsername},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := checkUsername(tt.username, now); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
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
		wantTURNS  string
	}{
		{"ok/name", "turn.example", "stun:turn.example:3478",
			[]string{"turn:turn.example:3478?transport=udp", "turn:turn.example:3478?transport=tcp"},
			"turns:turn.example:443?transport=tcp"},
		{"ok/ipv6", "2001:db8::1", "stun:[2001:db8::1]:3478",
			[]string{"turn:[2001:db8::1]:3478?transport=udp", "turn:[2001:db8::1]:3478?transport=tcp"},
			"turns:[2001:db8::1]:443?transport=tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ICEServers(tt.host, 3478, testSecret, "s1", "alice", time.Hour, now)
			if len(got) != 2 {
				t.Fatalf("got %d servers, want 2", len(got))
			}
			if len(got[0].URLs) != 1 || got[0].URLs[0] != tt.wantSTUN || got[0].Username != "" || got[0].Credential != "" {
				t.Errorf("STUN entry = %+v, want %s without credentials", got[0], tt.wantSTUN)
			}
			if len(got[1].URLs) != 2 || got[1].URLs[0] != tt.wantTURN[0] || got[1].URLs[1] != tt.wantTURN[1] {
				t.Errorf("TURN URLs = %v, want %v", got[1].URLs, tt.wantTURN)
			}
			withTLS := ICEServersTLS(tt.host, 3478, "", 443, testSecret, "s1", "alice", time.Hour, now)
			if u := withTLS[1].URLs; len(u) != 3 || u[2] != tt.wantTURNS {
				t.Errorf("TURN URLs with TLS = %v, want %s last", u, tt.wantTURNS)
			}
			if got[1].Username != "1700003600:s1:alice" || got[1].Credential != "w1zg3ECvBV8CHT1+atrXmT+KaXw=" {
				t.Errorf("TURN credentials = %q, %q", got[1].Username, got[1].Credential)
			}
		})
	}
}

// FuzzParseUsername feeds the parser what any client can send as a STUN
// USERNAME: it must never panic, and what it accepts must be exactly a
// username Credentials could have made.
func FuzzParseUsername(f *testing.F) {
	f.Fuzz(func(t *testing.T, username string) {
		u, err := parseUsername(username)
		if err != nil {
			return
		}
		if u.Session == "" || u.User == "" || u.Expiry < 0 || strings.Contains(u.Session, ":") {
			t.Fatalf("parseUsername(%q) = %+v, accepted", username, u)
		}
		again, _ := Credentials(testSecret, u.Session, u.User, 0, time.Unix(u.Expiry, 0))
		if again != username {
			t.Fatalf("parseUsername(%q) = %+v, which Credentials writes as %q", username, u, again)
		}
	})
}
