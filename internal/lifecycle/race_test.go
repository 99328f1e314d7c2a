package lifecycle

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/sessions"
)

// listHookDriver is fakeDriver whose container list runs after: what
// happens on the node and in the store between a round's reads.
type listHookDriver struct {
	*fakeDriver
	after func()
}

func (d *listHookDriver) Containers(ctx context.Context, url string) ([]airlock.Container, error) {
	cs, err := d.fakeDriver.Containers(ctx, url)
	d.after()
	return cs, err
}

// TestResumeRaceKeepsSession: a round lists a resumed session's
// container while it is still exited and the resume then finishes. The
// session, starting again with its container now running, is not
// failed for the exit the list saw.
func TestResumeRaceKeepsSession(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	// ReadyAt set: it was ready once; started again a second ago.
	s := sess("s1", airlock.SessionStarting, now.Add(-time.Hour), now.Add(-time.Minute))
	started := now.Add(-time.Second)
	s.StartedAt = &started
	st := storeWithNode(t, now, s)
	var resuming atomic.Bool
	resuming.Store(true)
	d := &listHookDriver{fakeDriver: &fakeDriver{containers: []airlock.Container{*ctr("s1", "exited")}}, after: func() { resuming.Store(false) }}
	j := New(st, d, inFlight{mustService(t, st, d, now), func(string) bool { return resuming.Load() }}, Config{}, nil, func() time.Time { return now })
	if err := j.Round(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := st.SessionByID(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != airlock.SessionStarting || len(d.removed) != 0 {
		t.Fatalf("the resumed session is %s (%s) and the driver removed %v; want it starting with its container", got.State, got.Reason, d.removed)
	}
}

// TestFailLeavesMovedSession: Fail on a session read as starting that
// has become ready since (its agent registered) neither marks it nor
// removes its container.
func TestFailLeavesMovedSession(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	read := sess("s1", airlock.SessionStarting, now.Add(-time.Second), time.Time{})
	st := storeWithNode(t, now, read)
	if _, err := st.UpdateSession(ctx, "s1", airlock.SessionUpdate{From: []airlock.SessionState{airlock.SessionStarting},
		To: airlock.SessionReady, ReadyAt: &now}, now); err != nil {
		t.Fatal(err)
	}
	node, err := st.NodeByID(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDriver{containers: []airlock.Container{*ctr("s1", "running")}}
	if err := mustService(t, st, d, now).Fail(ctx, read, node, airlock.EndFailed, "the container stopped"); err != nil {
		t.Fatal(err)
	}
	got, err := st.SessionByID(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != airlock.SessionReady || len(d.removed) != 0 {
		t.Fatalf("the session is %s and the driver removed %v; want it ready with its container", got.State, d.removed)
	}
}

// TestSuspendGoneContainer: a session whose container is gone when its
// idle end suspends it is ended as lost, once, not asked to stop again
// every round.
func TestSuspendGoneContainer(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s := sess("s1", airlock.SessionReady, now.Add(-2*time.Hour), now.Add(-5*time.Second))
	before := now.Add(-time.Hour)
	s.LastInputAt = &before
	st := storeWithNode(t, now, s)
	if err := st.CreateWorkspace(ctx, &airlock.Workspace{ID: "w1", Name: "w1", Image: "x", Isolation: airlock.IsolationStandard,
		Limits: airlock.Limits{Idle: 5 * time.Minute, Lifetime: 8 * time.Hour, MaxLifetime: 8 * time.Hour,
			OnExpiry: airlock.ExpireSuspend, ResumeGrace: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	// The container went between the round's list and its expiry step:
	// the list still shows it running, the engine has none.
	listed := &fakeDriver{containers: []airlock.Container{*ctr("s1", "running")}}
	d := &goneDriver{fakeDriver: listed}
	j := newJobs(t, st, listed, Config{}, nil, nil, func() time.Time { return now })
	j.sessions = inFlight{mustService(t, st, d, now), nil}
	for round := range 2 {
		if err := j.Round(ctx); err != nil {
			t.Fatalf("round %d: %v", round+1, err)
		}
	}
	got, err := st.SessionByID(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != airlock.SessionFailed || got.EndReason != airlock.EndLost || !strings.Contains(got.Reason, "container is gone") {
		t.Fatalf("session %s, end %q, reason %q; want failed, lost, the container gone", got.State, got.EndReason, got.Reason)
	}
	if !slices.Contains(d.removed, "airlock-s1") {
		t.Errorf("removed %v: the lost session's container (name) was not removed", d.removed)
	}
}

// goneDriver is a node whose containers are all gone when asked to stop.
type goneDriver struct{ *fakeDriver }

func (d *goneDriver) Halt(_ context.Context, _ string, id string, _ time.Duration) error {
	return airlock.Errorf(airlock.ENOTFOUND, "stop container %s: it is gone", id)
}

func mustService(t *testing.T, st sessions.Store, d sessions.Driver, now time.Time) *sessions.Service {
	t.Helper()
	svc, err := sessions.New(sessions.Options{Store: st, Driver: d, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc
}
