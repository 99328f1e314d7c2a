package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startServerInProcess runs `airlock server` (no provision node, no
// Docker) in this process on loopback and signs the CLI in as admin.
func startServerInProcess(t *testing.T) *upEnv {
	t.Helper()
	data := t.TempDir()
	t.Setenv("AIRLOCK_ADMIN_PASSWORD", "correct horse battery")
	t.Setenv("AIRLOCK_PASSWORD", "correct horse battery")
	t.Setenv("AIRLOCK_CONFIG", filepath.Join(t.TempDir(), "config.json"))
	ctx, cancel := context.WithCancel(context.Background())
	errOut := &lineWaiter{re: listeningRE, found: make(chan string, 1)}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"server", "--data", data, "--listen", "127.0.0.1:0", "--metrics-listen", "",
			"--turn-listen=", "--agent-url", "https://127.0.0.1:9"}, &bytes.Buffer{}, errOut)
	}()
	env := &upEnv{data: data}
	select {
	case addr := <-errOut.found:
		env.server = "https://" + addr
	case code := <-done:
		t.Fatalf("airlock server exited %d: %s", code, errOut.text())
	case <-time.After(60 * time.Second):
		t.Fatalf("airlock server did not listen: %s", errOut.text())
	}
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("airlock server exited %d: %s", code, errOut.text())
		}
	})
	env.cli(t, "login", "--server", env.server, "--user", "admin", "--ca-cert", filepath.Join(data, "ca.pem"))
	return env
}

// TestCLIAudit lists, exports and verifies the audit log through the CLI,
// and checks exports offline, tampered ones included.
func TestCLIAudit(t *testing.T) {
	env := startServerInProcess(t)
	// Something to record: a failed sign-in and a user.
	if out, code := env.try("login", "--server", env.server, "--user", "nobody", "--ca-cert", filepath.Join(env.data, "ca.pem")); code == 0 {
		t.Fatalf("sign-in as nobody worked: %s", out)
	}
	t.Setenv("AIRLOCK_NEW_PASSWORD", "bob's long password")
	env.cli(t, "user", "add", "bob")

	ls := env.cli(t, "audit", "ls")
	for _, want := range []string{"ACTION", "auth.login", "user.create", "failure", "127.0.0.1"} {
		if !strings.Contains(ls, want) {
			t.Fatalf("audit ls lacks %q:\n%s", want, ls)
		}
	}
	if ls := env.cli(t, "audit", "ls", "--action", "user.", "--since", "1h"); !strings.Contains(ls, "user.create") || strings.Contains(ls, "auth.login") {
		t.Fatalf("audit ls --action user.:\n%s", ls)
	}
	if ls := env.cli(t, "audit", "ls", "--outcome", "failure"); !regexp.MustCompile(`auth\.login +nobody +failure`).MatchString(ls) {
		t.Fatalf("audit ls --outcome failure:\n%s", ls)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad-since", []string{"audit", "ls", "--since", "yesterday"}, "--since"},
		{"bad-outcome", []string{"audit", "ls", "--outcome", "maybe"}, "outcome"},
		{"bad-limit", []string{"audit", "ls", "--limit", "5000"}, "limit"},
		{"partial-needs-file", []string{"audit", "verify", "--partial"}, "--partial goes with --file"},
		{"missing-file", []string{"audit", "verify", "--file", filepath.Join(t.TempDir(), "none.jsonl")}, "no such file"},
	} {
		t.Run("fail/"+tc.name, func(t *testing.T) {
			if out, code := env.try(tc.args...); code == 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("airlock %v: exit %d %q; want an error mentioning %q", tc.args, code, out, tc.want)
			}
		})
	}

	if out := env.cli(t, "audit", "verify"); !strings.Contains(out, "audit chain intact") {
		t.Fatalf("audit verify: %s", out)
	}
	dir := t.TempDir()
	full := filepath.Join(dir, "audit.jsonl")
	env.cli(t, "audit", "export", "--out", full)
	filtered := filepath.Join(dir, "users.jsonl")
	env.cli(t, "audit", "export", "--action", "user.", "--out", filtered)

	raw, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSpace(string(raw)), "\n")
	if len(lines) < 4 {
		t.Fatalf("export has %d lines:\n%s", len(lines), raw)
	}
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rewritten := strings.Replace(string(raw), `"actor":"bob"`, `"actor":"eve"`, 1)
	if rewritten == string(raw) {
		rewritten = strings.Replace(string(raw), `"target":"bob"`, `"target":"eve"`, 1)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"ok/full", []string{"--file", full}, 0, "audit chain intact"},
		{"ok/filtered-partial", []string{"--file", filtered, "--partial"}, 0, "audit chain intact"},
		{"fail/filtered-whole", []string{"--file", filtered}, 1, "BROKEN"},
		{"fail/rewritten", []string{"--file", write("rewritten.jsonl", rewritten)}, 1, "(hash)"},
		{"fail/line-removed", []string{"--file", write("cut.jsonl", lines[0]+strings.Join(lines[2:], ""))}, 1, "BROKEN at record 3 (id_gap)"},
		{"fail/garbage", []string{"--file", write("garbage.jsonl", lines[0]+"not json\n")}, 1, "line 2: not a JSON audit record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := env.try(append([]string{"audit", "verify"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("audit verify %v: exit %d %q; want exit %d mentioning %q", tc.args, code, out, tc.code, tc.want)
			}
		})
	}
	// Offline means offline: no config, no server.
	t.Setenv("AIRLOCK_CONFIG", filepath.Join(t.TempDir(), "none.json"))
	if out, code := env.try("audit", "verify", "--file", full); code != 0 {
		t.Fatalf("offline verify needs the server: %s", out)
	}
}
