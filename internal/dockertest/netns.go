package dockertest

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// ListenInNetns opens a TCP listener on addr inside the network namespace
// at nsPath (/var/run/netns/NAME). Tests and benchmarks use it to put a
// target at an address routed into a namespace of their own.
func ListenInNetns(nsPath, addr string) (net.Listener, error) {
	var ln net.Listener
	err := inNetns(nsPath, func() (err error) {
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, nsPath, err)
	}
	return ln, nil
}

// DialInNetns opens a TCP connection to addr from inside the network
// namespace at nsPath: a test on the host reaches a port that a process
// in the namespace opened on its own loopback (a browser's DevTools).
func DialInNetns(ctx context.Context, nsPath, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNetns(nsPath, func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp4", addr)
		return err
	})
	if err != nil {
		if c != nil {
			c.Close()
		}
		return nil, fmt.Errorf("dial %s in %s: %w", addr, nsPath, err)
	}
	return c, nil
}

// inNetns runs f on a thread switched into the namespace at nsPath. A
// socket belongs to the namespace it was made in, whichever thread uses
// it later, so only the thread that makes it switches (locked, and
// switched back before it is unlocked).
func inNetns(nsPath string, f func() error) error {
	res := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// If switching back fails the thread stays locked and dies with
		// this goroutine, so no other goroutine runs in the namespace.
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			res <- err
			return
		}
		defer orig.Close()
		target, err := os.Open(nsPath)
		if err != nil {
			res <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			res <- fmt.Errorf("setns %s: %w", nsPath, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			res <- fmt.Errorf("back to the host namespace: %w (and %v)", err, ferr)
			return
		}
		runtime.UnlockOSThread()
		res <- ferr
	}()
	return <-res
}
