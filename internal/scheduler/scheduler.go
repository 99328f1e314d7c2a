// Package scheduler chooses the provision node a new session runs on. It
// is a pure function of the nodes, their load and the workspace, so every
// api process makes the same choice from the same facts.
package scheduler

import (
	"cmp"
	"slices"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// Candidate is a node with the number of active sessions it holds.
type Candidate struct {
	Node   *airlock.Node
	Active int
}

// Pick returns the least loaded node (by share of its capacity) that is
// ready and not draining, has heartbeated within maxSilence of now, supports the
// workspace's isolation level and has room. Ties go to the node with the
// fewest sessions, then by name. When none fits, the error says why.
func Pick(cands []Candidate, ws *airlock.Workspace, now time.Time, maxSilence time.Duration) (*airlock.Node, error) {
	var fit []Candidate
	var ready, draining, supports int
	for _, c := range cands {
		n := c.Node
		if n.State != airlock.NodeReady || now.Sub(n.LastHeartbeat) > maxSilence {
			continue
		}
		if n.Draining {
			draining++
			continue
		}
		ready++
		if !n.Supports(ws.Isolation) {
			continue
		}
		supports++
		if c.Active >= n.Capacity {
			continue
		}
		fit = append(fit, c)
	}
	switch {
	case ready == 0 && draining > 0:
		return nil, airlock.Errorf(airlock.EUNAVAILABLE, "every ready provision node is draining; try again later")
	case ready == 0:
		return nil, airlock.Errorf(airlock.EUNAVAILABLE, "no provision node is ready; try again later")
	case supports == 0:
		return nil, airlock.Errorf(airlock.EUNAVAILABLE, "no ready node supports isolation level %q", ws.Isolation)
	case len(fit) == 0:
		return nil, airlock.Errorf(airlock.EUNAVAILABLE, "every node that can run %q is full; try again later", ws.Name)
	}
	best := slices.MinFunc(fit, func(a, b Candidate) int {
		// a.Active/a.Capacity vs b.Active/b.Capacity without division.
		if c := cmp.Compare(a.Active*b.Node.Capacity, b.Active*a.Node.Capacity); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Active, b.Active); c != 0 {
			return c
		}
		return cmp.Compare(a.Node.Name, b.Node.Name)
	})
	return best.Node, nil
}
