package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/sessions"
	"github.com/airlock-rbi/airlock/internal/store"
)

// fakeDriver is a node's engine reduced to what the jobs read: the
// decisions are pure logic; the real driver is tested on dockerd.
type fakeDriver struct {
	mu         sync.Mutex
	containers []airlock.Container
	removed    []string
	networks   []airlock.Network
	netRemoved []string
	pingErr    error
	logs       map[string]string // by container ID
}

func (d *fakeDriver) LogTail(_ context.Context, _ string, id string, _ int) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logs[id], nil
}

func (d *fakeDriver) Ping(context.Context, string) error { return d.pingErr }

func (d *fakeDriver) Start(context.Context, string, airlock.ContainerSpec) (string, error) {
	return "", errors.New("the jobs start no containers")
}

// inFlight is the session service with this process's launches as a
// test says they are.
type inFlight struct {
	*sessions.Service
	launching func(string) bool
}

func (f inFlight) InFlight(id string) bool { return f.launching != nil && f.launching(id) }

// newJobs builds the jobs on st and d with the real session service;
// launching says which sessions this process is launching, onEnd is told
// each end (both may be nil).
func newJobs(t *testing.T, st Store, d *fakeDriver, cfg Config, launching func(string) bool, onEnd func(string), now func() time.Time) *Jobs {
	t.Helper()
	ss, ok := st.(sessions.Store)
	if !ok {
		t.Fatalf("%T is not a sessions.Store", st)
	}
	svc, err := sessions.New(sessions.Options{Store: ss, Driver: d, OnEnd: onEnd, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return New(st, d, inFlight{svc, launching}, cfg, nil, now)
}

func (d *fakeDriver) Containers(context.Context, string) ([]airlock.Container, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.containers), nil
}

func (d *fakeDriver) Remove(_ context.Context, _ string, id string, _ time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.removed = append(d.removed, id)
	return nil
}

func (d *fakeDriver) Networks(context.Context, string) ([]airlock.Network, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.networks), nil
}

func (d *fakeDriver) RemoveNetwork(_ context.Context, _ string, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.netRemoved = append(d.netRemoved, id)
	return nil
}

func TestRound(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	boot := now.Add(-10 * time.Second) // when the jobs' process started
	for _, tc := range []struct {
		name      string
		session   *airlock.Session // nil: none in the store
		container *airlock.Container
		inFlight  bool
		pingErr   error
		wantState airlock.SessionState // "" when no session
		wantGone  bool                 // the jobs asked for the container's removal
	}{
		{name: "ok/ready-running-stays", session: sess("s1", airlock.SessionReady, now.Add(-time.Minute), now.Add(-5*time.Second)),
			container: ctr("s1", "running"), wantState: airlock.SessionReady},
		{name: "ok/orphan-removed", container: ctr("ghost", "running"), wantGone: true},
		{name: "ok/final-session-container-removed", session: sess("s1", airlock.SessionStopped, now.Add(-time.Minute), time.Time{}),
			container: ctr("s1", "running"), wantState: airlock.SessionStopped, wantGone: true},
		{name: "ok/exited-fails", session: sess("s1", airlock.SessionReady, now.Add(-time.Minute), now.Add(-time.Second)),
			container: ctr("s1", "exited"), wantState: airlock.SessionFailed, wantGone: true},
		{name: "ok/no-register-fails", session: sess("s1", airlock.SessionStarting, now.Add(-2*time.Minute), time.Time{}),
			container: ctr("s1", "running"), wantState: airlock.SessionFailed, wantGone: true},
		{name: "ok/silent-agent-fails", session: sess("s1", airlock.SessionReady, now.Add(-5*time.Minute), now.Add(-2*time.Minute)),
			container: ctr("s1", "running"), wantState: airlock.SessionFailed, wantGone: true},
		{name: "ok/young-starting-waits", session: sess("s1", airlock.SessionStarting, now.Add(-time.Second), time.Time{}),
			wantState: airlock.SessionStarting},
		// Removal by name covers a create that lands late.
		{name: "ok/cut-short-by-restart-fails-at-once", session: sess("s1", airlock.SessionStarting, boot.Add(-time.Second), time.Time{}),
			wantState: airlock.SessionFailed, wantGone: true},
		{name: "ok/cut-short-created-removed", session: sess("s1", airlock.SessionStarting, boot.Add(-time.Second), time.Time{}),
			container: ctr("s1", "created"), wantState: airlock.SessionFailed, wantGone: true},
		{name: "ok/in-flight-waits", session: sess("s1", airlock.SessionStarting, boot.Add(-time.Second), time.Time{}),
			inFlight: true, wantState: airlock.SessionStarting},
		{name: "ok/missing-after-grace-fails", session: sess("s1", airlock.SessionStarting, now.Add(-3*time.Minute), time.Time{}),
			inFlight: true, wantState: airlock.SessionFailed, wantGone: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := storeWithNode(t, now, tc.session)
			d := &fakeDriver{pingErr: tc.pingErr}
			if tc.container != nil {
				d.containers = []airlock.Container{*tc.container}
			}
			clock := boot
			j := newJobs(t, st, d, Config{}, func(string) bool { return tc.inFlight }, nil, func() time.Time { return clock })
			clock = now
			if err := j.Round(ctx); err != nil {
				t.Fatal(err)
			}
			if tc.session != nil {
				got, err := st.SessionByID(ctx, tc.session.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.State != tc.wantState {
					t.Fatalf("state %s (%s), want %s", got.State, got.Reason, tc.wantState)
				}
				if got.State == airlock.SessionFailed && got.Reason == "" {
					t.Fatal("failed without a reason")
				}
			}
			if gone := len(d.removed) > 0; gone != tc.wantGone {
				t.Fatalf("removed %v, want removal %v", d.removed, tc.wantGone)
			}
		})
	}
}

