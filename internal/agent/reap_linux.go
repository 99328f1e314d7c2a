package agent

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reap collects every exited child, until ctx ends. As PID 1 of a
// container the agent inherits orphans (a browser leaves many), and
// without a waiter they stay zombies and hold the pids limit. Outside a
// container it does nothing unless the process is a child subreaper.
func Reap(ctx context.Context) {
	if os.Getpid() != 1 && !subreaper() {
		return
	}
	sigc := make(chan os.Signal, 8)
	signal.Notify(sigc, syscall.SIGCHLD)
	defer signal.Stop(sigc)
	// SIGCHLD is the prompt path; the ticker catches what a coalesced or
	// missed signal would leave behind.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-sigc:
		case <-tick.C:
		}
	}
}

func subreaper() bool {
	var on int32
	// PR_GET_CHILD_SUBREAPER writes the flag through the pointer.
	err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&on)), 0, 0, 0)
	return err == nil && on != 0
}
