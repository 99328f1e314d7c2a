package main

import (
	"errors"
	"log/slog"
	"net"
	"testing"

	"github.com/airlock-rbi/airlock/internal/infra"
)

// TestUpTURN checks airlock up's TURN defaults: on, with the outbound
// address, turns: on 443 when it can be bound, else 5349, else off; and
// the operator's flags win.
func TestUpTURN(t *testing.T) {
	refused := errors.New("permission denied")
	for _, tt := range []struct {
		name      string
		cfg       infra.Config
		set       []string
		bindable  map[string]bool
		wantTURN  string
		wantTLS   string
		wantIPSet bool
	}{
		{"ok/defaults as root", infra.Config{TURNListen: ":3478"}, nil, map[string]bool{":443": true, ":5349": true}, ":3478", ":443", true},
		{"ok/443 refused: 5349", infra.Config{TURNListen: ":3478"}, nil, map[string]bool{":5349": true}, ":3478", ":5349", true},
		{"ok/neither: turns off", infra.Config{TURNListen: ":3478"}, nil, nil, ":3478", "", true},
		{"ok/operator's TLS port", infra.Config{TURNListen: ":3478", TURNTLSListen: ":8443"}, []string{turnTLSListenFlag}, nil, ":3478", ":8443", true},
		{"ok/operator turns TLS off", infra.Config{TURNListen: ":3478"}, []string{turnTLSListenFlag}, map[string]bool{":443": true}, ":3478", "", true},
		{"ok/operator's public address", infra.Config{TURNListen: ":3478", TURNPublicIP: "203.0.113.7"}, nil, map[string]bool{":443": true}, ":3478", ":443", true},
		{"ok/TURN off", infra.Config{TURNListen: ""}, []string{turnListenFlag}, map[string]bool{":443": true}, "", "", false},
		{"ok/TURN off by name", infra.Config{TURNListen: "off", TURNTLSListen: ":443"}, []string{turnListenFlag}, map[string]bool{":443": true}, "", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			set := map[string]bool{}
			for _, f := range tt.set {
				set[f] = true
			}
			listen := func(network, addr string) (net.Listener, error) {
				if !tt.bindable[addr] {
					return nil, refused
				}
				return net.Listen(network, "127.0.0.1:0")
			}
			cfg := tt.cfg
			want := tt.cfg.TURNPublicIP
			if err := upTURN(&cfg, set, listen, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			if cfg.TURNListen != tt.wantTURN || cfg.TURNTLSListen != tt.wantTLS {
				t.Errorf("TURN on %q, turns: on %q; want %q, %q", cfg.TURNListen, cfg.TURNTLSListen, tt.wantTURN, tt.wantTLS)
			}
			switch {
			case want != "" && cfg.TURNPublicIP != want:
				t.Errorf("public address %q, want the operator's %q", cfg.TURNPublicIP, want)
			case tt.wantIPSet && net.ParseIP(cfg.TURNPublicIP).To4() == nil:
				t.Errorf("public address %q, want this host's outbound IPv4 address", cfg.TURNPublicIP)
			}
		})
	}
}
