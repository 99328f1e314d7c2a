package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procCPU is the CPU time all threads of process pid have run so far, the
// sum of the first field of each /proc/PID/task/TID/schedstat (nanoseconds
// on a CPU, as the scheduler accounts it). It is 0 when it cannot be read.
func procCPU(pid int) time.Duration {
	dirs, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "schedstat"))
	if err != nil {
		return 0
	}
	var sum time.Duration
	for _, p := range dirs {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue // the thread exited
		}
		f, _, _ := strings.Cut(string(raw), " ")
		if ns, err := strconv.ParseInt(f, 10, 64); err == nil {
			sum += time.Duration(ns)
		}
	}
	return sum
}

// selfCPU is the CPU time this process has used so far, user and system.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
