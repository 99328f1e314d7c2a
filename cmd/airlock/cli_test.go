package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCLIManagement drives the catalog, accounts and tokens through the
// CLI as an admin and as a user.
func TestCLIManagement(t *testing.T) {
	env := startUp(t)
	env.cli(t, "workspace", "add", "small", "--image", "airlock/minimal:latest", "--memory", "64m", "--cpus", "0.5", "--pids", "32", "--env", "LANG=fr_FR.UTF-8")
	if ls := env.cli(t, "workspace", "ls"); !strings.Contains(ls, "small") || !strings.Contains(ls, "67108864") {
		t.Fatalf("workspace ls: %s", ls)
	}
	// airlock up's default catalog.
	if ls := env.cli(t, "workspace", "ls"); !regexp.MustCompile(`(?m)^chromium +airlock/chromium:latest +standard +2147483648 +chromium +both`).MatchString(ls) ||
		!regexp.MustCompile(`(?m)^minimal +airlock/minimal:latest +standard +67108864 +default +both`).MatchString(ls) {
		t.Fatalf("workspace ls, default catalog: %s", ls)
	}
	env.cli(t, "workspace", "add", "sandboxed-copy", "--image", "airlock/minimal:latest", "--seccomp", "chromium", "--clipboard", "to-container")
	if ls := env.cli(t, "workspace", "ls"); !strings.Contains(ls, "SECCOMP") || !regexp.MustCompile(`sandboxed-copy .* chromium +to-container`).MatchString(ls) {
		t.Fatalf("workspace ls: %s", ls)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"fail/workspace-bad-name", []string{"workspace", "add", "Bad Name", "--image", "x"}, "workspace name"},
		{"fail/workspace-bad-memory", []string{"workspace", "add", "m", "--image", "x", "--memory", "lots"}, "--memory"},
		{"fail/workspace-duplicate", []string{"workspace", "add", "small", "--image", "x"}, "already exists"},
		{"fail/workspace-bad-env", []string{"workspace", "add", "e", "--image", "x", "--env", "NOEQUALS"}, "KEY=VALUE"},
		{"fail/workspace-unknown-seccomp", []string{"workspace", "add", "s", "--image", "x", "--seccomp", "firefox"}, "known profiles: chromium"},
		{"fail/workspace-bad-clipboard", []string{"workspace", "add", "c", "--image", "x", "--clipboard", "sometimes"}, "off, to-container, from-container, both"},
		{"fail/user-weak-password", []string{"user", "add", "weak"}, "password"},
		{"fail/token-bad-ttl", []string{"token", "create", "t1", "--ttl", "forever"}, "ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "fail/user-weak-password" {
				t.Setenv("AIRLOCK_NEW_PASSWORD", "short")
			}
			out, code := env.try(tc.args...)
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("airlock %v: exit %d, output %q; want an error mentioning %q", tc.args, code, out, tc.want)
			}
		})
	}

	t.Setenv("AIRLOCK_NEW_PASSWORD", "alice's long password")
	env.cli(t, "user", "add", "alice")
	if ls := env.cli(t, "user", "ls"); !strings.Contains(ls, "alice") || !strings.Contains(ls, "user") {
		t.Fatalf("user ls: %s", ls)
	}
	secret := env.cli(t, "token", "create", "ci", "--ttl", "24h")
	if !strings.HasPrefix(secret, "alk_") {
		t.Fatalf("token create printed %q", secret)
	}
	ls := env.cli(t, "token", "ls")
	if !strings.Contains(ls, "ci") || strings.Contains(ls, secret) {
		t.Fatalf("token ls shows %q (the secret must not appear)", ls)
	}
	id := strings.Split(secret, "_")[1]
	env.cli(t, "token", "revoke", id)
	if ls := env.cli(t, "token", "ls"); !strings.Contains(ls, "revoked") {
		t.Fatalf("token ls after revoke: %s", ls)
	}

	// Alice sees only her own sessions and cannot manage the catalog.
	adminSession := env.cli(t, "session", "create", "small", "--wait")
	t.Setenv("AIRLOCK_CONFIG", filepath.Join(t.TempDir(), "alice.json"))
	t.Setenv("AIRLOCK_PASSWORD", "alice's long password")
	env.cli(t, "login", "--server", env.server, "--user", "alice", "--ca-cert", filepath.Join(env.data, "ca.pem"))
	if out, code := env.try("session", "show", adminSession); code == 0 || !strings.Contains(out, "not found") {
		t.Fatalf("alice sees the admin's session: %s", out)
	}
	if out, code := env.try("workspace", "add", "mine", "--image", "x"); code == 0 || !strings.Contains(out, "admin role") {
		t.Fatalf("alice added a workspace: %s", out)
	}
	mine := env.cli(t, "session", "create", "small", "--wait")
	if ls := env.cli(t, "session", "ls"); !strings.Contains(ls, mine) || strings.Contains(ls, adminSession) {
		t.Fatalf("alice's session ls: %s", ls)
	}
	env.cli(t, "session", "rm", mine)
}

