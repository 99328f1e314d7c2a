package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
)

// Workspace is `airlock workspace`: the catalog of what sessions launch.
func Workspace(ctx context.Context, connect Connect, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usage(stderr, "usage: airlock workspace ls|show|add|update|rm")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	switch args[0] {
	case "ls":
		list, err := c.ListWorkspaces(ctx)
		if err != nil {
			return err
		}
		var rows [][]string
		for _, w := range list {
			seccomp := w.Seccomp
			if seccomp == "" {
				seccomp = "default"
			}
			// Admins see the policy; "-" is a standard workspace (or a
			// caller who may not see it).
			egress := "-"
			if w.Egress != nil {
				egress = fmt.Sprintf("%d rules", len(w.Egress.Rules))
				if len(w.Egress.Rules) == 0 {
					egress = "default"
				}
			}
			rows = append(rows, []string{w.Name, w.Image, w.Isolation, fmt.Sprint(w.Memory), seccomp, w.Clipboard, egress})
		}
		table(stdout, "NAME\tIMAGE\tISOLATION\tMEMORY\tSECCOMP\tCLIPBOARD\tEGRESS", rows)
		return nil
	case "show":
		if len(args) != 2 || !named(args[1:]) {
			return usage(stderr, "usage: airlock workspace show NAME")
		}
		// Every field the api sends, those this client does not know too.
		raw, err := c.WorkspaceJSON(ctx, args[1])
		if err != nil {
			return err
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("workspace %s: %w", args[1], err)
		}
		return printJSON(stdout, v)
	case "add", "update":
		verb := args[0]
		if !named(args[1:]) {
			if verb == "add" {
				return usage(stderr, "usage: airlock workspace add NAME --image IMG [--isolation standard] [--memory 512m] [--allow RULE] [--deny RULE] [--egress-file FILE] …")
			}
			return usage(stderr, "usage: airlock workspace update NAME [--image IMG] [--isolation hardened] [--allow RULE] [--deny RULE] [--egress-file FILE] [--clear-egress] …")
		}
		fs := NewFlags("workspace "+verb, stderr)
		wf := workspaceFlags(fs, verb == "add")
		if err := ParseFlags(fs, args[2:]); err != nil {
			return err
		}
		settings, err := wf.settings(fs, verb == "add")
		if err != nil {
			return err
		}
		if verb == "add" {
			settings["name"] = args[1]
			if _, err := c.CreateWorkspace(ctx, settings); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "workspace %s added\n", args[1])
			return nil
		}
		if len(settings) == 0 {
			return usage(stderr, "airlock workspace update: no change given; name a setting to change, e.g. --memory 1g or --allow '*.example.com:443'")
		}
		if _, err := c.UpdateWorkspace(ctx, args[1], settings); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "workspace %s updated (sessions launched from now on get the change)\n", args[1])
		return nil
	case "rm":
		if len(args) != 2 {
			return usage(stderr, "usage: airlock workspace rm NAME")
		}
		return c.DeleteWorkspace(ctx, args[1])
	}
	return usage(stderr, "airlock workspace: unknown command %q (ls, show, add, update, rm)", args[0])
}
