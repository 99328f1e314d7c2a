package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/images"
	"github.com/airlock-rbi/airlock/internal/imagebuild"
)

// runImages builds every workspace image from this binary on the local
// engine (make images); `airlock up` builds the ones that are missing.
func runImages(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("images", stderr)
	socket := fs.String("docker-socket", "/var/run/docker.sock", "local Docker socket")
	chromium := fs.Bool("chromium", false, "also build airlock/chromium (needs debian:bookworm-slim: scripts/build-base-image.sh makes it)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cli, err := client.NewClientWithOpts(client.WithHost("unix://"+*socket), client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer cli.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	build := []struct{ tag, dir string }{{images.Minimal, "minimal"}}
	if *chromium {
		build = append(build, struct{ tag, dir string }{images.Chromium, "chromium"})
	}
	for _, b := range build {
		if err := imagebuild.Build(ctx, cli, b.tag, images.FS, b.dir, self); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "built", b.tag)
	}
	return nil
}
