package pki

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestInitCA(t *testing.T) {
	ca, dir := newTestCA(t)

	modes := []struct {
		path string
		want fs.FileMode
	}{
		{dir, fs.ModeDir | 0o700},
		{filepath.Join(dir, "ca.pem"), 0o644},
		{filepath.Join(dir, "ca-key.pem"), 0o600},
	}
	for _, m := range modes {
		fi, err := os.Stat(m.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (fs.ModeDir | fs.ModePerm); got != m.want {
			t.Errorf("%s mode = %v, want %v", m.path, got, m.want)
		}
	}

	c := ca.Cert
	if !c.IsCA || !c.BasicConstraintsValid {
		t.Error("certificate is not a CA")
	}
	if c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("MaxPathLen = %d, MaxPathLenZero = %v; want 0, true", c.MaxPathLen, c.MaxPathLenZero)
	}
	if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign; c.KeyUsage != want {
		t.Errorf("KeyUsage = %v, want %v", c.KeyUsage, want)
	}
	if got := c.NotAfter.Sub(c.NotBefore); got < 10*365*24*time.Hour {
		t.Errorf("validity = %s, want at least 10 years", got)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %v is not a positive 128-bit number", c.SerialNumber)
	}
	if len(c.Subject.Organization) != 1 || !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(c.Subject.Organization[0]) {
		t.Fatalf("O = %q, want one 16-hex-digit deployment id", c.Subject.Organization)
	}
	if !strings.HasPrefix(c.Subject.CommonName, "Airlock CA ") || !strings.Contains(c.Subject.CommonName, c.Subject.Organization[0]) {
		t.Errorf("CN = %q, want Airlock CA <id>", c.Subject.CommonName)
	}
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(ca.Fingerprint()) {
		t.Errorf("Fingerprint() = %q", ca.Fingerprint())
	}
}

func TestInitCARefusesExisting(t *testing.T) {
	tests := []struct {
		name     string
		existing string
	}{
		{"both", ""},
		{"cert only", "ca.pem"},
		{"key only", "ca-key.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, dir := newTestCA(t)
			before, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.existing != "" {
				dir = t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, tt.existing), []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err = InitCA(dir)
			if !errors.Is(err, fs.ErrExist) {
				t.Fatalf("second InitCA error = %v, want fs.ErrExist", err)
			}
			if !strings.Contains(err.Error(), "already exists at "+dir) {
				t.Errorf("error %q does not name the existing CA", err)
			}
			if tt.existing == "" {
				after, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
				if string(after) != string(before) {
					t.Error("existing ca.pem was modified")
				}
			} else {
				entries, _ := os.ReadDir(dir)
				if len(entries) != 1 {
					t.Errorf("InitCA left files behind: %v", entries)
				}
			}
		})
	}
}

func TestLoadCARoundTrip(t *testing.T) {
	ca, dir := newTestCA(t)
	got, err := LoadCA(dir)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if !got.Cert.Equal(ca.Cert) {
		t.Error("loaded certificate differs")
	}
	if !got.Key.Equal(ca.Key) {
		t.Error("loaded key differs")
	}
	if got.Fingerprint() != ca.Fingerprint() {
		t.Errorf("Fingerprint = %s, want %s", got.Fingerprint(), ca.Fingerprint())
	}
	if string(got.CertPEM) != string(ca.CertPEM) {
		t.Error("CertPEM differs")
	}
	// A loaded CA must be able to issue.
	if _, err := got.Issue(IssueRequest{Role: RoleAdmin, Name: "alice"}); err != nil {
		t.Errorf("Issue with loaded CA: %v", err)
	}
}

func TestLoadCAErrors(t *testing.T) {
	_, otherDir := newTestCA(t)
	tests := []struct {
		name    string
		mutate  func(t *testing.T, dir string)
		wantErr string
	}{
		{"key 0644", func(t *testing.T, dir string) { chmod(t, filepath.Join(dir, "ca-key.pem"), 0o644) }, "chmod 600"},
		{"key 0640", func(t *testing.T, dir string) { chmod(t, filepath.Join(dir, "ca-key.pem"), 0o640) }, "chmod 600"},
		{"key 0604", func(t *testing.T, dir string) { chmod(t, filepath.Join(dir, "ca-key.pem"), 0o604) }, "chmod 600"},
		{"missing key", func(t *testing.T, dir string) { remove(t, filepath.Join(dir, "ca-key.pem")) }, "ca-key.pem"},
		{"missing cert", func(t *testing.T, dir string) { remove(t, filepath.Join(dir, "ca.pem")) }, "ca.pem"},
		{"mismatched key", func(t *testing.T, dir string) {
			copyFile(t, filepath.Join(otherDir, "ca-key.pem"), filepath.Join(dir, "ca-key.pem"), 0o600)
		}, "does not match"},
		{"garbage cert", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("nope"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "no CERTIFICATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, dir := newTestCA(t)
			tt.mutate(t, dir)
			_, err := LoadCA(dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LoadCA error = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}

func chmod(t *testing.T, path string, mode fs.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string, mode fs.FileMode) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, mode); err != nil {
		t.Fatal(err)
	}
}
