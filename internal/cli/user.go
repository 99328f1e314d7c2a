package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/airlock-rbi/airlock/internal/apiclient"
)

// User is `airlock user`: accounts, passwords, and a user's effective
// policy.
func User(ctx context.Context, connect Connect, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usage(stderr, "usage: airlock user add|ls|rm|passwd|reset|policy")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	switch args[0] {
	case "ls":
		list, err := c.ListUsers(ctx)
		if err != nil {
			return err
		}
		var rows [][]string
		for _, u := range list {
			rows = append(rows, []string{u.Name, u.Role})
		}
		table(stdout, "NAME\tROLE", rows)
		return nil
	case "add":
		if !named(args[1:]) {
			return usage(stderr, "usage: airlock user add NAME [--role user|admin] [--max-sessions N] (password from AIRLOCK_NEW_PASSWORD or stdin)")
		}
		fs := NewFlags("user add", stderr)
		role := fs.String("role", "user", "user or admin")
		maxSessions := fs.Int("max-sessions", 0, "active session limit (0: server default)")
		if err := ParseFlags(fs, args[2:]); err != nil {
			return err
		}
		pw := os.Getenv("AIRLOCK_NEW_PASSWORD")
		if pw == "" {
			line, err := bufio.NewReader(os.Stdin).ReadString('\n')
			if err != nil && line == "" {
				return fmt.Errorf("give the new password in AIRLOCK_NEW_PASSWORD or on stdin")
			}
			pw = strings.TrimRight(line, "\r\n")
		}
		if _, err := c.CreateUser(ctx, apiclient.CreateUserRequest{Name: args[1], Password: pw, Role: *role, MaxSessions: *maxSessions}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s added\n", args[1])
		return nil
	case "rm":
		if len(args) != 2 {
			return usage(stderr, "usage: airlock user rm NAME")
		}
		return c.DeleteUser(ctx, args[1])
	case "policy":
		return userPolicy(ctx, c, args, stdout, stderr)
	case "passwd":
		if len(args) != 1 {
			return usage(stderr, "usage: airlock user passwd (current password from AIRLOCK_PASSWORD, new from AIRLOCK_NEW_PASSWORD; else asked, or one line each on stdin)")
		}
		sec := NewSecrets(stderr)
		cur, err := sec.Get("AIRLOCK_PASSWORD", "current password", false)
		if err != nil {
			return err
		}
		pw, err := sec.Get("AIRLOCK_NEW_PASSWORD", "new password", true)
		if err != nil {
			return err
		}
		res, err := c.ChangePassword(ctx, cur, pw)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password changed; %d web sessions signed out (API tokens stay valid)\n", res.WebSessionsEnded)
		return nil
	case "reset":
		if len(args) != 2 || !named(args[1:]) {
			return usage(stderr, "usage: airlock user reset NAME (new password from AIRLOCK_NEW_PASSWORD; else asked, or a line on stdin)")
		}
		pw, err := NewSecrets(stderr).Get("AIRLOCK_NEW_PASSWORD", "new password for "+args[1], true)
		if err != nil {
			return err
		}
		res, err := c.ResetPassword(ctx, args[1], pw)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s reset; %d web sessions signed out\n", args[1], res.WebSessionsEnded)
		return nil
	}
	return usage(stderr, "airlock user: unknown command %q (add, ls, rm, passwd, reset, policy)", args[0])
}

// userPolicy is `airlock user policy NAME`: the effective policy of a
// user per workspace, each value with the rule it came from.
func userPolicy(ctx context.Context, c *Client, args []string, stdout, stderr io.Writer) error {
	if !named(args[1:]) {
		return usage(stderr, "usage: airlock user policy NAME|me [--workspace W] [-o json]")
	}
	fs := NewFlags("user policy", stderr)
	only := fs.String("workspace", "", "only this workspace")
	asJSON := fs.String("o", "", "json: the policy as the api answers")
	if err := ParseFlags(fs, args[2:]); err != nil {
		return err
	}
	pol, err := c.UserPolicy(ctx, args[1], *only)
	if err != nil {
		return err
	}
	if *asJSON == "json" {
		return printJSON(stdout, policyJSONOf(pol))
	}
	fmt.Fprintf(stdout, "user %s, groups %s; at most %d sessions\n", pol.User, strings.Join(pol.Groups, ", "), pol.MaxSessions)
	var rows [][]string
	for _, w := range pol.Workspaces {
		if !w.Granted {
			rows = append(rows, []string{w.Workspace, "-", "not granted", ""})
			continue
		}
		for _, f := range w.Fields {
			if f.Name == "max_sessions" {
				continue // the user's, said above
			}
			rows = append(rows, []string{w.Workspace, f.Name, f.Value, f.Source.Text})
		}
	}
	table(stdout, "WORKSPACE\tFIELD\tVALUE\tFROM", rows)
	return nil
}

// policyJSON is a user's policy as `user policy -o json` has always
// printed it: each field's name, value and source under Go's names (Name,
// Value, Source.Text) rather than the api's.
type policyJSON struct {
	User        string                `json:"user"`
	Groups      []string              `json:"groups"`
	MaxSessions int                   `json:"max_sessions"`
	Workspaces  []workspacePolicyJSON `json:"workspaces"`
}

type workspacePolicyJSON struct {
	Workspace string            `json:"workspace"`
	Granted   bool              `json:"granted"`
	GrantedBy []string          `json:"granted_by"`
	Fields    []policyFieldJSON `json:"fields"`
}

type policyFieldJSON struct {
	Name, Value string
	Source      struct{ Text string }
}

// policyJSONOf keeps the api's empty lists empty and its absent ones
// null, as printing the answer did.
func policyJSONOf(p *apiclient.UserPolicy) policyJSON {
	out := policyJSON{User: p.User, Groups: p.Groups, MaxSessions: p.MaxSessions}
	if p.Workspaces != nil {
		out.Workspaces = make([]workspacePolicyJSON, 0, len(p.Workspaces))
	}
	for _, w := range p.Workspaces {
		o := workspacePolicyJSON{Workspace: w.Workspace, Granted: w.Granted, GrantedBy: w.GrantedBy}
		if w.Fields != nil {
			o.Fields = make([]policyFieldJSON, 0, len(w.Fields))
		}
		for _, f := range w.Fields {
			pf := policyFieldJSON{Name: f.Name, Value: f.Value}
			pf.Source.Text = f.Source.Text
			o.Fields = append(o.Fields, pf)
		}
		out.Workspaces = append(out.Workspaces, o)
	}
	return out
}