// TestCLIPassword: a user changes their own password with `user passwd`
// and an admin resets it with `user reset`, the passwords given as the
// CLI takes them elsewhere (environment or stdin).
func TestCLIPassword(t *testing.T) {
	env := startUp(t)
	adminCfg := os.Getenv("AIRLOCK_CONFIG")
	t.Setenv("AIRLOCK_NEW_PASSWORD", "bob's first password")
	env.cli(t, "user", "add", "bob")
	bobCfg := filepath.Join(t.TempDir(), "bob.json")
	login := func(password string) (string, int) {
		t.Setenv("AIRLOCK_CONFIG", bobCfg)
		t.Setenv("AIRLOCK_PASSWORD", password)
		return env.try("login", "--server", env.server, "--user", "bob", "--ca-cert", filepath.Join(env.data, "ca.pem"))
	}
	asAdmin := func() { t.Setenv("AIRLOCK_CONFIG", adminCfg) }
	if out, code := login("bob's first password"); code != 0 {
		t.Fatalf("bob's login: %s", out)
	}
	for _, tc := range []struct {
		name     string
		admin    bool
		args     []string
		current  string // AIRLOCK_PASSWORD
		new      string // AIRLOCK_NEW_PASSWORD
		want     string // in the output
		fails    bool
		password string // bob's password after
	}{
		{name: "fail/passwd-wrong-current", args: []string{"user", "passwd"}, current: "not bob's", new: "bob's second password",
			want: "the current password is wrong", fails: true, password: "bob's first password"},
		{name: "fail/passwd-too-short", args: []string{"user", "passwd"}, current: "bob's first password", new: "short",
			want: "shorter than 8 bytes", fails: true, password: "bob's first password"},
		{name: "fail/passwd-extra-arg", args: []string{"user", "passwd", "alice"}, current: "bob's first password", new: "bob's second password",
			want: "usage: airlock user passwd", fails: true, password: "bob's first password"},
		{name: "ok/passwd", args: []string{"user", "passwd"}, current: "bob's first password", new: "bob's second password",
			want: "password changed", password: "bob's second password"},
		{name: "fail/reset-as-user", args: []string{"user", "reset", "admin"}, new: "taken over admin", want: "admin role", fails: true, password: "bob's second password"},
		{name: "fail/reset-unknown", admin: true, args: []string{"user", "reset", "nobody"}, new: "whatever long", want: `user "nobody" not found`, fails: true, password: "bob's second password"},
		{name: "fail/reset-no-name", admin: true, args: []string{"user", "reset"}, new: "whatever long", want: "usage: airlock user reset NAME", fails: true, password: "bob's second password"},
		{name: "ok/reset", admin: true, args: []string{"user", "reset", "bob"}, new: "bob's reset password", want: "password of bob reset", password: "bob's reset password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AIRLOCK_CONFIG", bobCfg)
			if tc.admin {
				asAdmin()
			}
			t.Setenv("AIRLOCK_PASSWORD", tc.current)
			t.Setenv("AIRLOCK_NEW_PASSWORD", tc.new)
			out, code := env.try(tc.args...)
			if (code != 0) != tc.fails || !strings.Contains(out, tc.want) {
				t.Fatalf("airlock %v: exit %d, output %q; want fails=%v and %q", tc.args, code, out, tc.fails, tc.want)
			}
			if out, code := login(tc.password); code != 0 {
				t.Fatalf("bob cannot log in with %q after: %s", tc.password, out)
			}
		})
	}
}

