package dockertest

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// hostRulesLock is the file every test process that installs this host's
// session network rules locks: their DNS redirect names one resolver port
// for the whole host, so a test with a resolver of its own must not run
// while another test process (go test runs packages in parallel) starts
// nodes that point the redirect at theirs.
const hostRulesLock = "/run/lock/airlock-test-host-rules"

// HoldHostRules takes the host rules, waiting while another test process
// holds them, until release is called.
func HoldHostRules() (release func(), err error) {
	f, err := os.OpenFile(hostRulesLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the host rules: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the host rules (%s): %w", hostRulesLock, err)
	}
	return func() { f.Close() }, nil
}

// LockHostRules holds the host rules for the rest of the test.
func LockHostRules(t testing.TB) {
	t.Helper()
	release, err := HoldHostRules()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
}
