package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

const usage = `airlock: remote browser isolation on your own Docker hosts

Usage: airlock <command> [flags]

Commands:
  up          run everything on this host (today: the CA and a provision node)
  provision   run a provision node: the policed, mutual-TLS Docker API door
  ca init     create the deployment's certificate authority
  ca issue    issue a certificate for a role (infra, admin, provision, agent)
  version     print the version

Run 'airlock <command> -h' for a command's flags.
`

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

// errUsage marks an error whose message is already the usage text.
var errUsage = errors.New("usage")

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
	case "provision":
		return runProvision(ctx, rest, stderr, log)
	case "ca":
		return runCA(rest, stdout, stderr)
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

// newFlags makes a flag set that reports errors to stderr and not by exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("airlock "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses flags and refuses stray arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), strings.Join(fs.Args(), " "))
		return errUsage
	}
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
