package dockertest

import (
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// ListenInNetns opens a TCP listener on addr inside the network namespace
// at nsPath (/var/run/netns/NAME): a socket belongs to the namespace it was
// made in, whichever thread uses it later, so only the thread that makes
// it switches (locked, and switched back before it is unlocked). Tests and
// benchmarks use it to put a target at an address routed into a namespace
// of their own.
func ListenInNetns(nsPath, addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// If switching back fails the thread stays locked and dies with
		// this goroutine, so no other goroutine runs in the namespace.
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer orig.Close()
		target, err := os.Open(nsPath)
		if err != nil {
			res <- result{err: err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			res <- result{err: fmt.Errorf("setns %s: %w", nsPath, err)}
			return
		}
		ln, lerr := net.Listen("tcp4", addr)
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			if ln != nil {
				ln.Close()
			}
			res <- result{err: fmt.Errorf("back to the host namespace: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		res <- result{ln, lerr}
	}()
	r := <-res
	if r.err != nil {
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, nsPath, r.err)
	}
	return r.ln, nil
}
