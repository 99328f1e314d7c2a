package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/apiclient"
)

// errChainBroken: the verdict is printed; the exit status says it too.
var errChainBroken = errors.New("the audit chain is broken")

// auditCall parses `audit ls` or `export` (args[0]): the filter flags
// (listing adds the paging ones) and those more declares, then the
// client. Bad flags are refused before a config is needed.
func auditCall(connect Connect, args []string, stderr io.Writer, listing bool, more func(*flag.FlagSet)) (*Client, apiclient.AuditFilter, error) {
	fs := NewFlags("audit "+args[0], stderr)
	var f AuditFlags
	f.Register(fs, listing)
	more(fs)
	if err := ParseFlags(fs, args[1:]); err != nil {
		return nil, apiclient.AuditFilter{}, err
	}
	filter, err := f.Filter(time.Now())
	if err != nil {
		return nil, apiclient.AuditFilter{}, err
	}
	c, err := connect()
	return c, filter, err
}

// Audit is `airlock audit`: list, export and verify the audit log; verify
// --file checks an export offline, without a config.
func Audit(ctx context.Context, connect Connect, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usage(stderr, "usage: airlock audit ls|export|verify")
	}
	switch args[0] {
	case "ls":
		var asJSON *string
		c, filter, err := auditCall(connect, args, stderr, true, func(fs *flag.FlagSet) {
			asJSON = fs.String("o", "", "json: the events as the api answers")
		})
		if err != nil {
			return err
		}
		page, err := c.ListAudit(ctx, filter)
		if err != nil {
			return err
		}
		if *asJSON == "json" {
			// next_before always present, as this has always printed it.
			return printJSON(stdout, struct {
				Events     []airlock.AuditLine `json:"events"`
				NextBefore int64               `json:"next_before"`
			}{page.Events, page.NextBefore})
		}
		var rows [][]string
		for _, e := range page.Events {
			rows = append(rows, []string{strconv.FormatInt(e.ID, 10), e.Time, e.Actor, e.Action, e.Target, e.Outcome, e.Client, oneLine(e.Detail)})
		}
		table(stdout, "ID\tTIME\tACTOR\tACTION\tTARGET\tOUTCOME\tCLIENT\tDETAIL", rows)
		if page.NextBefore != 0 {
			fmt.Fprintf(stderr, "older events: add --before %d\n", page.NextBefore)
		}
		return nil
	case "export":
		var out *string
		c, filter, err := auditCall(connect, args, stderr, false, func(fs *flag.FlagSet) {
			out = fs.String("out", "-", "file to write the JSON lines to (default standard output)")
		})
		if err != nil {
			return err
		}
		if *out == "-" {
			return c.ExportAudit(ctx, filter, stdout)
		}
		// O_EXCL: an export never overwrites an earlier one.
		file, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("audit export: %w", err)
		}
		defer file.Close()
		if err := c.ExportAudit(ctx, filter, file); err != nil {
			return err
		}
		return file.Close()
	case "verify":
		fs := NewFlags("audit verify", stderr)
		file := fs.String("file", "", "check this export offline, without the server (- for standard input)")
		partial := fs.Bool("partial", false, "with --file: the export is filtered or starts midway; check each record and the links between consecutive IDs")
		asJSON := fs.String("o", "", "json: the verdict as JSON")
		if err := ParseFlags(fs, args[1:]); err != nil {
			return err
		}
		var v *airlock.AuditVerification
		if *file != "" {
			var err error
			if v, err = VerifyAuditFile(*file, stdin, *partial); err != nil {
				return err
			}
		} else {
			if *partial {
				return usage(stderr, "airlock audit verify: --partial goes with --file")
			}
			c, err := connect()
			if err != nil {
				return err
			}
			if v, err = c.VerifyAudit(ctx); err != nil {
				return err
			}
		}
		if *asJSON == "json" {
			if err := printJSON(stdout, v); err != nil {
				return err
			}
		} else {
			fmt.Fprintln(stdout, DescribeVerification(v))
		}
		if !v.OK() {
			return errChainBroken
		}
		return nil
	}
	return usage(stderr, "airlock audit: unknown command %q (ls, export, verify)", args[0])
}

// oneLine keeps a table row on one line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		s = strings.ToValidUTF8(s[:77], "") + "..."
	}
	return s
}

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

// Filter is the flags as the api's filter, times made absolute at now. A
// time that is neither RFC 3339 nor a duration is refused naming its
// flag; the server judges the rest.
func (f *AuditFlags) Filter(now time.Time) (apiclient.AuditFilter, error) {
	out := apiclient.AuditFilter{Actor: f.Actor, Action: f.Action, Target: f.Target, Outcome: f.Outcome, Limit: f.Limit, Before: f.Before}
	for _, t := range []struct {
		flag, v string
		into    *time.Time
	}{{"since", f.Since, &out.Since}, {"until", f.Until, &out.Until}} {
		if t.v == "" {
			continue
		}
		when, err := whenOf(t.v, now)
		if err != nil {
			return apiclient.AuditFilter{}, fmt.Errorf("--%s %q: %w", t.flag, t.v, err)
		}
		*t.into = when
	}
	return out, nil
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
