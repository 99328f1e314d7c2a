package airlock

import (
	"strings"
	"testing"
	"time"
)

func TestSessionEnds(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
	l := Limits{Idle: 10 * time.Minute, ViewerIdle: time.Hour, Lifetime: 8 * time.Hour, MaxLifetime: 12 * time.Hour}
	for _, tc := range []struct {
		name   string
		s      Session
		at     time.Duration
		reason EndReason
	}{
		{"never-used/idle-after-start", Session{CreatedAt: t0}, 10 * time.Minute, EndIdle},
		{"ready-later/idle-from-ready", Session{CreatedAt: t0, ReadyAt: at(time.Minute)}, 11 * time.Minute, EndIdle},
		{"input/idle-from-input", Session{CreatedAt: t0, ReadyAt: at(time.Minute), LastInputAt: at(2 * time.Hour)},
			2*time.Hour + 10*time.Minute, EndIdle},
		// Viewer connected at the last heartbeat: the longer timeout,
		// from the last input.
		{"viewer-connected/viewer-idle", Session{CreatedAt: t0, LastInputAt: at(time.Hour), LastViewerAt: at(90 * time.Minute),
			LastHeartbeat: at(90 * time.Minute)}, 2 * time.Hour, EndIdle},
		{"viewer-connected-no-input/viewer-idle-from-start", Session{CreatedAt: t0, LastViewerAt: at(30 * time.Minute),
			LastHeartbeat: at(30 * time.Minute)}, time.Hour, EndIdle},
		// The viewer left: Idle after the last report that had one.
		{"viewer-left/idle-from-last-viewer", Session{CreatedAt: t0, LastInputAt: at(time.Hour), LastViewerAt: at(3 * time.Hour),
			LastHeartbeat: at(3*time.Hour + 10*time.Second)}, 3*time.Hour + 10*time.Minute, EndIdle},
		{"busy/lifetime", Session{CreatedAt: t0, LastInputAt: at(8 * time.Hour), LastViewerAt: at(8 * time.Hour),
			LastHeartbeat: at(8 * time.Hour)}, 8 * time.Hour, EndLifetime},
		{"extended/lifetime-at-expires", Session{CreatedAt: t0, ExpiresAt: at(10 * time.Hour), LastInputAt: at(10 * time.Hour)},
			10 * time.Hour, EndLifetime},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := SessionEnds(&tc.s, l)
			if !got.At.Equal(t0.Add(tc.at)) || got.Reason != tc.reason {
				t.Errorf("ends at +%s (%s), want +%s (%s)", got.At.Sub(t0), got.Reason, tc.at, tc.reason)
			}
		})
	}
}

