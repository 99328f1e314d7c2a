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

// JoinToken is `airlock server join-token` and `airlock node
// join-token`: with flags (or "create") it makes a token and prints it, so
// it can go straight into a file; "ls" and "rm ID" list and revoke.
func JoinToken(ctx context.Context, connect Connect, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "create":
			args = args[1:]
		case "ls":
			return listJoinTokens(ctx, connect, args[1:], stdout, stderr)
		case "rm":
			c, err := connect()
			if err != nil {
				return err
			}
			if len(args) != 2 {
				return usage(stderr, "usage: airlock node join-token rm ID")
			}
			return c.DeleteJoinToken(ctx, args[1])
		}
	}
	fs := NewFlags("join-token", stderr)
	ttl := fs.String("ttl", "1h", "how long the token enrolls nodes (at most 24h)")
	uses := fs.Int("uses", 1, "how many nodes may enroll with it")
	capacity := fs.Int("capacity", 20, "the largest capacity an enrolled node may advertise")
	isolation := fs.String("isolation", "standard", "comma-separated isolation levels an enrolled node may advertise (standard, hardened, sandboxed)")
	if err := ParseFlags(fs, args); err != nil {
		return err
	}
	var levels []string
	for _, l := range strings.Split(*isolation, ",") {
		if l = strings.TrimSpace(l); l != "" {
			levels = append(levels, l)
		}
	}
	c, err := connect()
	if err != nil {
		return err
	}
	t, err := c.CreateJoinToken(ctx, apiclient.CreateJoinTokenRequest{TTL: *ttl, Uses: *uses, Capacity: *capacity, Isolation: levels})
	if err != nil {
		return err
	}
	// stdout holds the token alone, for `> token-file`; the rest is for
	// whoever reads the terminal.
	fmt.Fprintln(stdout, t.Token)
	fmt.Fprintf(stderr, "join token %s: %s, expires %s; revoke with airlock node join-token rm %s\n",
		t.ID, plural(*uses, "use"), t.ExpiresAt.Local().Format(time.RFC3339), t.ID)
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

func listJoinTokens(ctx context.Context, connect Connect, args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("join-token ls", stderr)
	if err := ParseFlags(fs, args); err != nil {
		return err
	}
	c, err := connect()
	if err != nil {
		return err
	}
	list, err := c.ListJoinTokens(ctx)
	if err != nil {
		return err
	}
	var rows [][]string
	for _, t := range list {
		rows = append(rows, []string{t.ID, t.State, fmt.Sprintf("%d/%d", t.UsesLeft, t.Uses), strconv.Itoa(t.Capacity),
			strings.Join(t.Isolation, ","), t.ExpiresAt.Local().Format(time.RFC3339), t.CreatedBy})
	}
	table(stdout, "ID\tSTATE\tUSES LEFT\tCAPACITY\tISOLATION\tEXPIRES\tCREATED BY", rows)
	return nil
}
