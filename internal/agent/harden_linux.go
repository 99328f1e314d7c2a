package agent

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Harden makes the agent's process non-dumpable. The app (Chromium) runs
// beside the agent under the same uid, since a container that must not
// run as root or gain privileges cannot switch uids; what keeps a
// compromised app from reading the agent's credential out of its memory
// (/proc/PID/mem, environ, fds) or tracing it is that the kernel allows
// that only for dumpable processes, or with CAP_SYS_PTRACE, which the
// container never has. Children start dumpable again at exec, so this
// covers the agent alone.
func Harden() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("make the agent non-dumpable: %w", err)
	}
	return nil
}
