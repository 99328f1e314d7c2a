package scheduler

import (
	"fmt"
	"strings"
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
	ready := func(name string, capacity int) *airlock.Node { return node(name, capacity, airlock.NodeReady, 0) }
	drained := func(n *airlock.Node) *airlock.Node { n.Draining = true; return n }
	labelled := func(n *airlock.Node, kv ...string) *airlock.Node {
		n.Labels = map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
		return n
	}
	std := &airlock.Workspace{Name: "web", Isolation: airlock.IsolationStandard}
	sbx := &airlock.Workspace{Name: "sbx", Isolation: airlock.IsolationSandboxed}
	eu := &airlock.Workspace{Name: "eu-web", Isolation: airlock.IsolationStandard, NodeLabels: map[string]string{"zone": "eu"}}
	gpu := &airlock.Workspace{Name: "cad", Isolation: airlock.IsolationStandard, NodeLabels: map[string]string{"zone": "eu", "gpu": "a10"}}
	for _, tc := range []struct {
		name  string
		cands []Candidate
		ws    *airlock.Workspace
		st    Strategy
		want  string // node name, or the refusal's message
	}{
		{"ok/spread/least-loaded-share", []Candidate{{ready("a", 10), 5}, {ready("b", 4), 1}}, std, Spread, "b"},
		{"ok/spread/tie-by-name", []Candidate{{ready("b", 4), 0}, {ready("a", 4), 0}}, std, Spread, "a"},
		{"ok/spread/same-share-fewer-sessions", []Candidate{{ready("a", 8), 4}, {ready("b", 4), 2}}, std, Spread, "b"},
		{"ok/binpack/most-loaded-share", []Candidate{{ready("a", 10), 5}, {ready("b", 4), 1}}, std, Binpack, "a"},
		{"ok/binpack/skips-full", []Candidate{{ready("a", 4), 4}, {ready("b", 4), 3}, {ready("c", 4), 0}}, std, Binpack, "b"},
		{"ok/binpack/tie-by-name", []Candidate{{ready("b", 4), 1}, {ready("a", 4), 1}}, std, Binpack, "a"},
		{"ok/skips-draining", []Candidate{{drained(ready("a", 4)), 0}, {ready("b", 4), 3}}, std, Spread, "b"},
		{"ok/isolation", []Candidate{{ready("a", 4), 0}, {node("b", 4, airlock.NodeReady, 0, airlock.IsolationStandard, airlock.IsolationSandboxed), 3}}, sbx, Spread, "b"},
		{"ok/labels", []Candidate{{labelled(ready("a", 4), "zone", "us"), 0}, {labelled(ready("b", 4), "zone", "eu", "rack", "3"), 3}}, eu, Spread, "b"},
		{"ok/labels-all-of-them", []Candidate{{labelled(ready("a", 4), "zone", "eu"), 0}, {labelled(ready("b", 4), "zone", "eu", "gpu", "a10"), 3}}, gpu, Spread, "b"},
		{"ok/no-labels-any-node", []Candidate{{labelled(ready("a", 4), "zone", "eu"), 1}, {ready("b", 4), 2}}, std, Spread, "a"},
		{"fail/no-nodes", nil, std, Spread, "no provision node is ready; try again later"},
		{"fail/all-full", []Candidate{{ready("a", 2), 2}}, std, Spread, `every node that can run "web" is full; try again later`},
		{"fail/silent", []Candidate{{node("a", 2, airlock.NodeReady, time.Hour), 0}}, std, Spread, "no provision node is ready; try again later"},
		{"fail/no-isolation", []Candidate{{ready("a", 2), 0}}, sbx, Spread, "no ready node offers isolation level sandboxed"},
		{"fail/down", []Candidate{{node("a", 2, airlock.NodeDown, 0), 0}}, std, Spread, "no provision node is ready; try again later"},
		{"fail/all-draining", []Candidate{{drained(ready("a", 2)), 0}}, std, Binpack, "every ready provision node is draining; try again later"},
		{"fail/no-label", []Candidate{{labelled(ready("a", 2), "zone", "us"), 0}, {ready("b", 2), 0}}, eu, Spread, "no ready node with isolation level standard has zone=eu"},
		{"fail/label-value", []Candidate{{labelled(ready("a", 2), "zone", "eu"), 0}}, gpu, Spread, "no ready node with isolation level standard has gpu=a10, zone=eu"},
		{"fail/label-full", []Candidate{{labelled(ready("a", 2), "zone", "eu"), 2}, {ready("b", 2), 0}}, eu, Spread, `every node with zone=eu that can run "eu-web" is full; try again later`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Pick(tc.cands, tc.ws, now, time.Minute, tc.st)
			if strings.HasPrefix(tc.name, "fail/") {
				if err == nil || airlock.ErrorCode(err) != airlock.EUNAVAILABLE || airlock.ErrorMessage(err) != tc.want {
					t.Fatalf("got %v, %v; want unavailable: %s", n, err, tc.want)
				}
				return
			}
			if err != nil || n.Name != tc.want {
				t.Fatalf("got %v, %v; want %s", n, err, tc.want)
			}
		})
	}
}

func TestParseStrategy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Strategy
		err  bool
	}{{"", Spread, false}, {"spread", Spread, false}, {"binpack", Binpack, false}, {"pack", "", true}, {"Spread", "", true}} {
		got, err := ParseStrategy(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ParseStrategy(%q) = %q, %v", tc.in, got, err)
		}
	}
}

// BenchmarkPick is one placement among 100 nodes, the scheduler alone.
func BenchmarkPick(b *testing.B) {
	now := time.Now()
	var cands []Candidate
	for i := range 100 {
		n := &airlock.Node{Name: fmt.Sprintf("n%03d", i), Capacity: 200, State: airlock.NodeReady, LastHeartbeat: now,
			Isolation: []airlock.Isolation{airlock.IsolationStandard}, Labels: map[string]string{"zone": []string{"eu", "us"}[i%2]}}
		cands = append(cands, Candidate{Node: n, Active: 100})
	}
	ws := &airlock.Workspace{Name: "web", Isolation: airlock.IsolationStandard, NodeLabels: map[string]string{"zone": "eu"}}
	for b.Loop() {
		if _, err := Pick(cands, ws, now, time.Minute, Spread); err != nil {
			b.Fatal(err)
		}
	}
}
