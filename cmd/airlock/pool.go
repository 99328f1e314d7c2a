package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

type poolState struct {
	Workspace string         `json:"workspace"`
	Size      int            `json:"size"`
	MaxAge    string         `json:"max_age"`
	Warm      int            `json:"warm"`
	Starting  int            `json:"starting"`
	Nodes     map[string]int `json:"nodes"`
}

func (p poolState) spread() string {
	names := make([]string, 0, len(p.Nodes))
	for n := range p.Nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ":" + strconv.Itoa(p.Nodes[n])
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// runPool is `airlock pool`: the workspaces' warm pools.
func runPool(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: airlock pool set WORKSPACE --size N [--max-age 1h] | ls [-o json]")
		return errUsage
	}
	c, _, err := apiClient()
	if err != nil {
		return err
	}
	switch args[0] {
	case "set":
		fs := newFlags("pool set", stderr)
		size := fs.Int("size", -1, "how many sessions to keep started and registered, ready to hand out (0: none)")
		maxAge := fs.String("max-age", "", "how long a warm session may wait before it is recycled, e.g. 1h (default 1h)")
		if len(args) < 2 || strings.HasPrefix(args[1], "-") {
			fmt.Fprintln(stderr, "usage: airlock pool set WORKSPACE --size N [--max-age 1h]")
			return errUsage
		}
		if err := parse(fs, args[2:]); err != nil {
			return err
		}
		if *size < 0 {
			return fmt.Errorf("pool set: --size is required (0 keeps none warm)")
		}
		body := map[string]any{"size": *size}
		if *maxAge != "" {
			body["max_age"] = *maxAge
		}
		var p poolState
		if err := c.Do(ctx, http.MethodPut, "/api/v1/pools/"+url.PathEscape(args[1]), body, &p); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "pool of %s: size %d, max age %s; %d warm, %d starting\n", p.Workspace, p.Size, p.MaxAge, p.Warm, p.Starting)
		return nil
	case "ls":
		fs := newFlags("pool ls", stderr)
		out := fs.String("o", "table", "output: table or json")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		var list []poolState
		if err := c.Do(ctx, http.MethodGet, "/api/v1/pools", nil, &list); err != nil {
			return err
		}
		if *out == "json" {
			return printJSON(stdout, list)
		}
		var rows [][]string
		for _, p := range list {
			rows = append(rows, []string{p.Workspace, strconv.Itoa(p.Size), strconv.Itoa(p.Warm), strconv.Itoa(p.Starting), p.MaxAge, p.spread()})
		}
		table(stdout, "WORKSPACE\tSIZE\tWARM\tSTARTING\tMAX AGE\tNODES", rows)
		return nil
	}
	fmt.Fprintf(stderr, "airlock pool: unknown command %q (set, ls)\n", args[0])
	return errUsage
}
