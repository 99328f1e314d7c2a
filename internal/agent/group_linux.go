package agent

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// appGroup starts the app leading a process group of its own, so that
// what it leaves behind can be found and ended with it (endGroup).
func appGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// endGroup kills what is left of process group pgid (the app has
// exited: what remains are its helpers, which keep nothing worth saving)
// and waits, at most within, until no process of it remains; exited ones
// count until they are reaped (by the agent's reaper, as PID 1).
func endGroup(pgid int, within time.Duration) error {
	err := syscall.Kill(-pgid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("kill process group %d: %w", pgid, err)
	}
	for deadline := time.Now().Add(within); ; time.Sleep(10 * time.Millisecond) {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process group %d still has processes %s after it was killed", pgid, within)
		}
	}
}
