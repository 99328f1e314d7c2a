package lifecycle

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the Docker SDK out of the lifecycle jobs: containers are
// the launcher's business, reached through the Driver interface, and the
// jobs speak only the domain's types.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	banned := []string{
		"github.com/docker/docker",
		"github.com/moby/moby",
		"github.com/airlock-rbi/airlock/internal/launcher",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, b := range banned {
			if dep == b || strings.HasPrefix(dep, b+"/") {
				t.Errorf("the lifecycle jobs import %s", dep)
			}
		}
	}
}
