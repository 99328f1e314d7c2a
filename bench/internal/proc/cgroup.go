package proc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Cgroup is the CPU accounting cgroup of a process, such as a container's
// (v1: the cpuacct hierarchy; v2: the unified one).
type Cgroup struct {
	Dir string
	v2  bool
}

// CgroupOf finds pid's CPU accounting cgroup from /proc/PID/cgroup.
func CgroupOf(pid int) (Cgroup, error) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return Cgroup{}, fmt.Errorf("cgroup of process %d: %w", pid, err)
	}
	for line := range strings.Lines(string(raw)) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
				return Cgroup{Dir: filepath.Join("/sys/fs/cgroup", parts[2]), v2: true}, nil
			}
			continue
		}
		if !slices.Contains(strings.Split(parts[1], ","), "cpuacct") {
			continue
		}
		for _, mount := range []string{parts[1], "cpuacct", "cpu,cpuacct"} {
			dir := filepath.Join("/sys/fs/cgroup", mount, parts[2])
			if _, err := os.Stat(filepath.Join(dir, "cpuacct.usage")); err == nil {
				return Cgroup{Dir: dir}, nil
			}
		}
	}
	return Cgroup{}, fmt.Errorf("cgroup of process %d: no cpuacct or unified cgroup found in:\n%s", pid, raw)
}

// PIDs lists the processes in the cgroup (not in its children).
func (c Cgroup) PIDs() ([]int, error) {
	raw, err := os.ReadFile(filepath.Join(c.Dir, "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("processes of cgroup %s: %w", c.Dir, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(raw)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		return nil, errors.New("cgroup " + c.Dir + " has no processes")
	}
	return pids, nil
}

// CPU is the CPU time every process of the cgroup has used so far,
// those that have exited included.
func (c Cgroup) CPU() (time.Duration, error) {
	if !c.v2 {
		raw, err := os.ReadFile(filepath.Join(c.Dir, "cpuacct.usage"))
		if err != nil {
			return 0, err
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s/cpuacct.usage: %w", c.Dir, err)
		}
		return time.Duration(ns), nil
	}
	raw, err := os.ReadFile(filepath.Join(c.Dir, "cpu.stat"))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(raw)) {
		if rest, ok := strings.CutPrefix(line, "usage_usec "); ok {
			us, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s/cpu.stat: %w", c.Dir, err)
			}
			return time.Duration(us) * time.Microsecond, nil
		}
	}
	return 0, fmt.Errorf("%s/cpu.stat: no usage_usec", c.Dir)
}

// Busy is the CPU time the whole machine has spent not idle so far (all
// CPUs, from /proc/stat: everything but idle and iowait).
func Busy() (time.Duration, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: no cpu line")
	}
	var busy int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / time.Duration(userHZ), nil
}

// userHZ is the unit of /proc/stat's times: USER_HZ, 100 on Linux.
const userHZ = 100

// Children lists the descendants of pid (not pid itself), from the
// parent of every process in /proc.
func Children(pid int) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	parent := map[int]int{}
	for _, p := range dirs {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// "pid (comm) state ppid …": comm may hold spaces and parentheses.
		s := string(raw)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		child, err1 := strconv.Atoi(strings.Fields(s)[0])
		ppid, err2 := strconv.Atoi(f[1])
		if err1 == nil && err2 == nil {
			parent[child] = ppid
		}
	}
	var out []int
	for child := range parent {
		for p := parent[child]; p != 0; p = parent[p] {
			if p == pid {
				out = append(out, child)
				break
			}
			if _, ok := parent[p]; !ok {
				break
			}
		}
	}
	slices.Sort(out)
	return out
}
