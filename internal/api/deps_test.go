package api

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the Docker SDK out of the api: containers are the
// session service's business (internal/sessions, through the launcher),
// and the api speaks only the domain's types.
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
				t.Errorf("the api imports %s", dep)
			}
		}
	}
}
