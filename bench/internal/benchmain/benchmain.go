// Package benchmain is the common end of the benchmarks' main functions:
// run until done or interrupted, and exit with a status that says which.
package benchmain

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Run runs a benchmark with a context that an interrupt or SIGTERM ends,
// writing its report to stdout; on an error it prints it as
// "bench/<name>: ..." and exits 1.
func Run(name string, run func(ctx context.Context, out io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench/%s: %v\n", name, err)
		os.Exit(1)
	}
}
