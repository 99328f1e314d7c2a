package main

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strings"

	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/images"
)

// environment is what the report says the run ran on.
type environment struct {
	docker, browser, cpu         string
	chromiumImage, ffmpegImageID string
	builtChromium, builtFFmpeg   bool
}

func (e *environment) read(ctx context.Context, socket *client.Client, browser string) error {
	ver, err := socket.ServerVersion(ctx)
	if err != nil {
		return fmt.Errorf("docker version: %w", err)
	}
	e.docker = fmt.Sprintf("dockerd %s (API %s)", ver.Version, ver.APIVersion)
	out, err := exec.CommandContext(ctx, browser, "--version").Output()
	if err != nil {
		return fmt.Errorf("%s --version: %w", browser, err)
	}
	e.browser = strings.TrimSpace(string(out))
	e.cpu = fmt.Sprintf("%s %s/%s, %d CPUs", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	for _, x := range []struct {
		tag string
		id  *string
	}{{images.Chromium, &e.chromiumImage}, {ffmpegImage, &e.ffmpegImageID}} {
		img, err := socket.ImageInspect(ctx, x.tag)
		if err != nil {
			return fmt.Errorf("inspect %s: %w", x.tag, err)
		}
		*x.id = img.ID
	}
	return nil
}
