package airlock

import (
	"fmt"
	"time"
)

// EndReason says, in one word a program can read, why a session ended.
// The session's Reason is the sentence for the user.
type EndReason string

const (
	// EndIdle: no viewer and no input for the idle timeout, or a viewer
	// connected but no input for the viewer idle timeout.
	EndIdle EndReason = "idle"
	// EndLifetime: the session reached its maximum lifetime.
	EndLifetime EndReason = "lifetime"
	// EndUser: its user ended it.
	EndUser EndReason = "user"
	// EndAdmin: an administrator ended it (or removed its node).
	EndAdmin EndReason = "admin"
	// EndLost: its container or its node went away behind Airlock's back.
	EndLost EndReason = "lost"
	// EndFailed: it could not start, or its agent or container failed.
	EndFailed EndReason = "failed"
)

// EndReasons lists every reason, for messages and documentation.
var EndReasons = []EndReason{EndIdle, EndLifetime, EndUser, EndAdmin, EndLost, EndFailed}

// ExpiryAction is what happens to a session when its idle or lifetime
// end comes.
type ExpiryAction string

const (
	// ExpireRemove removes the container: the session is over.
	ExpireRemove ExpiryAction = "remove"
	// ExpireSuspend stops the container and keeps it (its writable
	// layer, volumes and network) for the resume grace: its user may
	// resume it meanwhile, and it is removed after.
	ExpireSuspend ExpiryAction = "suspend"
)

// Limits bound a session's life. A zero field takes the deployment's
// default (see Or); the defaults are DefaultLimits.
type Limits struct {
	// Idle ends a session with no viewer connected and no input for this
	// long.
	Idle time.Duration
	// ViewerIdle ends a session whose viewer is connected but has sent no
	// input for this long: a tab left open over a weekend. At least Idle.
	ViewerIdle time.Duration
	// Lifetime is how long after its launch a session ends, however busy.
	Lifetime time.Duration
	// MaxLifetime is how far the user may extend a session's end, from
	// its launch; equal to Lifetime, no extension is allowed.
	MaxLifetime time.Duration
	// OnExpiry is what the end does to the session: remove (the
	// default) or suspend. A session whose lifetime ended and may not be
	// extended is removed either way: a resume could not run it.
	OnExpiry ExpiryAction
	// ResumeGrace is how long a suspended session waits for its user's
	// resume before it is removed.
	ResumeGrace time.Duration
}

// DefaultLimits are the limits of a deployment that sets none: half an
// hour unattended, four hours with a forgotten tab, a working day of
// life, extendable to a day; an expired session is removed, and
// a suspended session (when a workspace keeps them) waits a day.
var DefaultLimits = Limits{Idle: 30 * time.Minute, ViewerIdle: 4 * time.Hour, Lifetime: 12 * time.Hour, MaxLifetime: 24 * time.Hour,
	OnExpiry: ExpireRemove, ResumeGrace: 24 * time.Hour}

// MaxLimit bounds every limit: a session is not a server.
const MaxLimit = 30 * 24 * time.Hour

// Or fills l's zero fields from d. A MaxLifetime left to the default is
// never below the Lifetime set, and a ViewerIdle never below the Idle.
func (l Limits) Or(d Limits) Limits {
	out := l
	if out.Idle == 0 {
		out.Idle = d.Idle
	}
	if out.ViewerIdle == 0 {
		out.ViewerIdle = max(d.ViewerIdle, out.Idle)
	}
	if out.Lifetime == 0 {
		out.Lifetime = d.Lifetime
	}
	if out.MaxLifetime == 0 {
		out.MaxLifetime = max(d.MaxLifetime, out.Lifetime)
	}
	if out.OnExpiry == "" {
		out.OnExpiry = d.OnExpiry
	}
	if out.ResumeGrace == 0 {
		out.ResumeGrace = d.ResumeGrace
	}
	return out
}

// Validate checks limits as a workspace or a deployment writes them:
// each duration zero (the default) or whole seconds from 1s to MaxLimit,
// OnExpiry empty (the default), remove or suspend, with
// ViewerIdle at least Idle and MaxLifetime at least Lifetime when both
// are set.
func (l Limits) Validate() error {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"idle_timeout", l.Idle}, {"viewer_idle_timeout", l.ViewerIdle}, {"lifetime", l.Lifetime}, {"max_lifetime", l.MaxLifetime}, {"resume_grace", l.ResumeGrace}} {
		if f.d == 0 {
			continue
		}
		if f.d < time.Second || f.d > MaxLimit {
			return Errorf(EINVALID, "%s %s is out of range: give 0 (the deployment's default) or 1s to %s", f.name, f.d, FormatDuration(MaxLimit))
		}
		if f.d%time.Second != 0 {
			return Errorf(EINVALID, "%s %s: give whole seconds", f.name, f.d)
		}
	}
	switch l.OnExpiry {
	case "", ExpireRemove, ExpireSuspend:
	default:
		return Errorf(EINVALID, "on_expiry %q is not one of %q (the default) or %q", l.OnExpiry, ExpireRemove, ExpireSuspend)
	}
	if l.Idle != 0 && l.ViewerIdle != 0 && l.ViewerIdle < l.Idle {
		return Errorf(EINVALID, "viewer_idle_timeout %s is shorter than idle_timeout %s: a viewer that is connected but unused counts as idle after a longer time, not a shorter one",
			FormatDuration(l.ViewerIdle), FormatDuration(l.Idle))
	}
	if l.Lifetime != 0 && l.MaxLifetime != 0 && l.MaxLifetime < l.Lifetime {
		return Errorf(EINVALID, "max_lifetime %s is shorter than lifetime %s: max_lifetime is how far a user may extend the lifetime",
			FormatDuration(l.MaxLifetime), FormatDuration(l.Lifetime))
	}
	return nil
}

