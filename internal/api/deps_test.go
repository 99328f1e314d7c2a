package api

import (
	"testing"

	"github.com/airlock-rbi/airlock/internal/depcheck"
)

// TestDeps keeps the Docker SDK out of the api: containers are the
// session service's business (internal/sessions, through the launcher),
// and the api speaks only the domain's types.
func TestDeps(t *testing.T) {
	depcheck.Forbid(t, "the api", []string{
		"github.com/docker/docker",
		"github.com/moby/moby",
		"github.com/airlock-rbi/airlock/internal/launcher",
	})
}
