package cli

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// AuditFlags are the filters of `airlock audit ls` and `export`.
type AuditFlags struct {
	Actor, Action, Target, Outcome, Since, Until string
	// Limit and Before page a listing; an export has neither.
	Limit  int
	Before int64
}

// Register adds the filter flags to fs; listing adds --limit and
// --before.
func (f *AuditFlags) Register(fs *flag.FlagSet, listing bool) {
	fs.StringVar(&f.Actor, "actor", "", "only this actor: a user name, node:NAME, agent, system")
	fs.StringVar(&f.Action, "action", "", "only this action (auth.login), or a prefix ending in . (session.)")
	fs.StringVar(&f.Target, "target", "", "only events on this target (a session ID, a user name, …)")
	fs.StringVar(&f.Outcome, "outcome", "", "only success or failure")
	fs.StringVar(&f.Since, "since", "", "from this time on: RFC 3339 (2025-06-01T12:00:00Z) or a duration ago (24h)")
	fs.StringVar(&f.Until, "until", "", "before this time: RFC 3339 or a duration ago")
	if listing {
		fs.IntVar(&f.Limit, "limit", 50, "at most this many events, newest first (1 to 1000)")
		fs.Int64Var(&f.Before, "before", 0, "only events older than this ID (the next page)")
	}
}

// Query is the flags as the api's query string, times made absolute at
// now. A time that is neither RFC 3339 nor a duration is refused naming
// its flag; the server judges the rest.
func (f *AuditFlags) Query(now time.Time) (string, error) {
	q := url.Values{}
	for k, v := range map[string]string{"actor": f.Actor, "action": f.Action, "target": f.Target, "outcome": f.Outcome} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for k, v := range map[string]string{"since": f.Since, "until": f.Until} {
		if v == "" {
			continue
		}
		t, err := whenOf(v, now)
		if err != nil {
			return "", fmt.Errorf("--%s %q: %w", k, v, err)
		}
		q.Set(k, t.UTC().Format(time.RFC3339Nano))
	}
	if f.Limit != 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Before != 0 {
		q.Set("before", strconv.FormatInt(f.Before, 10))
	}
	return q.Encode(), nil
}

func whenOf(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("not an RFC 3339 time (2025-06-01T12:00:00Z) nor a duration ago (24h)")
	}
	return now.Add(-d), nil
}

// VerifyAuditFile checks an export offline (see
// airlock.VerifyAuditLines); path "-" is standard input.
func VerifyAuditFile(path string, stdin io.Reader, partial bool) (*airlock.AuditVerification, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("audit export: %w", err)
		}
		defer f.Close()
		r = f
	}
	v, err := airlock.VerifyAuditLines(r, partial)
	if err != nil {
		return nil, fmt.Errorf("audit export %s: %w", path, err)
	}
	return v, nil
}

// DescribeVerification is the verdict in a sentence or two, for people.
func DescribeVerification(v *airlock.AuditVerification) string {
	if !v.OK() {
		b := v.Broken
		return fmt.Sprintf("audit chain BROKEN at record %d (%s): expected %s, found %s", b.ID, b.Problem, b.Expected, b.Found)
	}
	s := fmt.Sprintf("audit chain intact: %d records", v.Records)
	if v.Records > 0 {
		s += fmt.Sprintf(", IDs %d to %d; head %s (keep it: a later check must pass through it)", v.FirstID, v.LastID, v.Head)
	}
	if v.Unchained > 0 {
		s += fmt.Sprintf("; %d earlier records predate the chain and are not vouched for", v.Unchained)
	}
	if v.Gaps > 0 {
		s += fmt.Sprintf("; %d gaps in the IDs (a filtered export: links across them are not checked)", v.Gaps)
	}
	return s
}
