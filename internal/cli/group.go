package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/apiclient"
)

const groupUsage = "usage: airlock group ls | show NAME | create NAME [flags] | set NAME [flags] | rm NAME | add NAME USER | remove NAME USER"

// Group is `airlock group`: groups, what they grant and set, and their
// members.
func Group(ctx context.Context, connect Connect, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usage(stderr, groupUsage)
	}
	c, err := connect()
	if err != nil {
		return err
	}
	switch args[0] {
	case "ls":
		list, err := c.ListGroups(ctx)
		if err != nil {
			return err
		}
		var rows [][]string
		for _, g := range list {
			rows = append(rows, []string{g.Name, strconv.Itoa(g.Priority), strconv.Itoa(g.Members), grantsOf(g.GroupSpec), PolicyText(g.Policy)})
		}
		table(stdout, "NAME\tPRIORITY\tMEMBERS\tGRANTS\tPOLICY", rows)
		return nil
	case "show":
		if len(args) != 2 {
			return usage(stderr, "usage: airlock group show NAME")
		}
		g, err := c.Group(ctx, args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "name:        %s\ndescription: %s\npriority:    %d\ngrants:      %s\npolicy:      %s\nidp groups:  %s\n",
			g.Name, g.Description, g.Priority, grantsOf(g.GroupSpec), PolicyText(g.Policy), strings.Join(g.IdPGroups, ", "))
		if g.BuiltIn {
			fmt.Fprintf(stdout, "members:     every user (%d)\n", g.Members)
			return nil
		}
		var rows [][]string
		for _, m := range g.MemberList {
			rows = append(rows, []string{m.User, m.Source, m.Since.Local().Format(time.DateTime)})
		}
		fmt.Fprintf(stdout, "members:     %d\n", g.Members)
		if len(rows) > 0 {
			table(stdout, "USER\tSOURCE\tSINCE", rows)
		}
		return nil
	case "create", "set":
		return writeGroup(ctx, c, args, stdout, stderr)
	case "rm":
		if len(args) != 2 {
			return usage(stderr, "usage: airlock group rm NAME")
		}
		return c.DeleteGroup(ctx, args[1])
	case "add", "remove":
		if len(args) != 3 {
			return usage(stderr, "usage: airlock group %s NAME USER", args[0])
		}
		change, done := c.AddGroupMember, "is now a member of"
		if args[0] == "remove" {
			change, done = c.RemoveGroupMember, "is no longer a member of"
		}
		if err := change(ctx, args[1], args[2]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s group %s\n", args[2], done, args[1])
		return nil
	}
	return usage(stderr, "airlock group: unknown command %q (ls, show, create, set, rm, add, remove)", args[0])
}

// writeGroup is `group create NAME` and `group set NAME`.
func writeGroup(ctx context.Context, c *Client, args []string, stdout, stderr io.Writer) error {
	verb := args[0]
	if !named(args[1:]) {
		return usage(stderr, "usage: airlock group %s NAME [--priority N] [--all-workspaces yes|no] [--grant W] [--ungrant W] [--rule W:idle=5m,clipboard=off] [--idle 1h] [--max-sessions N] [--clipboard off] [--downloads allow|block] [--uploads allow|block] [--idp-groups A,B] (none clears a field)", verb)
	}
	fs := NewFlags("group "+verb, stderr)
	var f GroupFlags
	f.Register(fs)
	rename := ""
	if verb == "set" {
		fs.StringVar(&rename, "name", "", "a new name")
	}
	if err := ParseFlags(fs, args[2:]); err != nil {
		return err
	}
	g := apiclient.GroupSpec{Name: args[1]}
	if verb == "set" {
		// The api replaces the whole group: what no flag names is sent
		// back as it is.
		old, err := c.Group(ctx, args[1])
		if err != nil {
			return err
		}
		g = old.GroupSpec
	}
	if err := f.Apply(&g); err != nil {
		return err
	}
	if rename != "" {
		g.Name = rename
	}
	if verb == "create" {
		if _, err := c.CreateGroup(ctx, g); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "group %s created\n", g.Name)
		return nil
	}
	if _, err := c.PutGroup(ctx, args[1], g); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "group %s updated\n", g.Name)
	return nil
}

// grantsOf is what a group grants, in a line: "all, web (idle 1h)".
func grantsOf(g apiclient.GroupSpec) string {
	var parts []string
	if g.AllWorkspaces {
		parts = append(parts, "all")
	}
	for _, w := range g.Workspaces {
		if !w.Policy.Empty() {
			parts = append(parts, w.Workspace+" ("+PolicyText(w.Policy)+")")
		} else {
			parts = append(parts, w.Workspace)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}
