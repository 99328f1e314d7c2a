package lifecycle

import (
	"testing"

	"github.com/airlock-rbi/airlock/internal/depcheck"
)

// TestDeps keeps the Docker SDK out of the lifecycle jobs: containers are
// the launcher's business, reached through the Driver interface, and the
// jobs speak only the domain's types.
func TestDeps(t *testing.T) {
	depcheck.Forbid(t, "the lifecycle jobs", []string{
		"github.com/docker/docker",
		"github.com/moby/moby",
		"github.com/airlock-rbi/airlock/internal/launcher",
	})
}
