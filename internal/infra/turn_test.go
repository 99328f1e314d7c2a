package infra

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/pki"
	"github.com/airlock-rbi/airlock/internal/signal"
)

func TestParsePeerNetworks(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		err      string
	}{
		{"ok/docker bridge", "172.17.0.0/16", []string{"172.17.0.0/16"}, ""},
		{"ok/list with spaces, masked", " 172.17.0.0/16, 10.88.0.5/24 ,fd12::/64", []string{"172.17.0.0/16", "10.88.0.0/24", "fd12::/64"}, ""},
		{"ok/empty", "", nil, ""},
		{"fail/not a cidr", "172.17.0.1", nil, "not a CIDR"},
		{"fail/everything", "0.0.0.0/0", nil, "relay anywhere"},
		{"fail/everything ipv6", "::/0", nil, "relay anywhere"},
		{"fail/loopback", "127.0.0.0/8", nil, "loopback"},
		{"fail/link-local metadata", "169.254.0.0/16", nil, "link-local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePeerNetworks(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParsePeerNetworks(%q) = %v, %v; want an error saying %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if !slices.Equal(s, tt.want) {
				t.Fatalf("ParsePeerNetworks(%q) = %v, want %v", tt.in, s, tt.want)
			}
		})
	}
}

func TestTURNConfig(t *testing.T) {
	base := Config{TURNListen: "127.0.0.1:0", TURNPublicIP: "127.0.0.1", TURNPeerNetworks: "172.17.0.0/16"}
	tests := []struct {
		name   string
		change func(*Config)
		err    string
		bind   string // RelayBindIP, when it matters
	}{
		// The public address is this host's: relays send from it.
		{"ok/defaults", func(*Config) {}, "", "127.0.0.1"},
		// Behind 1:1 NAT it is not: the kernel picks the source.
		{"ok/public-ip-not-local", func(c *Config) { c.TURNPublicIP = "198.51.100.7" }, "", "<nil>"},
		{"ok/relay ports", func(c *Config) { c.TURNRelayPorts = "50000-50999" }, "", ""},
		{"fail/no peer networks", func(c *Config) { c.TURNPeerNetworks = "" }, "needs --turn-peer-networks", ""},
		{"fail/bad relay ports", func(c *Config) { c.TURNRelayPorts = "50999-50000" }, "--turn-relay-ports", ""},
		{"fail/negative quota", func(c *Config) { c.TURNMaxPerSession = -1 }, "--turn-max-per-session", ""},
		{"fail/public ip", func(c *Config) { c.TURNPublicIP = "turn.example" }, "--turn-public-ip", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.change(&c)
			tc, err := turnConfig(c)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tt.bind != "" && tc.RelayBindIP.String() != tt.bind {
					t.Errorf("relay bind %v, want %s", tc.RelayBindIP, tt.bind)
				}
				if c.TURNRelayPorts != "" && (tc.RelayPortMin != 50000 || tc.RelayPortMax != 50999) {
					t.Fatalf("relay ports %d-%d, want 50000-50999", tc.RelayPortMin, tc.RelayPortMax)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("turnConfig = %v, want an error saying %q", err, tt.err)
			}
		})
	}
}

