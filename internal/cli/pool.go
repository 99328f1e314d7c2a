package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/airlock-rbi/airlock/internal/apiclient"
)

// Pool is `airlock pool`: the workspaces' warm pools.
func Pool(ctx context.Context, connect Connect, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usage(stderr, "usage: airlock pool set WORKSPACE --size N [--max-age 1h] | ls [-o json]")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	switch args[0] {
	case "set":
		fs := NewFlags("pool set", stderr)
		size := fs.Int("size", -1, "how many sessions to keep started and registered, ready to hand out (0: none)")
		maxAge := fs.String("max-age", "", "how long a warm session may wait before it is recycled, e.g. 1h (default 1h)")
		if !named(args[1:]) {
			return usage(stderr, "usage: airlock pool set WORKSPACE --size N [--max-age 1h]")
		}
		if err := ParseFlags(fs, args[2:]); err != nil {
			return err
		}
		if *size < 0 {
			return fmt.Errorf("pool set: --size is required (0 keeps none warm)")
		}
		p, err := c.SetPool(ctx, args[1], apiclient.SetPoolRequest{Size: *size, MaxAge: *maxAge})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "pool of %s: size %d, max age %s; %d warm, %d starting\n", p.Workspace, p.Size, p.MaxAge, p.Warm, p.Starting)
		return nil
	case "ls":
		fs := NewFlags("pool ls", stderr)
		out := fs.String("o", "table", "output: table or json")
		if err := ParseFlags(fs, args[1:]); err != nil {
			return err
		}
		list, err := c.ListPools(ctx)
		if err != nil {
			return err
		}
		if *out == "json" {
			rows := make([]poolJSON, 0, len(list))
			for _, p := range list {
				rows = append(rows, poolJSON{Workspace: p.Workspace, Size: p.Size, MaxAge: p.MaxAge, Warm: p.Warm, Starting: p.Starting, Nodes: p.Nodes})
			}
			return printJSON(stdout, rows)
		}
		var rows [][]string
		for _, p := range list {
			rows = append(rows, []string{p.Workspace, strconv.Itoa(p.Size), strconv.Itoa(p.Warm), strconv.Itoa(p.Starting), p.MaxAge, spread(p.Nodes)})
		}
		table(stdout, "WORKSPACE\tSIZE\tWARM\tSTARTING\tMAX AGE\tNODES", rows)
		return nil
	}
	return usage(stderr, "airlock pool: unknown command %q (set, ls)", args[0])
}

// poolJSON is a pool as `pool ls -o json` prints it: these fields, each
// always present.
type poolJSON struct {
	Workspace string         `json:"workspace"`
	Size      int            `json:"size"`
	MaxAge    string         `json:"max_age"`
	Warm      int            `json:"warm"`
	Starting  int            `json:"starting"`
	Nodes     map[string]int `json:"nodes"`
}

// spread is the warm sessions per node: "node-a:2,node-b:1", or "-".
func spread(nodes map[string]int) string {
	if len(nodes) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(nodes))
	for _, n := range slices.Sorted(maps.Keys(nodes)) {
		parts = append(parts, n+":"+strconv.Itoa(nodes[n]))
	}
	return strings.Join(parts, ",")
}
