// Command place measures the placement decision of a launch: the
// scheduler's choice of a node, with the reads it makes of the store,
// for a fleet of 100 nodes and 10 000 sessions in an SQLite store of
// synthetic data (each placement then adds its launch's session) (issue 14's target: p99 <= 5 ms). Beside it, the same
// reads alone (the baseline the decision adds to) and the per-node counts
// the scheduler made before it read the fleet's load in one query.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/benchmain"
	"github.com/airlock-rbi/airlock/bench/internal/stats"
	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/scheduler"
	"github.com/airlock-rbi/airlock/internal/sessions"
	"github.com/airlock-rbi/airlock/internal/store"
)

const targetP99MS = 5.0

func main() {
	nodes := flag.Int("nodes", 100, "provision nodes in the store")
	sess := flag.Int("sessions", 10_000, "sessions in the store, 40% of them active")
	picks := flag.Int("picks", 3000, "placements timed")
	dsn := flag.String("db", "", "store to use (default: a new SQLite file; a postgres:// URL for PostgreSQL, whose tables are dropped first)")
	flag.Parse()
	if *nodes < 1 || *sess < 0 || *picks < 10 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: place [-nodes N] [-sessions N] [-picks N] [-db DSN]")
		os.Exit(2)
	}
	benchmain.Run("place", func(ctx context.Context, out io.Writer) error {
		return run(ctx, out, *nodes, *sess, *picks, *dsn)
	})
}