func TestNodeLiveness(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	if err := st.CreateNode(ctx, &airlock.Node{ID: "n1", Name: "n1", URL: "https://x:2376", Capacity: 1, State: airlock.NodeReady,
		LastHeartbeat: now.Add(-time.Minute), CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	d := &fakeDriver{pingErr: errors.New("connection refused")}
	clock := now
	j := newJobs(t, st, d, Config{}, nil, nil, func() time.Time { return clock })
	if err := j.Round(ctx); err != nil {
		t.Fatal(err)
	}
	n, _ := st.NodeByID(ctx, "n1")
	if n.State != airlock.NodeDown {
		t.Fatalf("silent node is %s, want down", n.State)
	}
	d.pingErr = nil
	clock = now.Add(5 * time.Second)
	if err := j.Round(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ = st.NodeByID(ctx, "n1"); n.State != airlock.NodeReady || !n.LastHeartbeat.Equal(clock) {
		t.Fatalf("answering node: %s at %v", n.State, n.LastHeartbeat)
	}
}

func sess(id string, state airlock.SessionState, created, heartbeat time.Time) *airlock.Session {
	s := &airlock.Session{ID: id, UserID: "u1", WorkspaceID: "w1", ContainerID: "airlock-" + id, State: state,
		CreatedAt: created, UpdatedAt: created}
	if !heartbeat.IsZero() {
		s.ReadyAt, s.LastHeartbeat = &created, &heartbeat
	}
	return s
}

func ctr(session, state string) *airlock.Container {
	return &airlock.Container{ID: "c-" + session, SessionID: session, State: state, Status: state}
}

// An agent that gives up says why in its last line: the session's reason
// must carry it, not only Docker's exit status.
func TestExitedSessionQuotesLastLine(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	node := &airlock.Node{ID: "n1", Name: "n1", URL: "https://127.0.0.1:2376", Capacity: 4, State: airlock.NodeReady,
		LastHeartbeat: now, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	s := sess("s1", airlock.SessionStarting, now.Add(-3*time.Second), time.Time{})
	s.NodeID = node.ID
	if err := st.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	c := ctr("s1", "exited")
	c.Status = "Exited (1) 1 second ago"
	d := &fakeDriver{containers: []airlock.Container{*c}, logs: map[string]string{c.ID: "level=WARN msg=\"register failed; retrying\"\n" +
		"airlock: register with https://host.docker.internal:8443: dial tcp 172.17.0.1:8443: connect: connection refused\n\n"}}
	var ended []string
	j := newJobs(t, st, d, Config{}, func(string) bool { return true }, func(id string) { ended = append(ended, id) },
		func() time.Time { return now })
	if err := j.Round(ctx); err != nil {
		t.Fatal(err)
	}
	// The session's viewers and relays are told at once.
	if !slices.Equal(ended, []string{"s1"}) {
		t.Errorf("OnEnd told %v, want [s1]", ended)
	}
	got, err := st.SessionByID(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	want := "the workspace's container stopped (Exited (1) 1 second ago): airlock: register with https://host.docker.internal:8443: dial tcp 172.17.0.1:8443: connect: connection refused"
	if got.State != airlock.SessionFailed || got.Reason != want {
		t.Fatalf("session %s, reason %q; want failed, %q", got.State, got.Reason, want)
	}
}

func TestLastLine(t *testing.T) {
	long := strings.Repeat("é", 300) // 600 bytes
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"\n\n  \n", ""},
		{"one\ntwo\n", "two"},
		{"one\r\ntwo\r\n", "two"},
		{"bell\a and \x1b[31mescape\n", "bell and [31mescape"},
		{long, strings.Repeat("é", 200) + "…"},
	} {
		if got := LastLine(tc.in); got != tc.want {
			t.Errorf("LastLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestPurgeWebSessions: rounds delete expired web sessions, no more
// often than PurgeEvery, and keep live ones.
func TestPurgeWebSessions(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	if err := st.CreateUser(ctx, &airlock.User{ID: "u1", Name: "alice", Role: airlock.RoleUser, PasswordHash: "x", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for id, exp := range map[string]time.Time{
		"expired-long-ago": now.Add(-24 * time.Hour),
		"expired-now":      now,
		"expires-soon":     now.Add(30 * time.Second),
		"live":             now.Add(12 * time.Hour),
	} {
		if err := st.CreateWebSession(ctx, &airlock.WebSession{ID: id, UserID: "u1", Hash: []byte(id), CreatedAt: now.Add(-25 * time.Hour), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	clock := now
	j := newJobs(t, st, &fakeDriver{}, Config{PurgeEvery: time.Minute}, nil, nil, func() time.Time { return clock })
	for _, step := range []struct {
		name    string
		advance time.Duration
		left    []string
	}{
		{"first-round-purges", 0, []string{"expires-soon", "live"}},
		// expires-soon has expired, but the last purge was 40 s ago.
		{"not-before-purge-every", 40 * time.Second, []string{"expires-soon", "live"}},
		{"after-purge-every", 20 * time.Second, []string{"live"}},
	} {
		t.Run(step.name, func(t *testing.T) {
			clock = clock.Add(step.advance)
			if err := j.Round(ctx); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"expired-long-ago", "expired-now", "expires-soon", "live"} {
				_, err := st.WebSessionByID(ctx, id)
				if want := slices.Contains(step.left, id); (err == nil) != want {
					t.Errorf("web session %s: present %v, want %v (err %v)", id, err == nil, want, err)
				}
			}
		})
	}
}

// openStore is a fresh SQLite store, closed with the test.
func openStore(t *testing.T) *store.DB {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestOrphanNetworks(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		session   *airlock.Session
		container *airlock.Container
		wantGone  bool
	}{
		{name: "ok/live-session-keeps-network", session: sess("s1", airlock.SessionStarting, now.Add(-time.Second), time.Time{}), wantGone: false},
		{name: "ok/ready-session-keeps-network", session: sess("s1", airlock.SessionReady, now.Add(-time.Minute), now.Add(-time.Second)),
			container: ctr("s1", "running"), wantGone: false},
		{name: "ok/unknown-session-network-removed", wantGone: true},
		{name: "ok/ended-session-network-removed", session: sess("s1", airlock.SessionStopped, now.Add(-time.Minute), time.Time{}), wantGone: true},
		// Its container goes first in the same round; the network follows.
		{name: "ok/orphan-container-and-network-removed", container: ctr("s1", "running"), wantGone: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := storeWithNode(t, now, tc.session)
			d := &fakeDriver{networks: []airlock.Network{{ID: "net-s1", SessionID: "s1"}}}
			if tc.container != nil {
				d.containers = []airlock.Container{*tc.container}
			}
			j := newJobs(t, st, d, Config{}, nil, nil, func() time.Time { return now })
			if err := j.Round(ctx); err != nil {
				t.Fatal(err)
			}
			if gone := slices.Contains(d.netRemoved, "net-s1"); gone != tc.wantGone {
				t.Fatalf("networks removed %v, want removal %v", d.netRemoved, tc.wantGone)
			}
		})
	}
}

// storeWithNode opens a store with one ready node, n1, and sess (if any)
// on it.
func storeWithNode(t *testing.T, now time.Time, sess *airlock.Session) *store.DB {
	t.Helper()
	ctx := context.Background()
	st := openStore(t)
	node := &airlock.Node{ID: "n1", Name: "n1", URL: "https://127.0.0.1:2376", Capacity: 4, State: airlock.NodeReady,
		LastHeartbeat: now, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	if sess != nil {
		sess.NodeID = node.ID
		if err := st.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// TestExpiry: ready sessions end at their idle or lifetime end under
// their workspace's limits (the deployment's where it sets none), with
// the end's reason, and their containers go; a session in use stays.
func TestExpiry(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { v := now.Add(-d); return &v }
	limits := airlock.Limits{Idle: 5 * time.Minute, ViewerIdle: time.Hour, Lifetime: 8 * time.Hour, MaxLifetime: 8 * time.Hour}
	for _, tc := range []struct {
		name    string
		limits  airlock.Limits // the workspace's
		mod     func(s *airlock.Session)
		want    airlock.SessionState
		end     airlock.EndReason
		reason  string
		removed bool
	}{
		{name: "ok/used-stays", limits: limits, mod: func(s *airlock.Session) { s.LastInputAt = ago(time.Minute) },
			want: airlock.SessionReady},
		{name: "ok/no-viewer-no-input-idle", limits: limits, mod: func(s *airlock.Session) { s.LastInputAt = ago(6 * time.Minute) },
			want: airlock.SessionStopped, end: airlock.EndIdle, reason: "after 5m with no viewer and no input", removed: true},
		{name: "ok/viewer-connected-stays", limits: limits, mod: func(s *airlock.Session) {
			s.LastInputAt, s.LastViewerAt = ago(30*time.Minute), s.LastHeartbeat
		}, want: airlock.SessionReady},
		{name: "ok/viewer-connected-unused-idle", limits: limits, mod: func(s *airlock.Session) {
			s.LastInputAt, s.LastViewerAt = ago(61*time.Minute), s.LastHeartbeat
		}, want: airlock.SessionStopped, end: airlock.EndIdle, reason: "after 1h without input", removed: true},
		{name: "ok/lifetime", limits: limits, mod: func(s *airlock.Session) {
			s.LastInputAt, s.LastViewerAt, s.ExpiresAt = ago(time.Second), s.LastHeartbeat, ago(time.Second)
		}, want: airlock.SessionStopped, end: airlock.EndLifetime, reason: "end of its lifetime", removed: true},
		// No limits of its own: the deployment's default idle is 30m.
		{name: "ok/deployment-default", mod: func(s *airlock.Session) { s.LastInputAt = ago(20 * time.Minute) },
			want: airlock.SessionReady},
		{name: "ok/deployment-default-idle", mod: func(s *airlock.Session) { s.LastInputAt = ago(31 * time.Minute) },
			want: airlock.SessionStopped, end: airlock.EndIdle, removed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := sess("s1", airlock.SessionReady, now.Add(-2*time.Hour), now.Add(-5*time.Second))
			tc.mod(s)
			st := storeWithNode(t, now, s)
			if err := st.CreateWorkspace(ctx, &airlock.Workspace{ID: "w1", Name: "w1", Image: "x", Isolation: airlock.IsolationStandard,
				Limits: tc.limits}); err != nil {
				t.Fatal(err)
			}
			d := &fakeDriver{containers: []airlock.Container{*ctr("s1", "running")}}
			var ended []string
			j := newJobs(t, st, d, Config{}, nil, func(id string) { ended = append(ended, id) }, func() time.Time { return now })
			if err := j.Round(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := st.SessionByID(ctx, "s1")
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tc.want || got.EndReason != tc.end || !strings.Contains(got.Reason, tc.reason) {
				t.Fatalf("state %s, end %q, reason %q; want %s, %q, containing %q", got.State, got.EndReason, got.Reason, tc.want, tc.end, tc.reason)
			}
			if removed := slices.Contains(d.removed, "airlock-s1"); removed != tc.removed {
				t.Fatalf("removed %v, want the container removed: %v", d.removed, tc.removed)
			}
			if tc.removed && len(ended) == 0 {
				t.Error("the session's viewers were not cut off")
			}
		})
	}
}

// blockingDriver is fakeDriver but for one node, whose container list
// waits until another node's orphan has been removed: reconciled one node
// after the other, the round would wait out NodeRound on it instead.
type blockingDriver struct {
	*fakeDriver
	slowURL string
	removed chan struct{}
	once    sync.Once
}

func (d *blockingDriver) Containers(ctx context.Context, url string) ([]airlock.Container, error) {
	if url != d.slowURL {
		return d.fakeDriver.Containers(ctx, url)
	}
	select {
	case <-d.removed:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (d *blockingDriver) Remove(ctx context.Context, url, id string, grace time.Duration) error {
	d.once.Do(func() { close(d.removed) })
	return d.fakeDriver.Remove(ctx, url, id, grace)
}

// TestReconcileNodesAtOnce: a node that does not answer its container
// list does not hold up the others' reconciliation.
func TestReconcileNodesAtOnce(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	st := openStore(t)
	for _, n := range []*airlock.Node{
		{ID: "n1", Name: "a-slow", URL: "https://slow:2376"},
		{ID: "n2", Name: "b-fast", URL: "https://fast:2376"},
	} {
		n.Capacity, n.State, n.LastHeartbeat, n.CreatedAt, n.UpdatedAt = 4, airlock.NodeReady, now, now, now
		if err := st.CreateNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	d := &blockingDriver{fakeDriver: &fakeDriver{containers: []airlock.Container{*ctr("ghost", "running")}},
		slowURL: "https://slow:2376", removed: make(chan struct{})}
	svc, err := sessions.New(sessions.Options{Store: st, Driver: d, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	j := New(st, d, inFlight{svc, nil}, Config{NodeRound: 2 * time.Second}, nil, func() time.Time { return now })
	if err := j.Round(ctx); err != nil {
		t.Fatalf("round: %v (the slow node waited out its bound: the nodes were not reconciled at once)", err)
	}
	if !slices.Contains(d.fakeDriver.removed, "c-ghost") {
		t.Fatalf("the fast node's orphan was not removed: %v", d.fakeDriver.removed)
	}
}

// TestLostNode: the sessions of a node down for longer than NodeLost
// fail as lost (one being stopped keeps its end), freeing capacity;
// before that they wait.
func TestLostNode(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		downFor   time.Duration
		state     airlock.SessionState
		wantState airlock.SessionState
		wantEnd   airlock.EndReason
	}{
		{"ok/waits", 5 * time.Minute, airlock.SessionReady, airlock.SessionReady, ""},
		{"ok/lost", 11 * time.Minute, airlock.SessionReady, airlock.SessionFailed, airlock.EndLost},
		{"ok/stopping-keeps-its-end", 11 * time.Minute, airlock.SessionStopping, airlock.SessionFailed, airlock.EndUser},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			n := &airlock.Node{ID: "n1", Name: "n1", URL: "https://x:2376", Capacity: 4, State: airlock.NodeDown,
				LastHeartbeat: now.Add(-tc.downFor), CreatedAt: now, UpdatedAt: now}
			if err := st.CreateNode(ctx, n); err != nil {
				t.Fatal(err)
			}
			s := sess("s1", tc.state, now.Add(-time.Hour), now.Add(-tc.downFor))
			s.NodeID, s.LastInputAt = n.ID, ptrTime(now)
			if tc.state == airlock.SessionStopping {
				s.EndReason = airlock.EndUser
			}
			if err := st.CreateSession(ctx, s); err != nil {
				t.Fatal(err)
			}
			d := &fakeDriver{pingErr: errors.New("no route to host")}
			j := newJobs(t, st, d, Config{HeartbeatTimeout: time.Hour}, nil, nil, func() time.Time { return now })
			_ = j.Round(ctx) // the down node's stopping session cannot be removed: an error, expected
			got, err := st.SessionByID(ctx, "s1")
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tc.wantState || got.EndReason != tc.wantEnd {
				t.Fatalf("state %s, end %q (%s); want %s, %q", got.State, got.EndReason, got.Reason, tc.wantState, tc.wantEnd)
			}
			if tc.wantEnd != "" && !strings.Contains(got.Reason, "unreachable for more than 10m") {
				t.Fatalf("reason %q", got.Reason)
			}
		})
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

// startingDriver is fakeDriver whose Start makes a container at once.
type startingDriver struct {
	*fakeDriver
	started []string
}

func (d *startingDriver) Start(_ context.Context, _ string, spec airlock.ContainerSpec) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.started = append(d.started, spec.Name)
	return "c-" + spec.Name, nil
}

// TestFillPool: a round recycles the warm sessions that waited longer
// than the pool's max age, stops those beyond its size (the newest
// first), launches the missing ones, and counts those still starting.
func TestFillPool(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { v := now.Add(-d); return &v }
	type warm struct {
		id    string
		state airlock.SessionState
		age   time.Duration
	}
	for _, tc := range []struct {
		name        string
		size        int
		have        []warm
		wantStopped []string
		wantStarts  int
	}{
		{"ok/fills-empty", 3, nil, nil, 3},
		{"ok/counts-starting", 3, []warm{{"a", airlock.SessionWarm, time.Minute}, {"b", airlock.SessionStarting, time.Second}}, nil, 1},
		{"ok/recycles-old", 2, []warm{{"old", airlock.SessionWarm, 2 * time.Hour}, {"new", airlock.SessionWarm, time.Minute}}, []string{"old"}, 1},
		{"ok/shrinks-newest-first", 1, []warm{{"older", airlock.SessionWarm, 30 * time.Minute}, {"newer", airlock.SessionWarm, time.Minute}}, []string{"newer"}, 0},
		{"ok/empty-pool-stops-all", 0, []warm{{"a", airlock.SessionWarm, time.Minute}, {"b", airlock.SessionWarm, 2 * time.Minute}}, []string{"a", "b"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := storeWithNode(t, now, nil)
			n, err := st.NodeByID(ctx, "n1")
			if err != nil {
				t.Fatal(err)
			}
			n.Isolation = []airlock.Isolation{airlock.IsolationStandard}
			if err := st.UpdateNode(ctx, n); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateWorkspace(ctx, &airlock.Workspace{ID: "w1", Name: "w1", Image: "x", Isolation: airlock.IsolationStandard}); err != nil {
				t.Fatal(err)
			}
			if err := st.SetPool(ctx, &airlock.Pool{WorkspaceID: "w1", Size: tc.size, MaxAge: time.Hour}); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.have {
				s := &airlock.Session{ID: w.id, WorkspaceID: "w1", NodeID: "n1", ContainerID: "airlock-" + w.id, State: w.state,
					CreatedAt: *ago(w.age), UpdatedAt: *ago(w.age), PooledAt: ago(w.age), LastHeartbeat: ago(time.Second), ReadyAt: ago(w.age)}
				if err := st.CreateSession(ctx, s); err != nil {
					t.Fatal(err)
				}
			}
			d := &startingDriver{fakeDriver: &fakeDriver{}}
			svc, err := sessions.New(sessions.Options{Store: st, Driver: d, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			j := New(st, d, inFlight{svc, nil}, Config{}, nil, func() time.Time { return now })
			if err := j.fillPools(ctx); err != nil {
				t.Fatal(err)
			}
			svc.Close() // the launches, which run in the background, are done
			var stopped []string
			for _, w := range tc.have {
				s, err := st.SessionByID(ctx, w.id)
				if err != nil {
					t.Fatal(err)
				}
				if s.State.Final() {
					stopped = append(stopped, w.id)
				}
			}
			slices.Sort(stopped)
			if !slices.Equal(stopped, tc.wantStopped) {
				t.Errorf("stopped %v, want %v", stopped, tc.wantStopped)
			}
			if len(d.started) != tc.wantStarts {
				t.Errorf("launched %d warm sessions, want %d", len(d.started), tc.wantStarts)
			}
			list, err := st.ListSessions(ctx, airlock.SessionFilter{WorkspaceID: "w1", States: airlock.ActiveStates})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range list {
				if !s.Pooled() || s.UserID != "" {
					t.Errorf("session %s of the pool: pooled %v, user %q", s.ID, s.Pooled(), s.UserID)
				}
			}
		})
	}
}

// Halt and Resume stop and start the fake container as dockerd would.
func (d *fakeDriver) Halt(_ context.Context, _ string, id string, _ time.Duration) error {
	return d.setState(id, "exited")
}

func (d *fakeDriver) Resume(_ context.Context, _ string, id string) error {
	return d.setState(id, "running")
}

func (d *fakeDriver) setState(id, state string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.containers {
		if d.containers[i].ID == id {
			d.containers[i].State = state
			return nil
		}
	}
	return fmt.Errorf("no container %s", id)
}

// answerDriver is fakeDriver whose ping, before it answers, runs during:
// what another writer does to the node while a round waits on its pings.
type answerDriver struct {
	*fakeDriver
	during func()
}

func (d *answerDriver) Ping(ctx context.Context, url string) error {
	d.during()
	return d.fakeDriver.Ping(ctx, url)
}

// TestNodeLivenessKeepsConcurrentWrites: a round holds the nodes it read
// while it pings them all (as long as the slowest, a dead node's, takes).
// What others write meanwhile must survive its liveness write: a
// renewal's new certificate serials (else the launcher refuses the node's
// new certificate and the node goes down for good), a new URL, and a
// heartbeat that answers for a node whose ping failed.
func TestNodeLivenessKeepsConcurrentWrites(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		pingErr   error
		wantState airlock.NodeState
	}{
		{"ok/answered", nil, airlock.NodeReady},
		{"ok/silent-but-heartbeated", errors.New("connection refused"), airlock.NodeReady},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := openStore(t)
			if err := st.CreateNode(ctx, &airlock.Node{ID: "n1", Name: "n1", URL: "https://old:2376", Capacity: 1, State: airlock.NodeReady,
				CertSerial: "a1", LastHeartbeat: now.Add(-time.Minute), CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			clock := now
			d := &answerDriver{fakeDriver: &fakeDriver{pingErr: tc.pingErr}, during: func() {
				// The node renews its certificate and heartbeats; its
				// record gets a new address.
				n, err := st.NodeByID(ctx, "n1")
				if err != nil {
					t.Error(err)
					return
				}
				n.CertPrevSerial, n.CertSerial, n.URL, n.LastHeartbeat = n.CertSerial, "b2", "https://new:2376", clock
				if err := st.UpdateNode(ctx, n); err != nil {
					t.Error(err)
				}
			}}
			j := newJobs(t, st, &fakeDriver{}, Config{}, nil, nil, func() time.Time { return clock })
			j.driver = d
			if err := j.Round(ctx); err != nil {
				t.Fatal(err)
			}
			n, err := st.NodeByID(ctx, "n1")
			if err != nil {
				t.Fatal(err)
			}
			if n.CertSerial != "b2" || n.CertPrevSerial != "a1" || n.URL != "https://new:2376" {
				t.Errorf("the round undid the writes made while it pinged: serial %q prev %q url %q, want b2, a1, https://new:2376",
					n.CertSerial, n.CertPrevSerial, n.URL)
			}
			if n.State != tc.wantState || !n.LastHeartbeat.Equal(clock) {
				t.Errorf("node %s heard from at %v, want %s at %v", n.State, n.LastHeartbeat, tc.wantState, clock)
			}
		})
	}
}
