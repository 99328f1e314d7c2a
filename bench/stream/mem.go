package main

import (
	"fmt"

	"github.com/airlock-rbi/airlock/bench/internal/proc"
)

// memUse is the memory of a session's processes by group, in bytes.
type memUse struct {
	rss, pss map[string]int64
	procs    map[string]int
}

// agentDisplay is the agent's, the encoder's, the sound's (the audio
// helper and the sound server) and Xvfb's memory together.
func (m memUse) agentDisplay(pss bool) int64 {
	src := m.rss
	if pss {
		src = m.pss
	}
	return src[groupAgent] + src[groupEncoder] + src[groupAudio] + src[groupSound] + src[groupDisplay]
}

// measureMemory reads RSS and PSS of every process in the container of
// initPID.
func measureMemory(initPID int) (memUse, error) {
	cg, err := proc.CgroupOf(initPID)
	if err != nil {
		return memUse{}, err
	}
	pids, err := cg.PIDs()
	if err != nil {
		return memUse{}, err
	}
	m := memUse{rss: map[string]int64{}, pss: map[string]int64{}, procs: map[string]int{}}
	for _, pid := range pids {
		g := classify(pid, initPID)
		mem, err := proc.Memory(pid)
		if err != nil {
			if pid == initPID {
				return memUse{}, fmt.Errorf("memory of the agent (pid %d): %w", pid, err)
			}
			continue // it exited
		}
		m.rss[g] += mem.RSS
		m.pss[g] += mem.PSS
		m.procs[g]++
	}
	return m, nil
}
