package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/images"
	"github.com/airlock-rbi/airlock/internal/imagebuild"
)

// ensureChromiumImage makes airlock/chromium:latest current for bin, as
// the browser test does: the Debian base (built locally when no registry
// answers), then the image, rebuilt when it was made from another binary.
// It reports whether it built.
func ensureChromiumImage(ctx context.Context, socket *client.Client, root, bin string) (bool, error) {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "build-base-image.sh"))
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return false, fmt.Errorf("base image: %w\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	built, err := imagebuild.Ensure(ctx, socket, images.Chromium, images.FS, "chromium", bin)
	if err != nil {
		return false, fmt.Errorf("image %s: %w", images.Chromium, err)
	}
	return built, nil
}

// hostChromium finds (or installs) the Chromium that plays the user's
// browser.
func hostChromium(ctx context.Context, root string) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "ensure-chromium.sh"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("a browser is needed: %w\n%s", err, out)
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no chromium on PATH after ensure-chromium.sh")
}
