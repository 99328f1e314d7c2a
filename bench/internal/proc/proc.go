// Package proc reads what the benchmarks in bench/ measure of a process
// from /proc: its CPU time as the scheduler accounts it, and its memory.
package proc

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU is the CPU time all threads of process pid have run so far, the
// sum of the first field of each /proc/PID/task/TID/schedstat (nanoseconds
// on a CPU, as the scheduler accounts it). It is 0 when it cannot be read.
// Threads that have exited no longer count.
func CPU(pid int) time.Duration {
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

// SelfCPU is the CPU time this process has used so far, user and system.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Comm is the process's command name (/proc/PID/comm, at most 15
// bytes), or "" when it is gone.
func Comm(pid int) string {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(raw))
}

// Mem is a process's memory, in bytes.
type Mem struct {
	// RSS is its resident set (VmRSS): every page it maps that is in
	// memory, shared ones counted in full.
	RSS int64
	// PSS is its proportional set (smaps_rollup Pss): each resident page
	// divided by the number of processes that map it, so that the PSS of
	// a group of processes sums to what the group really holds.
	PSS int64
}

// Memory reads pid's RSS and PSS.
func Memory(pid int) (Mem, error) {
	var m Mem
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	rss, err := field(filepath.Join(dir, "status"), "VmRSS:")
	if err != nil {
		return m, err
	}
	pss, err := field(filepath.Join(dir, "smaps_rollup"), "Pss:")
	if err != nil {
		return m, err
	}
	return Mem{RSS: rss, PSS: pss}, nil
}

// field finds the line starting with name in a /proc file of "name: N kB"
// lines and returns N in bytes.
func field(path, name string) (int64, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %s %w", path, name, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("%s: no %s line", path, name)
}

// PeakRSS reads pid's peak resident set (VmHWM), in bytes.
func PeakRSS(pid int) (int64, error) {
	return field(filepath.Join("/proc", strconv.Itoa(pid), "status"), "VmHWM:")
}

// MemInfo is the machine's memory from /proc/meminfo, in bytes: its total
// and what the kernel estimates can be given to new work without swapping
// (MemAvailable).
func MemInfo() (total, available int64, err error) {
	if total, err = field("/proc/meminfo", "MemTotal:"); err != nil {
		return 0, 0, err
	}
	if available, err = field("/proc/meminfo", "MemAvailable:"); err != nil {
		return 0, 0, err
	}
	return total, available, nil
}
