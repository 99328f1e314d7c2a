package main

import (
	"context"
	"io"

	"github.com/airlock-rbi/airlock/internal/cli"
)

// The client commands live in internal/cli; this is how they reach the
// api, and how `airlock server join-token` reaches theirs.

// apiClient is the client of the saved config, and the config.
func apiClient() (*cli.Client, *cli.Config, error) { return cli.LoadClient() }

// connect is apiClient as the client commands ask for it, once their
// arguments are known good (cli.Connect).
func connect() (*cli.Client, error) {
	c, _, err := apiClient()
	return c, err
}

// runJoinToken is `airlock server join-token`, the same command as
// `airlock node join-token`.
func runJoinToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return cli.JoinToken(ctx, connect, args, stdout, stderr)
}
