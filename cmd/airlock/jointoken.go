package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// runJoinToken is `airlock server join-token` and `airlock node
// join-token`: with flags (or "create") it makes a token and prints it, so
// it can go straight into a file; "ls" and "rm ID" list and revoke.
func runJoinToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "create":
			args = args[1:]
		case "ls":
			return listJoinTokens(ctx, args[1:], stdout, stderr)
		case "rm":
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			return deleteNamed(ctx, c, stderr, args, "airlock node join-token rm ID", "/api/v1/nodes/join-tokens/")
		}
	}
	fs := newFlags("join-token", stderr)
	ttl := fs.String("ttl", "1h", "how long the token enrolls nodes (at most 24h)")
	uses := fs.Int("uses", 1, "how many nodes may enroll with it")
	capacity := fs.Int("capacity", 20, "the largest capacity an enrolled node may advertise")
	isolation := fs.String("isolation", "standard", "comma-separated isolation levels an enrolled node may advertise (standard, hardened, sandboxed)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var levels []string
	for _, l := range strings.Split(*isolation, ",") {
		if l = strings.TrimSpace(l); l != "" {
			levels = append(levels, l)
		}
	}
	c, _, err := apiClient()
	if err != nil {
		return err
	}
	var t struct {
		ID        string
		Token     string
		ExpiresAt time.Time `json:"expires_at"`
	}
	body := map[string]any{"ttl": *ttl, "uses": *uses, "capacity": *capacity, "isolation": levels}
	if err := c.Do(ctx, http.MethodPost, "/api/v1/nodes/join-tokens", body, &t); err != nil {
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

func listJoinTokens(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("join-token ls", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	c, _, err := apiClient()
	if err != nil {
		return err
	}
	var list []struct {
		ID, State string
		Uses      int
		UsesLeft  int `json:"uses_left"`
		Capacity  int
		Isolation []string
		CreatedBy string    `json:"created_by"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := c.Do(ctx, http.MethodGet, "/api/v1/nodes/join-tokens", nil, &list); err != nil {
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
