package agent

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReapOrphans makes this process a child subreaper (as PID 1 of a
// container is), orphans a grandchild to it and checks that Reap collects
// the grandchild instead of leaving a zombie.
func TestReapOrphans(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("become a subreaper: %v", err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Reap(ctx, nil); close(done) }()
	defer func() { cancel(); <-done }()

	// sh starts sleep in the background, prints its pid and exits: the
	// sleep is orphaned to us.
	cmd := exec.Command("sh", "-c", "sleep 0.2 & echo $!")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // Reap may collect sh first: its status is not the point
	deadline := time.Now().Add(10 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return // gone: reaped
		}
		if time.Now().After(deadline) {
			t.Fatalf("orphan %d not reaped: %s", pid, stat)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReapLeavesOwnedChildren checks that a child started through
// Children keeps its exit status for its own Wait while the reaper runs.
func TestReapLeavesOwnedChildren(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("become a subreaper: %v", err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	owned := NewChildren()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Reap(ctx, owned); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range 20 {
		cmd := exec.Command("sh", "-c", "exit 3")
		if err := owned.Start(cmd); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i%3) * 20 * time.Millisecond) // let the reaper see the zombie
		err := owned.Wait(cmd)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("run %d: Wait = %v, want exit status 3", i, err)
		}
	}
}
