package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/airlock-rbi/airlock/internal/apiclient"
)

// Session is `airlock session`: launch, list, show, extend, resume and
// end sessions.
func Session(ctx context.Context, connect Connect, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usage(stderr, "usage: airlock session create|ls|show|extend|resume|rm")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	switch args[0] {
	case "create":
		return createSession(ctx, c, args[1:], stdout, stderr)
	case "resume":
		fs := NewFlags("session resume", stderr)
		wait := fs.Bool("wait", false, "wait until the session is ready (or failed)")
		timeout := fs.Duration("timeout", 2*time.Minute, "how long --wait waits")
		if !named(args[1:]) {
			return usage(stderr, "usage: airlock session resume ID [--wait]")
		}
		if err := ParseFlags(fs, args[2:]); err != nil {
			return err
		}
		s, err := c.ResumeSession(ctx, args[1])
		if err != nil {
			return err
		}
		if *wait {
			if s, err = waitSession(ctx, c, s, *timeout); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "%s %s\n", s.ID, s.State)
		return nil
	case "ls":
		fs := NewFlags("session ls", stderr)
		all := fs.Bool("all", false, "every user's sessions (admin)")
		out := fs.String("o", "table", "output: table or json")
		if err := ParseFlags(fs, args[1:]); err != nil {
			return err
		}
		list, err := c.ListSessions(ctx, *all)
		if err != nil {
			return err
		}
		if *out == "json" {
			rows := make([]sessionJSON, 0, len(list))
			for _, s := range list {
				rows = append(rows, sessionJSONOf(s))
			}
			return printJSON(stdout, rows)
		}
		var rows [][]string
		for _, s := range list {
			rows = append(rows, []string{s.ID, s.State, ago(s.CreatedAt), ends(s), s.Reason})
		}
		table(stdout, "ID\tSTATE\tCREATED\tENDS\tREASON", rows)
		return nil
	case "show":
		fs := NewFlags("session show", stderr)
		if !named(args[1:]) {
			return usage(stderr, "usage: airlock session show ID [-o json]")
		}
		out := fs.String("o", "table", "output: table or json")
		if err := ParseFlags(fs, args[2:]); err != nil {
			return err
		}
		// As the api words it: its times as it wrote them, and with -o
		// json every field, those this client does not know too.
		raw, err := c.SessionJSON(ctx, args[1])
		if err != nil {
			return err
		}
		var fields map[string]any
		if err := json.Unmarshal(raw, &fields); err != nil {
			return fmt.Errorf("session %s: %w", args[1], err)
		}
		if *out == "json" {
			return printJSON(stdout, fields)
		}
		for _, k := range []string{"id", "state", "reason", "end_reason", "workspace_id", "node_id", "container", "created_at", "ready_at",
			"expires_at", "ends_at", "ends_for", "resume_by", "stopped_at"} {
			if v, ok := fields[k]; ok {
				fmt.Fprintf(stdout, "%-13s %v\n", k+":", v)
			}
		}
		return nil
	case "rm":
		if len(args) != 2 {
			return usage(stderr, "usage: airlock session rm ID")
		}
		s, err := c.DeleteSession(ctx, args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s\n", s.ID, s.State)
		return nil
	case "extend":
		if len(args) != 2 {
			return usage(stderr, "usage: airlock session extend ID")
		}
		s, err := c.ExtendSession(ctx, args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s ends %s\n", s.ID, ends(*s))
		return nil
	}
	return usage(stderr, "airlock session: unknown command %q (create, ls, show, extend, resume, rm)", args[0])
}

// createSession is `airlock session create WORKSPACE`: it prints the
// new session's ID, once ready with --wait.
func createSession(ctx context.Context, c *Client, args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("session create", stderr)
	wait := fs.Bool("wait", false, "wait until the session is ready (or failed)")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long --wait waits")
	locale := fs.String("locale", "", "the session's language, a BCP 47 tag such as ja-JP (default: the workspace's, else en-US)")
	timeZone := fs.String("timezone", "", "the session's IANA time zone such as Asia/Tokyo (default: the workspace's, else UTC)")
	scale := fs.Float64("scale", 0, "device scale factor for a HiDPI viewer, 1 to 4 (at most the workspace's max_scale; default 1)")
	if !named(args) {
		return usage(stderr, "usage: airlock session create WORKSPACE [--wait] [--locale TAG] [--timezone NAME] [--scale N]")
	}
	if err := ParseFlags(fs, args[1:]); err != nil {
		return err
	}
	s, err := c.CreateSession(ctx, apiclient.CreateSessionRequest{Workspace: args[0], Locale: *locale, TimeZone: *timeZone, Scale: *scale})
	if err != nil {
		return err
	}
	if *wait {
		if s, err = waitSession(ctx, c, s, *timeout); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, s.ID)
	return nil
}

// waitSession long-polls session s until it has settled, for at most
// timeout; a failed session is an error.
func waitSession(ctx context.Context, c *Client, s *apiclient.Session, timeout time.Duration) (*apiclient.Session, error) {
	deadline := time.Now().Add(timeout)
	for !s.Settled() {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("session %s is still %s after %s", s.ID, s.State, timeout)
		}
		var err error
		if s, err = c.WaitSession(ctx, s.ID, min(left, 30*time.Second).Round(time.Millisecond)); err != nil {
			return nil, err
		}
	}
	if s.State == "failed" {
		return nil, fmt.Errorf("session %s failed: %s", s.ID, s.Reason)
	}
	return s, nil
}

// ends is when a running session ends and why, or why it ended (and,
// suspended, how long it may be resumed).
func ends(s apiclient.Session) string {
	if s.State == "suspended" && s.ResumeBy != nil {
		return fmt.Sprintf("suspended (%s); resume within %s", s.EndReason, time.Until(*s.ResumeBy).Round(time.Second))
	}
	if s.EndReason != "" {
		return s.EndReason
	}
	if s.EndsAt == nil {
		return "-"
	}
	return fmt.Sprintf("in %s (%s)", time.Until(*s.EndsAt).Round(time.Second), s.EndsFor)
}

// sessionJSON is a session as `session ls -o json` prints it: these
// fields, each always present, whatever else the api sends.
type sessionJSON struct {
	ID        string     `json:"id"`
	Workspace string     `json:"workspace_id"`
	Node      string     `json:"node_id"`
	State     string     `json:"state"`
	Reason    string     `json:"reason"`
	EndReason string     `json:"end_reason"`
	EndsAt    *time.Time `json:"ends_at"`
	EndsFor   string     `json:"ends_for"`
	ResumeBy  *time.Time `json:"resume_by"`
	CreatedAt time.Time  `json:"created_at"`
}

func sessionJSONOf(s apiclient.Session) sessionJSON {
	return sessionJSON{ID: s.ID, Workspace: s.Workspace, Node: s.Node, State: s.State, Reason: s.Reason, EndReason: s.EndReason,
		EndsAt: s.EndsAt, EndsFor: s.EndsFor, ResumeBy: s.ResumeBy, CreatedAt: s.CreatedAt}
}
