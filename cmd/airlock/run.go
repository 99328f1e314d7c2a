package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/airlock-rbi/airlock/internal/cli"
)

const usage = `airlock: remote browser isolation on your own Docker hosts

Usage: airlock <command> [flags]

Commands:
  up          run everything on this host: infra server, provision node, images
  server      run the infra server (api, store, lifecycle jobs) [--roles gateway,api,signal,cron,portal]
  server join-token [--ttl 1h] [--uses 1] [--capacity 20] [--isolation standard,…]
              print a join token for provision nodes
  server rotate-keys  give the data directory a new token signing key
  provision   run a provision node: the policed, mutual-TLS Docker API door
  ca init     create the deployment's certificate authority
  ca issue    issue a certificate for a role (infra, admin, provision, agent, gateway, api, signal, cron, portal)
  agent       the in-container agent (entrypoint of workspace images)

Client commands (after 'airlock login --server URL --user NAME'):
  session create WORKSPACE [--wait] | ls | show ID [-o json] | extend ID | rm ID
  workspace ls | show NAME | add NAME --image IMG [--isolation L] [--memory 512m] | rm NAME
              | update NAME [--memory 1g] [--allow RULE] [--deny RULE] [--egress-file FILE] [--clear-egress]
  node ls | drain NAME | undrain NAME | rm NAME | docker-env NAME | join-token [create|ls|rm ID]
  pool set WORKSPACE --size N [--max-age 1h] | ls
  user add NAME | ls | rm NAME | passwd | reset NAME | policy NAME|me [--workspace W]
  group ls | show NAME | create NAME [--grant W] [--all-workspaces yes] [--idle 1h] [--clipboard off] …
              | set NAME [flags] | rm NAME | add NAME USER | remove NAME USER
  token create NAME | ls | revoke ID
  audit ls [--actor A] [--action session.] [--target T] [--outcome failure] [--since 24h] [--until T] [--limit N]
              | export [filters] [--out FILE] | verify [--file FILE [--partial]]
  images      build the workspace images on the local Docker engine
  version     print the version

Run 'airlock <command> -h' for a command's flags.
`

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

// errUsage marks an error whose message is already the usage text (exit
// status 2); the client commands of internal/cli return the same one.
var errUsage = cli.ErrUsage

// Run runs one subcommand and returns the process exit code. It is main
// without the process: tests call it with their own context and writers.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	err := dispatch(ctx, args, stdout, stderr, log)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "airlock: %v\n", err)
		return 1
	}
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "up":
		return runUp(ctx, rest, stdout, stderr, log)
	case "server":
		return runServer(ctx, rest, stdout, stderr, log)
	case "provision":
		return runProvision(ctx, rest, stderr, log)
	case "ca":
		return runCA(rest, stdout, stderr)
	case "images":
		return runImages(ctx, rest, stdout, stderr)
	case "login":
		return cli.Login(ctx, rest, stdout, stderr)
	case "session":
		return cli.Session(ctx, connect, rest, stdout, stderr)
	case "workspace":
		return cli.Workspace(ctx, connect, rest, stdout, stderr)
	case "node":
		return cli.Node(ctx, connect, rest, stdout, stderr)
	case "pool":
		return cli.Pool(ctx, connect, rest, stdout, stderr)
	case "user":
		return cli.User(ctx, connect, rest, stdout, stderr)
	case "group":
		return cli.Group(ctx, connect, rest, stdout, stderr)
	case "token":
		return cli.Token(ctx, connect, rest, stdout, stderr)
	case "audit":
		return cli.Audit(ctx, connect, rest, os.Stdin, stdout, stderr)
	case "agent":
		return runAgent(ctx, rest, stderr, log)
	case "version", "--version":
		fmt.Fprintln(stdout, "airlock", Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "airlock: unknown command %q\n\n%s", cmd, usage)
	return errUsage
}

// newFlags makes a flag set that reports errors to stderr and not by
// exiting, as every subcommand's (see cli.NewFlags).
func newFlags(name string, stderr io.Writer) *flag.FlagSet { return cli.NewFlags(name, stderr) }

// parse parses flags and refuses stray arguments (see cli.ParseFlags).
func parse(fs *flag.FlagSet, args []string) error { return cli.ParseFlags(fs, args) }

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
