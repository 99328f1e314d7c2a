package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"
)

func TestParseRole(t *testing.T) {
	tests := []struct {
		in      string
		want    Role
		wantErr bool
	}{
		{"infra", RoleInfra, false},
		{"admin", RoleAdmin, false},
		{"provision", RoleProvision, false},
		{"agent", RoleAgent, false},
		{"", "", true},
		{"Admin", "", true},
		{"root", "", true},
		{" admin", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRole(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseRole(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseRole(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), "infra, admin, provision, agent, gateway, api, signal, cron, portal") {
				t.Errorf("error %q does not list the valid roles", err)
			}
		})
	}
}

func TestDefaultTTL(t *testing.T) {
	tests := []struct {
		role Role
		want time.Duration
	}{
		{RoleAdmin, 8 * time.Hour},
		{RoleInfra, 24 * time.Hour},
		{RoleAgent, time.Hour},
		{RoleProvision, 72 * time.Hour},
		{Role("bogus"), 0},
	}
	for _, tt := range tests {
		if got := tt.role.DefaultTTL(); got != tt.want {
			t.Errorf("%q.DefaultTTL() = %s, want %s", tt.role, got, tt.want)
		}
	}
}

func TestRoleOf(t *testing.T) {
	tests := []struct {
		name    string
		cert    *x509.Certificate
		want    Role
		wantErr string
	}{
		{"ok", &x509.Certificate{Subject: pkix.Name{OrganizationalUnit: []string{"admin"}}}, RoleAdmin, ""},
		{"nil", nil, "", "no certificate"},
		{"missing", &x509.Certificate{Subject: pkix.Name{CommonName: "x"}}, "", "no role"},
		{"ambiguous", &x509.Certificate{Subject: pkix.Name{OrganizationalUnit: []string{"agent", "admin"}}}, "", "ambiguous"},
		{"duplicate", &x509.Certificate{Subject: pkix.Name{OrganizationalUnit: []string{"admin", "admin"}}}, "", "ambiguous"},
		{"unknown", &x509.Certificate{Subject: pkix.Name{OrganizationalUnit: []string{"swarm-manager"}}}, "", "unknown role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RoleOf(tt.cert)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("RoleOf error = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("RoleOf: %v", err)
			}
			if got != tt.want {
				t.Errorf("RoleOf = %q, want %q", got, tt.want)
			}
		})
	}
}
