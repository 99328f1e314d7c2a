package pki

import (
	"path/filepath"
	"testing"
)

// newTestCA creates a CA in a fresh temporary directory.
func newTestCA(t *testing.T) (*CA, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := InitCA(dir)
	if err != nil {
		t.Fatalf("InitCA: %v", err)
	}
	return ca, dir
}

// issueTo issues a certificate and writes it as a bundle into a fresh
// directory, returning the directory.
func issueTo(t *testing.T, ca *CA, req IssueRequest) (string, *Bundle) {
	t.Helper()
	b, err := ca.Issue(req)
	if err != nil {
		t.Fatalf("Issue(%+v): %v", req, err)
	}
	dir := filepath.Join(t.TempDir(), "bundle")
	if err := WriteBundle(dir, b); err != nil {
		t.Fatalf("WriteBundle: %v", err)
	}
	return dir, b
}
