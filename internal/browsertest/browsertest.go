// Package browsertest gives tests a real Chromium on this host, the
// browser a user views sessions with, installed by
// scripts/ensure-chromium.sh when it is missing.
package browsertest

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Chromium is the path of the host's Chromium. It runs
// scripts/ensure-chromium.sh first, which installs it when it can (root
// on Debian) and otherwise says what to install; the test fails then.
func Chromium(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("browsertest: cannot find the module's scripts")
	}
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "ensure-chromium.sh")
	if out, err := exec.Command("bash", script).CombinedOutput(); err != nil {
		t.Fatalf("a browser is needed: %v\n%s", err, out)
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH after ensure-chromium.sh")
	return ""
}
