package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/cli"
)

const groupUsage = "usage: airlock group ls | show NAME | create NAME [flags] | set NAME [flags] | rm NAME | add NAME USER | remove NAME USER"

// groupView is a group as the api lists it.
type groupView struct {
	cli.GroupSpec
	Members    int  `json:"members"`
	BuiltIn    bool `json:"built_in"`
	MemberList []struct {
		User, Source string
		Since        time.Time
	} `json:"member_list"`
}

func grantsOf(g cli.GroupSpec) string {
	var parts []string
	if g.AllWorkspaces {
		parts = append(parts, "all")
	}
	for _, w := range g.Workspaces {
		if len(w.Policy) > 0 {
			parts = append(parts, w.Workspace+" ("+cli.PolicyText(w.Policy)+")")
		} else {
			parts = append(parts, w.Workspace)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func runGroup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, groupUsage)
		return errUsage
	}
	c, _, err := apiClient()
	if err != nil {
		return err
	}
	path := func(name string) string { return "/api/v1/groups/" + url.PathEscape(name) }
	switch args[0] {
	case "ls":
		var list []groupView
		if err := c.Do(ctx, http.MethodGet, "/api/v1/groups", nil, &list); err != nil {
			return err
		}
		var rows [][]string
		for _, g := range list {
			rows = append(rows, []string{g.Name, strconv.Itoa(g.Priority), strconv.Itoa(g.Members), grantsOf(g.GroupSpec), cli.PolicyText(g.Policy)})
		}
		table(stdout, "NAME\tPRIORITY\tMEMBERS\tGRANTS\tPOLICY", rows)
		return nil
	case "show":
		if len(args) != 2 {
			fmt.Fprintln(stderr, "usage: airlock group show NAME")
			return errUsage
		}
		var g groupView
		if err := c.Do(ctx, http.MethodGet, path(args[1]), nil, &g); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "name:        %s\ndescription: %s\npriority:    %d\ngrants:      %s\npolicy:      %s\nidp groups:  %s\n",
			g.Name, g.Description, g.Priority, grantsOf(g.GroupSpec), cli.PolicyText(g.Policy), strings.Join(g.IdPGroups, ", "))
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
		if len(args) < 2 || strings.HasPrefix(args[1], "-") {
			fmt.Fprintf(stderr, "usage: airlock group %s NAME [--priority N] [--all-workspaces yes|no] [--grant W] [--ungrant W] [--rule W:idle=5m,clipboard=off] [--idle 1h] [--max-sessions N] [--clipboard off] [--downloads allow|block] [--uploads allow|block] [--idp-groups A,B] (none clears a field)\n", args[0])
			return errUsage
		}
		fs := newFlags("group "+args[0], stderr)
		var f cli.GroupFlags
		f.Register(fs)
		rename := ""
		if args[0] == "set" {
			fs.StringVar(&rename, "name", "", "a new name")
		}
		if err := parse(fs, args[2:]); err != nil {
			return err
		}
		g := cli.GroupSpec{Name: args[1]}
		if args[0] == "set" {
			// The api replaces the whole group: what no flag names is
			// sent back as it is.
			if err := c.Do(ctx, http.MethodGet, path(args[1]), nil, &g); err != nil {
				return err
			}
		}
		if err := f.Apply(&g); err != nil {
			return err
		}
		if rename != "" {
			g.Name = rename
		}
		if args[0] == "create" {
			if err := c.Do(ctx, http.MethodPost, "/api/v1/groups", g, nil); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "group %s created\n", g.Name)
			return nil
		}
		if err := c.Do(ctx, http.MethodPut, path(args[1]), g, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "group %s updated\n", g.Name)
		return nil
	case "rm":
		return deleteNamed(ctx, c, stderr, args, "airlock group rm NAME", "/api/v1/groups/")
	case "add", "remove":
		if len(args) != 3 {
			fmt.Fprintf(stderr, "usage: airlock group %s NAME USER\n", args[0])
			return errUsage
		}
		method, done := http.MethodPut, "is now a member of"
		if args[0] == "remove" {
			method, done = http.MethodDelete, "is no longer a member of"
		}
		if err := c.Do(ctx, method, path(args[1])+"/members/"+url.PathEscape(args[2]), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s group %s\n", args[2], done, args[1])
		return nil
	}
	fmt.Fprintf(stderr, "airlock group: unknown command %q (ls, show, create, set, rm, add, remove)\n", args[0])
	return errUsage
}

// runUserPolicy is `airlock user policy NAME`: the effective policy of a
// user per workspace, each value with the rule it came from.
func runUserPolicy(ctx context.Context, c *cli.Client, args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 || strings.HasPrefix(args[1], "-") {
		fmt.Fprintln(stderr, "usage: airlock user policy NAME|me [--workspace W] [-o json]")
		return errUsage
	}
	fs := newFlags("user policy", stderr)
	only := fs.String("workspace", "", "only this workspace")
	asJSON := fs.String("o", "", "json: the policy as the api answers")
	if err := parse(fs, args[2:]); err != nil {
		return err
	}
	p := "/api/v1/users/" + url.PathEscape(args[1]) + "/policy"
	if args[1] == "me" {
		p = "/api/v1/me/policy"
	}
	if *only != "" {
		p += "?workspace=" + url.QueryEscape(*only)
	}
	var pol struct {
		User        string   `json:"user"`
		Groups      []string `json:"groups"`
		MaxSessions int      `json:"max_sessions"`
		Workspaces  []struct {
			Workspace string   `json:"workspace"`
			Granted   bool     `json:"granted"`
			GrantedBy []string `json:"granted_by"`
			Fields    []struct {
				Name, Value string
				Source      struct{ Text string }
			} `json:"fields"`
		} `json:"workspaces"`
	}
	if err := c.Do(ctx, http.MethodGet, p, nil, &pol); err != nil {
		return err
	}
	if *asJSON == "json" {
		return printJSON(stdout, pol)
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
