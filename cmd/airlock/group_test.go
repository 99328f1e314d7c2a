package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestCLIGroups manages groups, their grants, policies and members
// through the CLI, and reads a user's effective policy with its sources.
func TestCLIGroups(t *testing.T) {
	env := startServerInProcess(t)
	env.cli(t, "workspace", "add", "web", "--image", "airlock/chromium:latest")
	env.cli(t, "workspace", "add", "docs", "--image", "airlock/chromium:latest")
	t.Setenv("AIRLOCK_NEW_PASSWORD", "alice's long password")
	env.cli(t, "user", "add", "alice")

	env.cli(t, "group", "create", "staff", "--priority", "10", "--grant", "web", "--idle", "1h", "--max-sessions", "2",
		"--rule", "web:clipboard=off", "--downloads", "block", "--idp-groups", "Staff, cn=staff")
	env.cli(t, "group", "add", "staff", "alice")
	ls := env.cli(t, "group", "ls")
	if !regexp.MustCompile(`(?m)^staff +10 +1 +web \(clipboard off\) +max-sessions 2 · idle 1h · downloads blocked`).MatchString(ls) ||
		!regexp.MustCompile(`(?m)^everyone +1000000 +2 +all +-`).MatchString(ls) {
		t.Fatalf("group ls:\n%s", ls)
	}
	show := env.cli(t, "group", "show", "staff")
	if !strings.Contains(show, "idp groups:  Staff, cn=staff") || !regexp.MustCompile(`alice +local`).MatchString(show) {
		t.Fatalf("group show:\n%s", show)
	}
	pol := env.cli(t, "user", "policy", "alice", "--workspace", "web")
	for _, want := range []string{"groups staff, everyone; at most 2 sessions", "clipboard", "group staff, for workspace web", "1h"} {
		if !strings.Contains(pol, want) {
			t.Fatalf("user policy lacks %q:\n%s", want, pol)
		}
	}
	if !regexp.MustCompile(`web +downloads +blocked +group staff`).MatchString(pol) {
		t.Fatalf("user policy, downloads:\n%s", pol)
	}

	// everyone no longer grants all: docs is granted to nobody, web to
	// staff alone.
	env.cli(t, "group", "set", "everyone", "--all-workspaces", "no")
	pol = env.cli(t, "user", "policy", "alice")
	if !regexp.MustCompile(`docs +- +not granted`).MatchString(pol) {
		t.Fatalf("user policy after everyone was narrowed:\n%s", pol)
	}
	// set keeps what no flag names: the rule for web stays; the
	// downloads field goes.
	env.cli(t, "group", "set", "staff", "--grant", "docs", "--downloads", "none")
	ls = env.cli(t, "group", "ls")
	if !regexp.MustCompile(`(?m)^staff +10 +1 +docs, web \(clipboard off\) +max-sessions 2 · idle 1h$`).MatchString(ls) {
		t.Fatalf("group ls after set:\n%s", ls)
	}
	env.cli(t, "group", "remove", "staff", "alice")

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"fail/unknown-workspace", []string{"group", "create", "x", "--grant", "nope"}, `grants workspace "nope", which does not exist`},
		{"fail/bad-downloads", []string{"group", "create", "x", "--downloads", "maybe"}, "give allow, block or none"},
		{"fail/bad-idle", []string{"group", "create", "x", "--idle", "soon"}, "--idle"},
		{"fail/bad-rule", []string{"group", "create", "x", "--rule", "web"}, "WORKSPACE:key=value"},
		{"fail/bad-rule-key", []string{"group", "create", "x", "--rule", "web:colour=red"}, `no key "colour"`},
		{"fail/bad-clipboard", []string{"group", "create", "x", "--clipboard", "sideways"}, `clipboard "sideways"`},
		{"fail/rm-everyone", []string{"group", "rm", "everyone"}, "built in"},
		{"fail/member-of-everyone", []string{"group", "add", "everyone", "alice"}, "takes no members"},
		{"fail/not-a-member", []string{"group", "remove", "staff", "alice"}, "not a member"},
		{"fail/ungrant-not-granted", []string{"group", "set", "staff", "--ungrant", "nope"}, "does not grant it one by one"},
		{"fail/unknown-group", []string{"group", "show", "nope"}, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := env.try(tc.args...)
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("airlock %v: exit %d, output %q; want an error mentioning %q", tc.args, code, out, tc.want)
			}
		})
	}
	env.cli(t, "group", "rm", "staff")
	if ls := env.cli(t, "group", "ls"); strings.Contains(ls, "staff") {
		t.Fatalf("group ls after rm:\n%s", ls)
	}
}
