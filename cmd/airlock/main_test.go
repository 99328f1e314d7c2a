package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func TestCACommands(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"ok/init", []string{"ca", "init", "--data", data}, 0, "fingerprint sha256:"},
		{"fail/init-again", []string{"ca", "init", "--data", data}, 1, "exist"},
		{"ok/issue-admin", []string{"ca", "issue", "--data", data, "--role", "admin", "--name", "alice", "--out", filepath.Join(dir, "alice")}, 0, "issued admin certificate"},
		{"ok/issue-provision-ttl", []string{"ca", "issue", "--data", data, "--role", "provision", "--name", "10.1.2.3", "--host", "node1", "--ttl", "2h", "--out", filepath.Join(dir, "node")}, 0, "issued provision"},
		{"fail/issue-bad-role", []string{"ca", "issue", "--data", data, "--role", "root", "--name", "x", "--out", filepath.Join(dir, "x")}, 1, "role"},
		{"fail/issue-missing-flags", []string{"ca", "issue", "--data", data, "--role", "admin"}, 2, "required"},
		{"fail/issue-no-ca", []string{"ca", "issue", "--data", filepath.Join(dir, "none"), "--role", "admin", "--name", "x", "--out", filepath.Join(dir, "y")}, 1, ""},
		{"fail/unknown-command", []string{"frobnicate"}, 2, "unknown command"},
		{"fail/stray-argument", []string{"ca", "init", "--data", data, "extra"}, 2, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code := Run(context.Background(), tc.args, &out, &out)
			if code != tc.code || !strings.Contains(out.String(), tc.out) {
				t.Fatalf("exit %d, output %q; want exit %d containing %q", code, out.String(), tc.code, tc.out)
			}
		})
	}
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, "alice", f)); err != nil {
			t.Errorf("issued bundle lacks %s: %v", f, err)
		}
	}
	if st, err := os.Stat(filepath.Join(data, "ca-key.pem")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("CA key mode: %v %v", st, err)
	}
}

// lineWaiter is an io.Writer that reports the first match of re.
type lineWaiter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	re    *regexp.Regexp
	found chan string
	once  sync.Once
}

func (w *lineWaiter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if m := w.re.FindStringSubmatch(w.buf.String()); m != nil {
		w.once.Do(func() { w.found <- m[1] })
	}
	return len(p), nil
}