// TestCLIWorkspaceEgress sets, shows, replaces and clears a hardened
// workspace's egress policy through the CLI, and checks that malformed
// rules and policies are refused with what was wrong.
func TestCLIWorkspaceEgress(t *testing.T) {
	env := startUp(t)
	rules := func(name string) string {
		t.Helper()
		var w struct {
			Egress *struct {
				Rules []map[string]any `json:"rules"`
			} `json:"egress"`
		}
		out := env.cli(t, "workspace", "show", name)
		if err := json.Unmarshal([]byte(out), &w); err != nil {
			t.Fatalf("workspace show %s: %v: %s", name, err, out)
		}
		if w.Egress == nil {
			return "none"
		}
		b, err := json.Marshal(w.Egress.Rules)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	env.cli(t, "workspace", "add", "hw", "--image", "airlock/minimal:latest", "--isolation", "hardened",
		"--allow", "*.example.com:443,8443", "--allow", "[2001:db8::/32]:443", "--deny", "10.0.0.0/8", "--deny", "*")
	if got, want := rules("hw"), `[{"action":"allow","domain":"*.example.com","ports":[443,8443]},{"action":"allow","cidr":"2001:db8::/32","ports":[443]},`+
		`{"action":"deny","cidr":"10.0.0.0/8"},{"action":"deny","domain":"*"}]`; got != want {
		t.Fatalf("rules after add:\n got %s\nwant %s", got, want)
	}
	if ls := env.cli(t, "workspace", "ls"); !regexp.MustCompile(`(?m)^hw +airlock/minimal:latest +hardened .* 4 rules$`).MatchString(ls) ||
		!regexp.MustCompile(`(?m)^minimal .* -$`).MatchString(ls) {
		t.Fatalf("workspace ls: %s", ls)
	}

	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	yamlFile := write("egress.yaml", "rules:\n  - action: allow\n    cidr: 10.1.0.0/16\n    ports: [22]\n  - action: deny\n    domain: \"*.ads.example\"\n")
	env.cli(t, "workspace", "update", "hw", "--egress-file", yamlFile)
	if got, want := rules("hw"), `[{"action":"allow","cidr":"10.1.0.0/16","ports":[22]},{"action":"deny","domain":"*.ads.example"}]`; got != want {
		t.Fatalf("rules after --egress-file:\n got %s\nwant %s", got, want)
	}
	// An update of something else keeps the policy.
	env.cli(t, "workspace", "update", "hw", "--memory", "128m")
	if got := rules("hw"); !strings.Contains(got, "10.1.0.0/16") {
		t.Fatalf("rules after --memory: %s", got)
	}
	jsonFile := write("egress.json", `{"rules":[{"action":"deny","cidr":"192.0.2.0/24"}]}`)
	env.cli(t, "workspace", "update", "hw", "--egress-file", jsonFile)
	if got, want := rules("hw"), `[{"action":"deny","cidr":"192.0.2.0/24"}]`; got != want {
		t.Fatalf("rules after a JSON file: %s", got)
	}
	env.cli(t, "workspace", "update", "hw", "--clear-egress")
	if got := rules("hw"); got != "[]" {
		t.Fatalf("rules after --clear-egress: %s", got)
	}
	if ls := env.cli(t, "workspace", "ls"); !regexp.MustCompile(`(?m)^hw .* default$`).MatchString(ls) {
		t.Fatalf("workspace ls after --clear-egress: %s", ls)
	}

	badRule := write("bad.yaml", "rules:\n  - action: allow\n    domain: a.example\n  - action: allow\n    cidr: 10.1.2.3/16\n")
	starFile := write("star.yaml", "rules:\n  - action: deny\n    domain: *\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"fail/standard-with-rules", []string{"workspace", "add", "sw", "--image", "x", "--allow", "example.com"}, "egress policies need isolation hardened or sandboxed"},
		{"fail/update-to-standard", []string{"workspace", "update", "hw", "--isolation", "standard", "--deny", "*"}, "egress policies need isolation hardened or sandboxed"},
		{"fail/bad-port", []string{"workspace", "add", "bp", "--image", "x", "--isolation", "hardened", "--allow", "example.com:https"}, `port "https" is not a number from 1 to 65535`},
		{"fail/bad-cidr", []string{"workspace", "update", "hw", "--deny", "10.1.2.3/8"}, "did you mean 10.0.0.0/8"},
		{"fail/ipv6-ports-unbracketed", []string{"workspace", "update", "hw", "--deny", "2001:db8::/32:443"}, "[2001:db8::/32]:443"},
		{"fail/file-bad-rule", []string{"workspace", "update", "hw", "--egress-file", badRule}, "egress policy rules[1]"},
		{"fail/file-unquoted-star", []string{"workspace", "update", "hw", "--egress-file", starFile}, `quote domains like "*.example.com"`},
		{"fail/file-missing", []string{"workspace", "update", "hw", "--egress-file", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		{"fail/file-and-flags", []string{"workspace", "update", "hw", "--egress-file", yamlFile, "--allow", "example.com"}, "give one of them"},
		{"fail/clear-and-flags", []string{"workspace", "update", "hw", "--clear-egress", "--deny", "*"}, "give one of them"},
		{"fail/update-nothing", []string{"workspace", "update", "hw"}, "no change given"},
		{"fail/update-unknown", []string{"workspace", "update", "nope", "--deny", "*"}, `workspace "nope" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := env.try(tc.args...)
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("airlock %v: exit %d, output %q; want an error mentioning %q", tc.args, code, out, tc.want)
			}
		})
	}
	if got := rules("hw"); got != "[]" {
		t.Fatalf("a refused update changed the policy: %s", got)
	}
}
