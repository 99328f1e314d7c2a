package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"

	"path/filepath"

	"strings"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/pki"
)

// Node is `airlock node`: the provision nodes, and their join tokens.
func Node(ctx context.Context, connect Connect, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usage(stderr, "usage: airlock node ls|drain|undrain|rm|docker-env|join-token")
	}
	if args[0] == "join-token" {
		return JoinToken(ctx, connect, args[1:], stdout, stderr)
	}
	c, err := connect()
	if err != nil {
		return err
	}
	switch args[0] {
	case "ls":
		list, err := c.ListNodes(ctx)
		if err != nil {
			return err
		}
		var rows [][]string
		for _, n := range list {
			if n.Draining {
				n.State += ", draining"
			}
			rows = append(rows, []string{n.Name, n.URL, n.State, fmt.Sprintf("%d/%d", n.Active, n.Capacity), strings.Join(n.Isolation, ","),
				cmp.Or(airlock.LabelText(n.Labels), "-"), ago(n.LastHeartbeat)})
		}
		table(stdout, "NAME\tURL\tSTATE\tLOAD\tISOLATION\tLABELS\tHEARTBEAT", rows)
		return nil
	case "drain", "undrain":
		if len(args) != 2 {
			return usage(stderr, "usage: airlock node %s NAME", args[0])
		}
		drain := c.DrainNode
		if args[0] == "undrain" {
			drain = c.UndrainNode
		}
		n, err := drain(ctx, args[1])
		if err != nil {
			return err
		}
		if n.Draining {
			fmt.Fprintf(stdout, "%s is draining: no new sessions; its %d active sessions run until they end\n", n.Name, n.Active)
		} else {
			fmt.Fprintf(stdout, "%s takes new sessions again\n", n.Name)
		}
		return nil
	case "rm":
		fs := NewFlags("node rm", stderr)
		force := fs.Bool("force", false, "remove even with active sessions (they fail)")
		if !named(args[1:]) {
			return usage(stderr, "usage: airlock node rm NAME [--force]")
		}
		if err := ParseFlags(fs, args[2:]); err != nil {
			return err
		}
		return c.DeleteNode(ctx, args[1], *force)
	case "docker-env":
		fs := NewFlags("node docker-env", stderr)
		if !named(args[1:]) {
			return usage(stderr, "usage: airlock node docker-env NAME [--out DIR]")
		}
		out := fs.String("out", "", "directory for ca.pem, cert.pem, key.pem (default ~/.config/airlock/docker/NAME)")
		if err := ParseFlags(fs, args[2:]); err != nil {
			return err
		}
		env, err := c.NodeDockerEnv(ctx, args[1])
		if err != nil {
			return err
		}
		dir := *out
		if dir == "" {
			p, err := ConfigPath()
			if err != nil {
				return err
			}
			dir = filepath.Join(filepath.Dir(p), "docker", args[1])
		}
		if err := pki.WriteBundle(dir, &pki.Bundle{CACertPEM: []byte(env.CA), CertPEM: []byte(env.Cert), KeyPEM: []byte(env.Key)}); err != nil {
			return err
		}
		abs, _ := filepath.Abs(dir)
		fmt.Fprintf(stdout, "export DOCKER_HOST=%s\nexport DOCKER_TLS_VERIFY=1\nexport DOCKER_CERT_PATH=%s\n", env.DockerHost, abs)
		return nil
	}
	return usage(stderr, "airlock node: unknown command %q (ls, drain, undrain, rm, docker-env, join-token)", args[0])
}