func TestExtend(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
	for _, tc := range []struct {
		name string
		l    Limits
		s    Session
		now  time.Duration
		want time.Duration
		err  string
	}{
		{name: "ok/lifetime-from-now", l: Limits{Lifetime: time.Hour, MaxLifetime: 4 * time.Hour},
			s: Session{CreatedAt: t0, ExpiresAt: at(time.Hour)}, now: 50 * time.Minute, want: 110 * time.Minute},
		{name: "ok/capped-at-max", l: Limits{Lifetime: time.Hour, MaxLifetime: 2 * time.Hour},
			s: Session{CreatedAt: t0, ExpiresAt: at(110 * time.Minute)}, now: 100 * time.Minute, want: 2 * time.Hour},
		{name: "ok/no-expires-yet", l: Limits{Lifetime: time.Hour, MaxLifetime: 2 * time.Hour},
			s: Session{CreatedAt: t0}, now: 30 * time.Minute, want: 90 * time.Minute},
		{name: "err/no-extension-allowed", l: Limits{Lifetime: time.Hour, MaxLifetime: time.Hour},
			s: Session{CreatedAt: t0, ExpiresAt: at(time.Hour)}, now: 50 * time.Minute, err: "cannot be extended"},
		{name: "err/already-at-max", l: Limits{Lifetime: time.Hour, MaxLifetime: 2 * time.Hour},
			s: Session{CreatedAt: t0, ExpiresAt: at(2 * time.Hour)}, now: 110 * time.Minute, err: "as late as its workspace allows (2h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Extend(&tc.s, tc.l, t0.Add(tc.now))
			if tc.err != "" {
				if ErrorCode(err) != ECONFLICT || !strings.Contains(ErrorMessage(err), tc.err) {
					t.Fatalf("err %v, want ECONFLICT containing %q", err, tc.err)
				}
				return
			}
			if err != nil || !got.Equal(t0.Add(tc.want)) {
				t.Fatalf("extended to +%s, %v; want +%s", got.Sub(t0), err, tc.want)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	d := Limits{Idle: time.Minute, ViewerIdle: time.Hour, Lifetime: 2 * time.Hour, MaxLifetime: 3 * time.Hour, OnExpiry: ExpireRemove, ResumeGrace: time.Hour}
	if got := (Limits{}).Or(d); got != d {
		t.Errorf("zero limits take %+v, want the defaults %+v", got, d)
	}
	// A workspace's longer values lift the defaults that must stay above them.
	got := Limits{Idle: 2 * time.Hour, Lifetime: 5 * time.Hour}.Or(d)
	if want := (Limits{Idle: 2 * time.Hour, ViewerIdle: 2 * time.Hour, Lifetime: 5 * time.Hour, MaxLifetime: 5 * time.Hour, OnExpiry: ExpireRemove, ResumeGrace: time.Hour}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, tc := range []struct {
		name string
		l    Limits
		err  string
	}{
		{"ok/zero", Limits{}, ""},
		{"ok/full", d, ""},
		{"err/negative", Limits{Idle: -time.Second}, "idle_timeout -1s is out of range"},
		{"err/too-long", Limits{Lifetime: 31 * 24 * time.Hour}, "lifetime 744h0m0s is out of range: give 0 (the deployment's default) or 1s to 720h"},
		{"err/fraction", Limits{Idle: 1500 * time.Millisecond}, "give whole seconds"},
		{"err/viewer-shorter", Limits{Idle: time.Hour, ViewerIdle: time.Minute}, "viewer_idle_timeout 1m is shorter than idle_timeout 1h"},
		{"err/max-shorter", Limits{Lifetime: time.Hour, MaxLifetime: time.Minute}, "max_lifetime 1m is shorter than lifetime 1h"},
		{"ok/suspend", Limits{OnExpiry: ExpireSuspend, ResumeGrace: 2 * time.Hour}, ""},
		{"err/on-expiry", Limits{OnExpiry: "pause"}, `on_expiry "pause" is not one of "remove" (the default) or "suspend"`},
		{"err/grace-too-long", Limits{ResumeGrace: 31 * 24 * time.Hour}, "resume_grace 744h0m0s is out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.l.Validate()
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), tc.err) {
				t.Fatalf("err %v, want EINVALID containing %q", err, tc.err)
			}
		})
	}
}

// TestSuspends: a workspace that keeps its sessions suspends one at an
// idle end, and at a lifetime end only while the lifetime may still be
// extended (a resume could not run it otherwise).
func TestSuspends(t *testing.T) {
	launch := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s := &Session{CreatedAt: launch}
	keep := Limits{Idle: time.Minute, ViewerIdle: time.Hour, Lifetime: time.Hour, MaxLifetime: 2 * time.Hour, OnExpiry: ExpireSuspend, ResumeGrace: time.Hour}
	fixed := keep
	fixed.MaxLifetime = keep.Lifetime
	remove := keep
	remove.OnExpiry = ExpireRemove
	for _, tc := range []struct {
		name string
		l    Limits
		end  EndReason
		want bool
	}{
		{"idle", keep, EndIdle, true},
		{"lifetime-extendable", keep, EndLifetime, true},
		{"lifetime-fixed", fixed, EndLifetime, false},
		{"idle-fixed-lifetime", fixed, EndIdle, true},
		{"remove", remove, EndIdle, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Suspends(s, tc.l, Ends{At: launch, Reason: tc.end}); got != tc.want {
				t.Errorf("Suspends = %v, want %v", got, tc.want)
			}
		})
	}
}
