// Package scheduler chooses the provision node a new session runs on. It
// is a pure function of the nodes, their load and the workspace, so every
// api process makes the same choice from the same facts, and a refusal
// says which of the workspace's needs no node meets.
package scheduler

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// Strategy is how a session is placed among the nodes that can take it.
type Strategy string

const (
	// Spread places it on the least loaded node (by share of its
	// capacity): a node lost takes the fewest sessions with it.
	Spread Strategy = "spread"
	// Binpack places it on the most loaded node that has room: the others
	// stay empty, to be drained, stopped or given to big workspaces.
	Binpack Strategy = "binpack"
)

// Strategies lists the strategies, the default first.
var Strategies = []Strategy{Spread, Binpack}

// ParseStrategy reads a strategy's name; empty is Spread.
func ParseStrategy(s string) (Strategy, error) {
	if s == "" {
		return Spread, nil
	}
	if st := Strategy(s); slices.Contains(Strategies, st) {
		return st, nil
	}
	return "", fmt.Errorf("placement strategy %q: want spread or binpack", s)
}

// Candidate is a node with the number of active sessions it holds.
type Candidate struct {
	Node   *airlock.Node
	Active int
}

// Pick returns the node for a new session of ws: among the nodes that
// are ready and not draining, have been heard from within maxSilence of
// now, offer the workspace's isolation level, carry every label it
// requires and have room, the least loaded by share of its capacity
// (Spread) or the most loaded (Binpack). Ties go to the node with the
// fewer sessions (Spread) or the more (Binpack), then by name.
//
// When no node fits, the error (EUNAVAILABLE) names the first of the
// workspace's needs, in that order, that no node meets: "no ready node
// offers isolation level sandboxed", "no ready node has zone=eu", "every
// node with zone=eu is full".
func Pick(cands []Candidate, ws *airlock.Workspace, now time.Time, maxSilence time.Duration, st Strategy) (*airlock.Node, error) {
	var fit []Candidate
	var ready, draining, offers, labelled int
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
		offers++
		if !hasLabels(n, ws.NodeLabels) {
			continue
		}
		labelled++
		if c.Active >= n.Capacity {
			continue
		}
		fit = append(fit, c)
	}
	if len(fit) == 0 {
		return nil, refusal(ws, ready, draining, offers, labelled)
	}
	best := slices.MinFunc(fit, func(a, b Candidate) int {
		// a.Active/a.Capacity vs b.Active/b.Capacity without division.
		c := cmp.Compare(a.Active*b.Node.Capacity, b.Active*a.Node.Capacity)
		if c == 0 {
			c = cmp.Compare(a.Active, b.Active)
		}
		if st == Binpack {
			c = -c
		}
		if c != 0 {
			return c
		}
		return cmp.Compare(a.Node.Name, b.Node.Name)
	})
	return best.Node, nil
}

// refusal says why no node fits, from the counts of nodes that passed
// each test in turn.
func refusal(ws *airlock.Workspace, ready, draining, offers, labelled int) error {
	switch {
	case ready == 0 && draining > 0:
		return airlock.Errorf(airlock.EUNAVAILABLE, "every ready provision node is draining; try again later")
	case ready == 0:
		return airlock.Errorf(airlock.EUNAVAILABLE, "no provision node is ready; try again later")
	case offers == 0:
		return airlock.Errorf(airlock.EUNAVAILABLE, "no ready node offers isolation level %s", ws.Isolation)
	case labelled == 0:
		return airlock.Errorf(airlock.EUNAVAILABLE, "no ready node with isolation level %s has %s", ws.Isolation, airlock.LabelText(ws.NodeLabels))
	case len(ws.NodeLabels) > 0:
		return airlock.Errorf(airlock.EUNAVAILABLE, "every node with %s that can run %q is full; try again later", airlock.LabelText(ws.NodeLabels), ws.Name)
	}
	return airlock.Errorf(airlock.EUNAVAILABLE, "every node that can run %q is full; try again later", ws.Name)
}

// hasLabels reports whether n carries every label of want, with its value.
func hasLabels(n *airlock.Node, want map[string]string) bool {
	for k, v := range want {
		if got, ok := n.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
