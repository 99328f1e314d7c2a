package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// TestMain holds the host's session network rules for the whole package:
// its tests start nodes (airlock up, airlock provision) that install them
// with the default resolver port, which a test of another package with a
// resolver of its own must not see change under it.
func TestMain(m *testing.M) {
	release := func() {}
	if os.Geteuid() == 0 {
		var err error
		if release, err = dockertest.HoldHostRules(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	release()
	os.Exit(code)
}
