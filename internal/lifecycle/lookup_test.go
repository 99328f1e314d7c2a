package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/store"
)

// countingStore counts the store's single-session lookups.
type countingStore struct {
	*store.DB
	byID atomic.Int64
}

func (s *countingStore) SessionByID(ctx context.Context, id string) (*airlock.Session, error) {
	s.byID.Add(1)
	return s.DB.SessionByID(ctx, id)
}

// TestReconcileLooksUpOnlyUnknown: nodes sharing an engine each list all
// of its containers and networks; a round reads the active sessions once
// and looks up alone only the sessions not among them (an orphan's, an
// ended one's), not one query per container per node. Orphans still go.
func TestReconcileLooksUpOnlyUnknown(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	st := &countingStore{DB: openStore(t)}
	const nodes, live = 3, 20
	for i := range nodes {
		n := &airlock.Node{ID: fmt.Sprintf("n%d", i), Name: fmt.Sprintf("n%d", i), URL: fmt.Sprintf("https://127.0.0.1:%d", 2376+i),
			Capacity: live, State: airlock.NodeReady, LastHeartbeat: now, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	d := &fakeDriver{}
	for i := range live {
		s := sess(fmt.Sprintf("s%d", i), airlock.SessionReady, now.Add(-time.Minute), now.Add(-time.Second))
		s.NodeID = fmt.Sprintf("n%d", i%nodes)
		if err := st.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		d.containers = append(d.containers, *ctr(s.ID, "running"))
		d.networks = append(d.networks, airlock.Network{ID: "net-" + s.ID, SessionID: s.ID, Containers: 1})
	}
	ended := sess("ended", airlock.SessionStopped, now.Add(-time.Minute), time.Time{})
	ended.NodeID = "n0"
	if err := st.CreateSession(ctx, ended); err != nil {
		t.Fatal(err)
	}
	d.containers = append(d.containers, *ctr("ended", "running"), *ctr("ghost", "created"))
	d.networks = append(d.networks, airlock.Network{ID: "net-lone", SessionID: "lone"})

	j := newJobs(t, st, d, Config{}, nil, nil, func() time.Time { return now })
	if err := j.Round(ctx); err != nil {
		t.Fatal(err)
	}
	// Per node: the ended session's, the ghost's and the lone network's.
	if got, most := st.byID.Load(), int64(nodes*3); got > most {
		t.Errorf("%d single-session lookups for %d nodes × %d containers, want at most %d", got, nodes, live+2, most)
	}
	for _, id := range []string{"c-ended", "c-ghost"} {
		if !slices.Contains(d.removed, id) {
			t.Errorf("%s not removed: %v", id, d.removed)
		}
	}
	if !slices.Contains(d.netRemoved, "net-lone") {
		t.Errorf("the lone network not removed: %v", d.netRemoved)
	}
	for _, id := range d.removed {
		if id != "c-ended" && id != "c-ghost" {
			t.Errorf("a live session's container %s was removed", id)
		}
	}
	for i := range live {
		s, err := st.DB.SessionByID(ctx, fmt.Sprintf("s%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if s.State != airlock.SessionReady {
			t.Errorf("session %s is %s (%s), want ready", s.ID, s.State, s.Reason)
		}
	}
}
