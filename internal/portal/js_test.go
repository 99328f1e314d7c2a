package portal

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// nodeDir copies the embedded JS modules into a temporary directory that
// node treats as ES modules, and returns it; it skips the test without
// node.
func nodeDir(t *testing.T) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: the JavaScript is not checked")
	}
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"type":"module"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range staticFiles(t) {
		if filepath.Ext(p) != ".js" {
			continue
		}
		b, err := static.ReadFile("static" + p)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return node, dir
}

func TestJSSyntax(t *testing.T) {
	node, dir := nodeDir(t)
	for _, p := range staticFiles(t) {
		if filepath.Ext(p) != ".js" {
			continue
		}
		out, err := exec.Command(node, "--check", filepath.Join(dir, filepath.FromSlash(p))).CombinedOutput()
		if err != nil {
			t.Errorf("node --check %s: %v\n%s", p, err, strings.TrimSpace(string(out)))
		}
	}
}

// TestJSUnits runs testdata/units.test.mjs, which checks the viewer's
// pure functions (pointer mapping, wheel units, stats) in node.
func TestJSUnits(t *testing.T) {
	node, dir := nodeDir(t)
	src, err := os.ReadFile(filepath.Join("testdata", "units.test.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "js", "units.test.mjs")
	if err := os.WriteFile(script, src, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", filepath.Base(script), err, out)
	}
	t.Logf("%s", out)
}
