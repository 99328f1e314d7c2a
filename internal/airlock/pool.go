package airlock

import "time"

// Pool is a workspace's warm pool: Size sessions started and registered
// ahead of any launch, handed out as launches come and refilled; one that
// waited MaxAge is recycled.
type Pool struct {
	WorkspaceID string
	Size        int
	MaxAge      time.Duration
	UpdatedAt   time.Time
}

// MaxPoolSize bounds a pool: it holds containers, memory and a node's
// room for no one yet.
const MaxPoolSize = 100

// DefaultPoolMaxAge is how long a warm session waits before it is
// recycled, unless its pool says otherwise: long enough that a steady
// pool is not churned, short enough that a page opened at start (and the
// browser's state) is not days old.
const DefaultPoolMaxAge = time.Hour

// Validate checks a pool as an administrator sets it, filling MaxAge.
func (p *Pool) Validate() error {
	if p.Size < 0 || p.Size > MaxPoolSize {
		return Errorf(EINVALID, "pool size %d is out of range: 0 (no pool) to %d", p.Size, MaxPoolSize)
	}
	if p.MaxAge == 0 {
		p.MaxAge = DefaultPoolMaxAge
	}
	if p.MaxAge < time.Minute || p.MaxAge > MaxLimit {
		return Errorf(EINVALID, "pool max_age %s is out of range: 1m to %s", FormatDuration(p.MaxAge), FormatDuration(MaxLimit))
	}
	return nil
}

// Handout is what a warm session takes when it is handed out.
type Handout struct {
	UserID    string
	LaunchKey string
	ExpiresAt time.Time
	// Viewer is the launching browser's settings, which the session's
	// agent applies at the hand-out.
	Viewer Viewer
	// Policy is what the user's groups set for the session (it never
	// sets a launch-time field: see Policy.LaunchTime).
	Policy Policy
}
