package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/airlock-rbi/airlock/internal/apiclient"
)

// Token is `airlock token`: the caller's API tokens.
func Token(ctx context.Context, connect Connect, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usage(stderr, "usage: airlock token create|ls|revoke")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	switch args[0] {
	case "ls":
		list, err := c.ListTokens(ctx)
		if err != nil {
			return err
		}
		var rows [][]string
		for _, t := range list {
			used, state := "-", "active"
			if t.LastUsedAt != nil {
				used = ago(*t.LastUsedAt)
			}
			if t.RevokedAt != nil {
				state = "revoked"
			}
			rows = append(rows, []string{t.ID, t.Name, ago(t.CreatedAt), used, state})
		}
		table(stdout, "ID\tNAME\tCREATED\tLAST USED\tSTATE", rows)
		return nil
	case "create":
		if !named(args[1:]) {
			return usage(stderr, "usage: airlock token create NAME [--ttl 720h]")
		}
		fs := NewFlags("token create", stderr)
		ttl := fs.String("ttl", "", "lifetime, e.g. 720h (default: no expiry)")
		if err := ParseFlags(fs, args[2:]); err != nil {
			return err
		}
		t, err := c.CreateToken(ctx, apiclient.CreateTokenRequest{Name: args[1], TTL: *ttl})
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, t.Token)
		return nil
	case "revoke":
		if len(args) != 2 {
			return usage(stderr, "usage: airlock token revoke ID")
		}
		return c.RevokeToken(ctx, args[1])
	}
	return usage(stderr, "airlock token: unknown command %q (create, ls, revoke)", args[0])
}
