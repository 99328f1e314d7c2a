package agent

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Reap collects every exited child, until ctx ends. As PID 1 of a
// container the agent inherits orphans (a browser leaves many), and
// without a waiter they stay zombies and hold the pids limit.
func Reap(ctx context.Context) {
	if os.Getpid() != 1 {
		return
	}
	sigc := make(chan os.Signal, 8)
	signal.Notify(sigc, syscall.SIGCHLD)
	defer signal.Stop(sigc)
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
		}
	}
}
