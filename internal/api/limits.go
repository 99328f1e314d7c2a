package api

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// duration is a time.Duration as clients write and read it: a string
// such as "30m" or "8h" (Go's syntax), "0" or absent for the default.
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(airlock.FormatDuration(time.Duration(d)))
}

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"30m\" or \"8h\", not %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q is not one such as \"30m\", \"1h30m\" or \"8h\"", s)
	}
	*d = duration(v)
	return nil
}

// limitsSpec is a workspace's session limits as clients write and read
// them; each absent or "0" takes the deployment's default.
type limitsSpec struct {
	Idle        duration `json:"idle_timeout,omitempty"`
	ViewerIdle  duration `json:"viewer_idle_timeout,omitempty"`
	Lifetime    duration `json:"lifetime,omitempty"`
	MaxLifetime duration `json:"max_lifetime,omitempty"`
	// OnExpiry is remove or suspend ("" the deployment's default), and
	// ResumeGrace how long a suspended session may be resumed.
	OnExpiry    string   `json:"on_expiry,omitempty"`
	ResumeGrace duration `json:"resume_grace,omitempty"`
}

func (l limitsSpec) limits() airlock.Limits {
	return airlock.Limits{Idle: time.Duration(l.Idle), ViewerIdle: time.Duration(l.ViewerIdle),
		Lifetime: time.Duration(l.Lifetime), MaxLifetime: time.Duration(l.MaxLifetime),
		OnExpiry: airlock.ExpiryAction(l.OnExpiry), ResumeGrace: time.Duration(l.ResumeGrace)}
}

func viewLimits(l airlock.Limits) limitsSpec {
	return limitsSpec{Idle: duration(l.Idle), ViewerIdle: duration(l.ViewerIdle), Lifetime: duration(l.Lifetime), MaxLifetime: duration(l.MaxLifetime),
		OnExpiry: string(l.OnExpiry), ResumeGrace: duration(l.ResumeGrace)}
}