func run(ctx context.Context, out io.Writer, nNodes, nSessions, picks int, dsn string) error {
	if dsn == "" {
		dir, err := os.MkdirTemp("", "airlock-bench-place-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dsn = filepath.Join(dir, "airlock.db")
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	wss, nodes, err := fill(ctx, st, nNodes, nSessions)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "store: %d nodes, %d sessions (40%% active), %d workspaces, filled in %s\n",
		nNodes, nSessions, len(wss), time.Since(start).Round(time.Millisecond))

	svc, err := sessions.New(sessions.Options{Store: st, Driver: noDriver{}})
	if err != nil {
		return err
	}
	// timeIt times f picks times, after 50 untimed calls; then, untimed,
	// after, if not nil.
	timeIt := func(f func(i int) error, after func(i int) error) ([]time.Duration, error) {
		for i := range 50 { // warm the caches and the connection pool
			if err := f(i); err != nil {
				return nil, err
			}
		}
		ds := make([]time.Duration, 0, picks)
		for i := range picks {
			t0 := time.Now()
			if err := f(i); err != nil {
				return nil, err
			}
			ds = append(ds, time.Since(t0))
			if after != nil {
				if err := after(i); err != nil {
					return nil, err
				}
			}
		}
		slices.Sort(ds)
		return ds, nil
	}
	// The reads first, on the 10 000 sessions; the placements then add
	// theirs.
	reads, err := timeIt(func(int) error {
		if _, err := st.ListNodes(ctx); err != nil {
			return err
		}
		_, err := st.CountSessionsByNode(ctx, airlock.SessionFilter{States: airlock.ActiveStates})
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("reads: %w", err)
	}
	// Each placement is followed, untimed, by the launch's pending
	// session on the node chosen, so that the load moves as it does.
	placed := map[string]int{}
	var chosen *airlock.Node
	pick, err := timeIt(func(i int) error {
		n, err := svc.PickNode(ctx, wss[i%len(wss)])
		chosen = n
		return err
	}, func(i int) error {
		placed[chosen.Name]++
		return st.CreateSession(ctx, &airlock.Session{ID: fmt.Sprintf("p%05d", i), UserID: "u-bench",
			WorkspaceID: wss[i%len(wss)].ID, NodeID: chosen.ID, State: airlock.SessionPending})
	})
	if err != nil {
		return fmt.Errorf("place: %w", err)
	}
	perNode, err := timeIt(func(int) error {
		ns, err := st.ListNodes(ctx)
		if err != nil {
			return err
		}
		for _, n := range ns {
			if _, err := st.CountSessions(ctx, airlock.SessionFilter{NodeID: n.ID, States: airlock.ActiveStates}); err != nil {
				return err
			}
		}
		return nil
	}, nil)
	if err != nil {
		return fmt.Errorf("per-node counts: %w", err)
	}
	cands := make([]scheduler.Candidate, len(nodes))
	for i, n := range nodes {
		cands[i] = scheduler.Candidate{Node: n, Active: 100}
	}
	now := time.Now()
	alone, err := timeIt(func(i int) error {
		_, err := scheduler.Pick(cands, wss[i%len(wss)], now, time.Hour, scheduler.Spread)
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	row := func(name string, ds []time.Duration) {
		fmt.Fprintf(out, "  %-34s p50 %7.3f ms   p99 %7.3f ms   max %7.3f ms\n", name,
			stats.MS(stats.Percentile(ds, 50)), stats.MS(stats.Percentile(ds, 99)), stats.MS(ds[len(ds)-1]))
	}
	fmt.Fprintf(out, "%d placements, the workspaces in turn (any node; zone=eu; sandboxed):\n", picks)
	row("placement (10 000 → 13 000 sessions)", pick)
	row("its reads alone, 10 000 (baseline)", reads)
	row("the scheduler alone", alone)
	row("per-node counts (before)", perNode)
	p99 := stats.MS(stats.Percentile(pick, 99))
	ratio := float64(stats.Percentile(pick, 50)) / float64(stats.Percentile(reads, 50))
	fmt.Fprintf(out, "placement p50 / its reads' p50: %.2f\n", ratio)
	least, most := picks, 0
	for _, n := range placed {
		least, most = min(least, n), max(most, n)
	}
	fmt.Fprintf(out, "spread: %d placements (each followed by its session) on %d of %d nodes, %d to %d each\n", picks, len(placed), nNodes, least, most)
	fmt.Fprintf(out, "target: placement p99 <= %.0f ms with %d nodes and %d sessions: %s\n", targetP99MS, nNodes, nSessions,
		stats.Verdict(p99 <= targetP99MS && nNodes >= 100 && nSessions >= 10_000))
	fmt.Fprintf(out, "BENCH place nodes=%d sessions=%d p50_ms=%.3f p99_ms=%.3f reads_p50_ms=%.3f reads_p99_ms=%.3f scheduler_p99_ms=%.3f per_node_p99_ms=%.3f ratio=%.2f target_p99_ms=%.0f\n",
		nNodes, nSessions, stats.MS(stats.Percentile(pick, 50)), p99, stats.MS(stats.Percentile(reads, 50)), stats.MS(stats.Percentile(reads, 99)),
		stats.MS(stats.Percentile(alone, 99)), stats.MS(stats.Percentile(perNode, 99)), ratio, targetP99MS)
	return nil
}

// fill writes the synthetic fleet: nodes in two zones (every fourth also
// sandboxed), a user, three workspaces, and sessions over the nodes, 40%
// of them active, the rest ended.
func fill(ctx context.Context, st *store.DB, nNodes, nSessions int) ([]*airlock.Workspace, []*airlock.Node, error) {
	now := airlock.Now()
	var nodes []*airlock.Node
	for i := range nNodes {
		iso := []airlock.Isolation{airlock.IsolationStandard, airlock.IsolationHardened}
		if i%4 == 0 {
			iso = append(iso, airlock.IsolationSandboxed)
		}
		n := &airlock.Node{ID: fmt.Sprintf("node-%03d", i), Name: fmt.Sprintf("n%03d", i), URL: fmt.Sprintf("https://10.0.%d.%d:2376", i/250, i%250+1),
			Capacity: 200, Isolation: iso, Labels: map[string]string{"zone": []string{"eu", "us"}[i%2]},
			State: airlock.NodeReady, LastHeartbeat: now.Add(24 * time.Hour)}
		if err := st.CreateNode(ctx, n); err != nil {
			return nil, nil, err
		}
		nodes = append(nodes, n)
	}
	u := &airlock.User{ID: "u-bench", Name: "bench", Role: airlock.RoleUser}
	if err := st.CreateUser(ctx, u); err != nil {
		return nil, nil, err
	}
	wss := []*airlock.Workspace{
		{ID: "w-web", Name: "web", Image: "airlock/chromium", Isolation: airlock.IsolationStandard},
		{ID: "w-eu", Name: "eu", Image: "airlock/chromium", Isolation: airlock.IsolationStandard, NodeLabels: map[string]string{"zone": "eu"}},
		{ID: "w-sbx", Name: "sbx", Image: "airlock/chromium", Isolation: airlock.IsolationSandboxed},
	}
	for _, w := range wss {
		if err := w.Validate(); err != nil {
			return nil, nil, err
		}
		if err := st.CreateWorkspace(ctx, w); err != nil {
			return nil, nil, err
		}
	}
	active := airlock.ActiveStates
	for i := range nSessions {
		state := airlock.SessionStopped
		if i%10 < 4 {
			state = active[i%len(active)]
		} else if i%10 == 9 {
			state = airlock.SessionFailed
		}
		s := &airlock.Session{ID: fmt.Sprintf("s%05d", i), UserID: u.ID, WorkspaceID: wss[i%len(wss)].ID,
			NodeID: nodes[i%nNodes].ID, State: state, CreatedAt: now}
		if err := st.CreateSession(ctx, s); err != nil {
			return nil, nil, err
		}
	}
	return wss, nodes, nil
}

// noDriver: the bench places, it launches nothing.
type noDriver struct{}

func (noDriver) Start(context.Context, string, airlock.ContainerSpec) (string, error) {
	return "", fmt.Errorf("the placement bench launches nothing")
}
func (noDriver) Remove(context.Context, string, string, time.Duration) error { return nil }
func (noDriver) Halt(context.Context, string, string, time.Duration) error   { return nil }
func (noDriver) Resume(context.Context, string, string) error                { return nil }