// TestTURNSessions runs the TURN server as the infra starts it, on a real
// store: viewers get credentials naming their session, agents no relay,
// and the server's view of a session follows its state in the store.
func TestTURNSessions(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := airlock.Now()
	if err := st.CreateUser(ctx, &airlock.User{ID: "u1", Name: "alice", Role: airlock.RoleUser, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateWorkspace(ctx, &airlock.Workspace{ID: "w1", Name: "minimal", Image: "airlock/minimal:latest",
		Isolation: airlock.IsolationStandard, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for id, state := range map[string]airlock.SessionState{"ready1": airlock.SessionReady, "starting1": airlock.SessionStarting, "stopped1": airlock.SessionStopped} {
		if err := st.CreateSession(ctx, &airlock.Session{ID: id, UserID: "u1", WorkspaceID: "w1", State: state}); err != nil {
			t.Fatal(err)
		}
	}
	addrs := []netip.Addr{netip.MustParseAddr("172.17.0.5")}
	if _, err := st.UpdateSession(ctx, "ready1", airlock.SessionUpdate{From: []airlock.SessionState{airlock.SessionReady},
		ContainerAddrs: &addrs}, now); err != nil {
		t.Fatal(err)
	}
	info := sessionInfo(st)
	for _, tt := range []struct {
		id    string
		live  bool
		peers []netip.Addr
	}{{"ready1", true, addrs}, {"starting1", false, nil}, {"stopped1", false, nil}, {"unknown", false, nil}} {
		got, err := info(ctx, tt.id)
		if err != nil || got.Live != tt.live || !slices.Equal(got.Peers, tt.peers) {
			t.Errorf("session %s: live %v peers %v, %v; want %v %v", tt.id, got.Live, got.Peers, err, tt.live, tt.peers)
		}
	}

	port := freeUDPTCPPort(t)
	dataDir := t.TempDir()
	if err := writeSecretFile(filepath.Join(dataDir, TURNSecretFile), []byte(base64.StdEncoding.EncodeToString(randomKey()))); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadOrInitCA(dataDir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(dataDir, "server")
	if err := IssueTo(ca, certDir, pki.IssueRequest{Role: pki.RoleInfra, Name: "airlock-server", Hosts: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{DataDir: dataDir, TURNListen: net.JoinHostPort("127.0.0.1", port), TURNTLSListen: "127.0.0.1:0",
		TURNPublicIP: "127.0.0.1", TURNPeerNetworks: "172.17.0.0/16"}
	ice, _, closeTURN, err := startTURN(ctx, cfg, st, certDir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeTURN()
	viewer := ice("ready1", "u1", signal.RoleViewer, time.Unix(1700000000, 0))
	if len(viewer) != 2 || viewer[1].Username != "1700003600:ready1:u1" || viewer[1].Credential == "" || len(viewer[1].URLs) != 3 {
		t.Fatalf("viewer ICE servers %+v, want STUN and TURN (udp, tcp, tls) for 1700003600:ready1:u1", viewer)
	}
	// The turns: URL's port serves TLS with the server's certificate, valid
	// for the public address under the deployment's CA.
	turns, ok := strings.CutPrefix(viewer[1].URLs[2], "turns:")
	turns, _, _ = strings.Cut(turns, "?")
	if !ok {
		t.Fatalf("third TURN URL %q is not turns:", viewer[1].URLs[2])
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	conn, err := tls.Dial("tcp4", turns, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS to turns: %s: %v", turns, err)
	}
	conn.Close()
	agent := ice("ready1", "agent-ready1", signal.RoleAgent, time.Unix(1700000000, 0))
	if len(agent) != 1 || agent[0].Username != "" || !strings.HasPrefix(agent[0].URLs[0], "stun:") {
		t.Errorf("agent ICE servers %+v, want STUN alone", agent)
	}
}

// freeUDPTCPPort finds a loopback port free for both UDP and TCP.
func freeUDPTCPPort(t *testing.T) string {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(pc.LocalAddr().String())
		ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", port))
		pc.Close()
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return ""
}

// TURN's UDP socket on a wildcard address is bound to the advertised
// address when this host has it, so that answers come from the address
// viewers send to; otherwise (behind a 1:1 NAT) it stays wildcard.
func TestListenTURNUDP(t *testing.T) {
	for _, tc := range []struct {
		host, public, want string
	}{
		{"", "127.0.0.1", "127.0.0.1"},
		{"0.0.0.0", "127.0.0.1", "127.0.0.1"},
		{"", "198.51.100.7", "0.0.0.0"},
		{"127.0.0.1", "198.51.100.7", "127.0.0.1"},
	} {
		t.Run(tc.host+"/"+tc.public, func(t *testing.T) {
			c, err := listenTURNUDP(tc.host, "0", net.ParseIP(tc.public))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.LocalAddr().(*net.UDPAddr).IP.String(); got != tc.want {
				t.Fatalf("bound to %s, want %s", got, tc.want)
			}
		})
	}
}
