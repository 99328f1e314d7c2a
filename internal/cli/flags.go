package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// ErrUsage marks an error whose message, the usage or what was wrong
// with the command line, was already printed: the process exits with
// status 2 and prints nothing more.
var ErrUsage = errors.New("usage")

// NewFlags makes a flag set for `airlock NAME` that reports errors to
// stderr and not by exiting.
func NewFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("airlock "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// ParseFlags parses args and refuses stray arguments. The flag package
// has printed what was wrong: the error is ErrUsage, or flag.ErrHelp for
// -h.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return ErrUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), strings.Join(fs.Args(), " "))
		return ErrUsage
	}
	return nil
}

// usage prints a usage line and is ErrUsage.
func usage(stderr io.Writer, format string, a ...any) error {
	fmt.Fprintf(stderr, format+"\n", a...)
	return ErrUsage
}

// named reports whether args starts with an operand (a name, an ID)
// rather than a flag or nothing.
func named(args []string) bool { return len(args) > 0 && !strings.HasPrefix(args[0], "-") }

// flagSet reports whether name was given on the command line, even empty.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// multi is a repeatable string flag, its values in command-line order.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }
