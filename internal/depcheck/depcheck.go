// Package depcheck keeps packages from importing what they must not: a
// test names the package and the import paths it forbids, and fails on
// each one found among the package's dependencies, as `go list -deps`
// sees them.
package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

// Forbid fails t for each dependency of the package in the current
// directory that is one of banned or below one, unless allowed names it.
func Forbid(t testing.TB, what string, banned []string, allowed ...string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	for _, dep := range strings.Fields(string(out)) {
		if ok[dep] {
			continue
		}
		for _, b := range banned {
			if dep == b || strings.HasPrefix(dep, b+"/") {
				t.Errorf("%s imports %s", what, dep)
			}
		}
	}
}
