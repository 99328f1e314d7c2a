package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/bench/internal/airlockup"
	"github.com/airlock-rbi/airlock/bench/internal/viewer"
	"github.com/airlock-rbi/airlock/images"
)

// chromiumWorkspace is the workspace of the Chromium cycles: the browser
// on a blank page (no start URL: nothing to fetch from the network), with
// the resources of airlock up's own chromium workspace.
const chromiumWorkspace = "bench-soak-chromium"

// chromiumImage is the tag the run builds the Chromium image under, from
// its own airlock binary, and removes at exit: airlock/chromium:latest
// belongs to whoever else uses this dockerd (a test of another checkout
// rebuilds it from its binary), so the run neither rebuilds nor uses it.
func chromiumImage() string {
	return "airlock/chromium:bench-soak-" + strings.ToLower(rand.Text()[:12])
}

// writePolicy writes the provision node's policy of the run's
// deployment before airlock up's first start (which otherwise writes its default):
// the default's images plus the run's Chromium image, and the Chromium
// seccomp profile airlock up writes beside it.
func writePolicy(dir, chromium string) error {
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	policy := fmt.Sprintf("# bench/soak: airlock up's default images, and the run's own Chromium image.\nimages:\n  - %s\n  - %s\nseccomp_profiles:\n  - seccomp/chromium.json\n",
		images.Minimal, chromium)
	return os.WriteFile(filepath.Join(data, "provision.yaml"), []byte(policy), 0o600)
}

// buildChromium builds the run's Chromium image and returns what removes
// it. The image's layers up to the binary are the build cache's (those of
// airlock/chromium:latest when it was built here), so this takes seconds
// once the cache holds them.
func buildChromium(ctx context.Context, socket *client.Client, bin, tag string) (remove func() error, err error) {
	root, err := airlockup.ModuleRoot(ctx)
	if err != nil {
		return nil, err
	}
	remove = func() error {
		rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := socket.ImageRemove(rctx, tag, image.RemoveOptions{PruneChildren: true})
		if err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove image %s: %w", tag, err)
		}
		return nil
	}
	if _, err := airlockup.EnsureChromiumImage(ctx, socket, root, bin, tag); err != nil {
		return nil, errors.Join(err, remove())
	}
	return remove, nil
}

// startViewer finds the host's Chromium and signs it in to the portal as
// the admin.
func startViewer(ctx context.Context, up *airlockup.Admin) (*viewer.Viewer, error) {
	root, err := airlockup.ModuleRoot(ctx)
	if err != nil {
		return nil, err
	}
	browser, err := viewer.Browser(ctx, root)
	if err != nil {
		return nil, err
	}
	return viewer.Start(ctx, browser, up.Server, "admin", up.Password)
}

// createChromiumWorkspace adds the Chromium cycles' workspace.
func createChromiumWorkspace(ctx context.Context, api *airlockup.Client, tag string) error {
	ws := map[string]any{"name": chromiumWorkspace, "description": "bench/soak: Chromium on a blank page", "image": tag,
		"seccomp": "chromium", "shm_size": 512 << 20, "memory": 2 << 30, "pids_limit": 512}
	if err := api.Do(ctx, http.MethodPost, "/api/v1/workspaces", ws, nil); err != nil {
		return fmt.Errorf("create workspace %s: %w", chromiumWorkspace, err)
	}
	return nil
}
