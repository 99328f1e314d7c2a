package scheduler

import (
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

func TestPick(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	node := func(name string, capacity int, state airlock.NodeState, age time.Duration, iso ...airlock.Isolation) *airlock.Node {
		if len(iso) == 0 {
			iso = []airlock.Isolation{airlock.IsolationStandard}
		}
		return &airlock.Node{Name: name, Capacity: capacity, State: state, LastHeartbeat: now.Add(-age), Isolation: iso}
	}
	drained := func(n *airlock.Node) *airlock.Node { n.Draining = true; return n }
	std := &airlock.Workspace{Name: "web", Isolation: airlock.IsolationStandard}
	sbx := &airlock.Workspace{Name: "sbx", Isolation: airlock.IsolationSandboxed}
	for _, tc := range []struct {
		name  string
		cands []Candidate
		ws    *airlock.Workspace
		want  string // node name, or "" for an error
	}{
		{"ok/least-loaded-share", []Candidate{{node("a", 10, airlock.NodeReady, 0), 5}, {node("b", 4, airlock.NodeReady, 0), 1}}, std, "b"},
		{"ok/tie-by-name", []Candidate{{node("b", 4, airlock.NodeReady, 0), 0}, {node("a", 4, airlock.NodeReady, 0), 0}}, std, "a"},
		{"ok/skips-draining", []Candidate{{drained(node("a", 4, airlock.NodeReady, 0)), 0}, {node("b", 4, airlock.NodeReady, 0), 3}}, std, "b"},
		{"ok/isolation", []Candidate{{node("a", 4, airlock.NodeReady, 0), 0}, {node("b", 4, airlock.NodeReady, 0, airlock.IsolationStandard, airlock.IsolationSandboxed), 3}}, sbx, "b"},
		{"fail/no-nodes", nil, std, ""},
		{"fail/all-full", []Candidate{{node("a", 2, airlock.NodeReady, 0), 2}}, std, ""},
		{"fail/silent", []Candidate{{node("a", 2, airlock.NodeReady, time.Hour), 0}}, std, ""},
		{"fail/no-isolation", []Candidate{{node("a", 2, airlock.NodeReady, 0), 0}}, sbx, ""},
		{"fail/down", []Candidate{{node("a", 2, airlock.NodeDown, 0), 0}}, std, ""},
		{"fail/all-draining", []Candidate{{drained(node("a", 2, airlock.NodeReady, 0)), 0}}, std, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Pick(tc.cands, tc.ws, now, time.Minute)
			if tc.want == "" {
				if err == nil || airlock.ErrorCode(err) != airlock.EUNAVAILABLE {
					t.Fatalf("got %v, %v; want unavailable", n, err)
				}
				return
			}
			if err != nil || n.Name != tc.want {
				t.Fatalf("got %v, %v; want %s", n, err, tc.want)
			}
		})
	}
}
