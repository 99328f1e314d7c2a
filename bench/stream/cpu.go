package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/proc"
)

// Process groups of a session's container.
const (
	groupAgent    = "agent"    // the container's init process: /airlock agent
	groupEncoder  = "encoder"  // airlock-encoder
	groupAudio    = "audio"    // airlock-audio, the Opus encoder
	groupSound    = "sound"    // pulseaudio, the session's sound server
	groupDisplay  = "display"  // Xvfb
	groupChromium = "chromium" // chromium and chrome_crashpad_handler
	groupOther    = "other"    // xclip, xrandr, …
	groupAll      = "container"
)

// classify names the group of a process of a container whose init
// process is initPID.
func classify(pid, initPID int) string {
	if pid == initPID {
		return groupAgent
	}
	comm := proc.Comm(pid)
	switch {
	case comm == "airlock-encoder":
		return groupEncoder
	case comm == "airlock-audio":
		return groupAudio
	case comm == "pulseaudio":
		return groupSound
	case comm == "Xvfb":
		return groupDisplay
	case strings.HasPrefix(comm, "chrom"), strings.HasPrefix(comm, "chrome"):
		return groupChromium
	}
	return groupOther
}

// cpuSnap is the CPU time used so far by each process of a cgroup (the
// sum over its live threads' schedstat), and by the cgroup as a whole.
type cpuSnap struct {
	at     time.Time
	procs  map[int]procCPU
	cgroup time.Duration
}

type procCPU struct {
	group string
	cpu   time.Duration
}

// snapCgroup reads the CPU time of every process in the cgroup of
// initPID, grouped by classify.
func snapCgroup(initPID int) (cpuSnap, error) {
	cg, err := proc.CgroupOf(initPID)
	if err != nil {
		return cpuSnap{}, err
	}
	pids, err := cg.PIDs()
	if err != nil {
		return cpuSnap{}, err
	}
	s := cpuSnap{at: time.Now(), procs: map[int]procCPU{}}
	for _, pid := range pids {
		s.procs[pid] = procCPU{group: classify(pid, initPID), cpu: proc.CPU(pid)}
	}
	if s.cgroup, err = cg.CPU(); err != nil {
		return cpuSnap{}, fmt.Errorf("CPU of cgroup %s: %w", cg.Dir, err)
	}
	return s, nil
}

// snapTree reads the CPU time of pid and its descendants, all in one
// group (the viewer: the host's Chromium).
func snapTree(pid int, group string) cpuSnap {
	s := cpuSnap{at: time.Now(), procs: map[int]procCPU{}}
	for _, p := range append([]int{pid}, proc.Children(pid)...) {
		s.procs[p] = procCPU{group: group, cpu: proc.CPU(p)}
	}
	return s
}

// cpuUse is the CPU each group used between two snapshots, as a
// percentage of one core over the wall time between them.
type cpuUse struct {
	wall  time.Duration
	pct   map[string]float64 // by group; groupAll: the cgroup's own total
	procs map[string]int     // processes per group at the end
}

// use compares two snapshots. A process that started in between counts
// from zero; one that exited in between is only in the cgroup's total.
func use(a, b cpuSnap) cpuUse {
	u := cpuUse{wall: b.at.Sub(a.at), pct: map[string]float64{}, procs: map[string]int{}}
	if u.wall <= 0 {
		return u
	}
	pct := func(d time.Duration) float64 { return 100 * float64(d) / float64(u.wall) }
	for pid, p := range b.procs {
		d := p.cpu - a.procs[pid].cpu
		if d < 0 { // a new process with a reused pid
			d = p.cpu
		}
		u.pct[p.group] += pct(d)
		u.procs[p.group]++
	}
	if b.cgroup > 0 {
		u.pct[groupAll] = pct(b.cgroup - a.cgroup)
	}
	return u
}

// window is one measuring window: the session's container, the viewer
// (host Chromium) and the whole machine.
type window struct {
	container, viewer cpuUse
	// busy is the machine's non-idle CPU over the window, in cores.
	busy float64
}

type windowStart struct {
	container, viewer cpuSnap
	busy              time.Duration
}

func startWindow(initPID, viewerPID int) (windowStart, error) {
	busy, err := proc.Busy()
	if err != nil {
		return windowStart{}, err
	}
	c, err := snapCgroup(initPID)
	if err != nil {
		return windowStart{}, err
	}
	return windowStart{container: c, viewer: snapTree(viewerPID, "viewer"), busy: busy}, nil
}

func (w windowStart) end(initPID, viewerPID int) (window, error) {
	c, err := snapCgroup(initPID)
	if err != nil {
		return window{}, err
	}
	v := snapTree(viewerPID, "viewer")
	busy, err := proc.Busy()
	if err != nil {
		return window{}, err
	}
	cu := use(w.container, c)
	return window{container: cu, viewer: use(w.viewer, v), busy: float64(busy-w.busy) / float64(cu.wall)}, nil
}

// agentEncoder is the CPU of what Airlock adds to the session, % of a
// core: the agent, the video encoder, and the sound (the audio helper and
// the sound server).
func (u cpuUse) agentEncoder() float64 {
	return u.pct[groupAgent] + u.pct[groupEncoder] + u.pct[groupAudio] + u.pct[groupSound]
}

// total is the CPU of every process together, % of a core.
func (u cpuUse) total() float64 {
	var t float64
	for g, p := range u.pct {
		if g != groupAll {
			t += p
		}
	}
	return t
}
