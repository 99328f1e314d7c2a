package pki

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteBundle(t *testing.T) {
	ca, _ := newTestCA(t)
	first, err := ca.Issue(IssueRequest{Role: RoleAdmin, Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := ca.Issue(IssueRequest{Role: RoleAdmin, Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	csrOnly := &Bundle{CACertPEM: second.CACertPEM, CertPEM: second.CertPEM, Cert: second.Cert}

	dir := filepath.Join(t.TempDir(), "certs")
	steps := []struct {
		name     string
		bundle   *Bundle
		wantCert []byte
		wantKey  []byte
	}{
		{"create", first, first.CertPEM, first.KeyPEM},
		{"overwrite", second, second.CertPEM, second.KeyPEM},
		{"no key keeps key.pem", csrOnly, second.CertPEM, second.KeyPEM},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := WriteBundle(dir, st.bundle); err != nil {
				t.Fatalf("WriteBundle: %v", err)
			}
			files := []struct {
				name string
				mode fs.FileMode
				want []byte
			}{
				{"ca.pem", 0o644, ca.CertPEM},
				{"cert.pem", 0o644, st.wantCert},
				{"key.pem", 0o600, st.wantKey},
			}
			for _, f := range files {
				p := filepath.Join(dir, f.name)
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != f.mode {
					t.Errorf("%s mode = %v, want %v", f.name, fi.Mode().Perm(), f.mode)
				}
				got, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(f.want) {
					t.Errorf("%s has unexpected contents", f.name)
				}
			}
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o700 {
				t.Errorf("dir mode = %v, want 0700", fi.Mode().Perm())
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 3 {
				t.Errorf("dir holds %d entries, want 3 (temporary files left behind?)", len(entries))
			}
		})
	}

	if err := WriteBundle(dir, &Bundle{}); err == nil {
		t.Error("WriteBundle accepted an empty bundle")
	}
}