// FormatDuration writes d as Go does, to the second, without the zero
// units ("720h", not "720h0m0s").
func FormatDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	for _, z := range []string{"0s", "0m"} {
		if len(s) > len(z) && s[len(s)-len(z):] == z && s[len(s)-len(z)-1] >= 'a' {
			s = s[:len(s)-len(z)]
		}
	}
	return s
}

// Activity is what a session's agent last reported of its viewer, with
// when it was reported.
type Activity struct {
	// Viewer: a viewer was connected at the report.
	Viewer bool
	// InputIdle is how long before the report the last input came; the
	// agent measures it on its own clock, so the server's skew does not
	// enter.
	InputIdle time.Duration
}

// Ends is when and why a session ends if nothing changes: the earlier of
// its lifetime's end and its idle end.
type Ends struct {
	At     time.Time
	Reason EndReason
}

// SessionEnds is when session s ends under limits l (already filled with
// Or): its lifetime ends at ExpiresAt (or CreatedAt plus the lifetime);
// it goes idle Idle after the last sign of use (the last input, the last
// report of a connected viewer, or its start), or ViewerIdle after the
// last input while a viewer is connected.
func SessionEnds(s *Session, l Limits) Ends {
	life := s.CreatedAt.Add(l.Lifetime)
	if s.ExpiresAt != nil {
		life = *s.ExpiresAt
	}
	since := s.CreatedAt
	for _, p := range []*time.Time{s.ReadyAt, s.LastInputAt} {
		if p != nil && p.After(since) {
			since = *p
		}
	}
	idle := since.Add(l.Idle)
	if s.LastViewerAt != nil {
		// A viewer connected at the last report keeps the session alive
		// for ViewerIdle past the last input; one that left keeps it
		// for Idle past its last report.
		if s.ViewerConnected() {
			idle = later(idle, since.Add(l.ViewerIdle))
		} else {
			idle = later(idle, s.LastViewerAt.Add(l.Idle))
		}
	}
	if idle.Before(life) {
		return Ends{At: idle, Reason: EndIdle}
	}
	return Ends{At: life, Reason: EndLifetime}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Extend is the lifetime end of s, created at s.CreatedAt, extended at
// now under l: Lifetime from now, at most MaxLifetime from the launch.
// It fails when the policy allows no extension or the end is already as
// late as it may be.
func Extend(s *Session, l Limits, now time.Time) (time.Time, error) {
	limit := s.CreatedAt.Add(l.MaxLifetime)
	cur := s.CreatedAt.Add(l.Lifetime)
	if s.ExpiresAt != nil {
		cur = *s.ExpiresAt
	}
	want := now.Add(l.Lifetime)
	if want.After(limit) {
		want = limit
	}
	if !want.After(cur) {
		if l.MaxLifetime <= l.Lifetime {
			return cur, Errorf(ECONFLICT, "this workspace's sessions cannot be extended: they end %s after launch", FormatDuration(l.Lifetime))
		}
		return cur, Errorf(ECONFLICT, "the session already ends as late as its workspace allows (%s after launch)", FormatDuration(l.MaxLifetime))
	}
	return want, nil
}

// Extendable reports whether the lifetime of s may still be pushed
// later under l: the policy allows extensions and s has not reached the
// furthest end they may give.
func Extendable(s *Session, l Limits) bool {
	limit := s.CreatedAt.Add(l.MaxLifetime)
	return l.MaxLifetime > l.Lifetime && (s.ExpiresAt == nil || s.ExpiresAt.Before(limit))
}

// String is the limits as the CLI shows them.
func (l Limits) String() string {
	out := fmt.Sprintf("idle %s, viewer idle %s, lifetime %s (extendable to %s)",
		FormatDuration(l.Idle), FormatDuration(l.ViewerIdle), FormatDuration(l.Lifetime), FormatDuration(l.MaxLifetime))
	if l.OnExpiry == ExpireSuspend {
		out += fmt.Sprintf(", suspended at the end for %s", FormatDuration(l.ResumeGrace))
	}
	return out
}

// Suspends reports whether the end e of session s under l suspends it
// rather than removing it: the workspace keeps its sessions, and a
// resume could run it (an idle end, or a lifetime that may still be
// extended).
func Suspends(s *Session, l Limits, e Ends) bool {
	return l.OnExpiry == ExpireSuspend && (e.Reason == EndIdle || Extendable(s, l))
}
