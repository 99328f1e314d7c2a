package agent

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Children is the set of processes the agent started itself (the display,
// the app, the encoder) and waits for with exec.Cmd. The reaper leaves
// them alone: a blind wait4(-1) would take their exit status, and their
// owners' Wait would fail with "no child processes".
type Children struct {
	mu    sync.Mutex
	owned map[int]bool
}

// NewChildren returns an empty set.
func NewChildren() *Children { return &Children{owned: map[int]bool{}} }

// Start starts cmd and records it as owned. The lock spans the start, so
// a child that dies at once is recorded before the reaper can look at it.
func (c *Children) Start(cmd *exec.Cmd) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	c.owned[cmd.Process.Pid] = true
	return nil
}

// Wait waits for cmd, which Start started, and forgets it.
func (c *Children) Wait(cmd *exec.Cmd) error {
	err := cmd.Wait()
	c.mu.Lock()
	delete(c.owned, cmd.Process.Pid)
	c.mu.Unlock()
	return err
}

func (c *Children) isOwned(pid int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.owned[pid]
}

// Reap collects every exited child that owned does not own (owned may be
// nil), until ctx ends. As PID 1 of a container the agent inherits
// orphans (a browser leaves many), and without a waiter they stay zombies
// and hold the pids limit. Outside a container it does nothing unless the
// process is a child subreaper.
func Reap(ctx context.Context, owned *Children) {
	if os.Getpid() != 1 && !subreaper() {
		return
	}
	sigc := make(chan os.Signal, 8)
	signal.Notify(sigc, syscall.SIGCHLD)
	defer signal.Stop(sigc)
	// Every exit sends SIGCHLD and every signal starts a full scan, so a
	// signal coalesced with another (or dropped while the channel is
	// full, with a scan still to come) leaves nothing behind; the ticker
	// is only a backstop. It is slow because a scan reads every process's
	// stat in /proc: once a second that was a third of a still session's
	// agent CPU.
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	self := os.Getpid()
	for {
		for _, pid := range childrenOf(self) {
			if owned != nil && owned.isOwned(pid) {
				continue
			}
			var ws syscall.WaitStatus
			// WNOHANG: a child still running is left for a later round.
			_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		}
		select {
		case <-ctx.Done():
			return
		case <-sigc:
		case <-tick.C:
		}
	}
}

// childrenOf lists the processes whose parent is ppid, from /proc. A
// container holds few processes, so a scan per SIGCHLD is cheap.
func childrenOf(ppid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parens,
		// so parse after the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil && pp == ppid {
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out
}

func subreaper() bool {
	var on int32
	// PR_GET_CHILD_SUBREAPER writes the flag through the pointer.
	err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&on)), 0, 0, 0)
	return err == nil && on != 0
}
