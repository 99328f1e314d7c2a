package airlockup

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

// EnsureChromiumImage makes the Chromium workspace image tag current for
// bin, as the browser test does: the Debian base (the module's
// scripts/build-base-image.sh, which builds it locally when no registry
// answers; root is the module's directory), then the image from
// images/chromium, rebuilt when it was made from another binary. It
// reports whether it built.
func EnsureChromiumImage(ctx context.Context, socket *client.Client, root, bin, tag string) (bool, error) {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "build-base-image.sh"))
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return false, fmt.Errorf("base image: %w\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	built, err := imagebuild.Ensure(ctx, socket, tag, images.FS, "chromium", bin)
	if err != nil {
		return false, fmt.Errorf("image %s: %w", tag, err)
	}
	return built, nil
}
