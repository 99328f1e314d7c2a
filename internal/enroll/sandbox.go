package enroll

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// gVisorBanner starts the kernel log gVisor's sentry makes up for its
// sandboxes (it has no real one to show): the host kernel's log, which a
// container under runc would read, never says it.
const gVisorBanner = "Starting gVisor"

// probeCommand is what the probe container runs: util-linux's dmesg, which
// every Debian-based image has (Essential), so the probe image needs no
// shell.
const probeCommand = "dmesg"

// probeTimeout bounds one probe: a runsc sandbox starts in well under a
// second here, but the first start on a busy node pays for page faults.
const probeTimeout = 2 * time.Minute

// ProveSandbox runs a short probe container from image under SandboxRuntime
// on the Docker daemon behind socket and checks that it really ran inside
// gVisor: a runtime named runsc in daemon.json may be anything, so the node
// only advertises sandboxed after the kernel its sessions would see says
// it is gVisor's. The probe is as confined as a session (no network, uid
// 65534, read-only root, no capabilities, a pids limit) and is removed
// whatever happens. image must have dmesg on its PATH (airlock/chromium and
// debian:bookworm-slim do; the FROM-scratch test and minimal images do not).
func ProveSandbox(ctx context.Context, socket, image string) error {
	return proveRuntime(ctx, socket, image, SandboxRuntime)
}

// proveRuntime is ProveSandbox for any runtime name, so the refusals of
// runc and of an unknown runtime can be tested.
func proveRuntime(ctx context.Context, socket, image, runtime string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cli, err := client.NewClientWithOpts(client.WithHost("unix://"+socket), client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("sandbox probe: docker client for %s: %w", socket, err)
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, image); err != nil {
		return fmt.Errorf("sandbox probe: image %s: %w (the probe needs a local image with dmesg, such as airlock/chromium:latest from make images-chromium)", image, err)
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	name := "airlock-sandbox-probe-" + hex.EncodeToString(rnd[:])
	pids := int64(128) // runsc itself needs at least 64
	c, err := cli.ContainerCreate(ctx, &container.Config{
		Image:      image,
		Entrypoint: []string{probeCommand},
		Cmd:        []string{},
		User:       "65534:65534",
		Labels:     map[string]string{"airlock.probe": "sandbox"},
	}, &container.HostConfig{
		NetworkMode:    "none",
		Runtime:        runtime,
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		Resources:      container.Resources{PidsLimit: &pids, Memory: 256 << 20},
	}, nil, nil, name)
	if err != nil {
		return fmt.Errorf("sandbox probe: create a container under runtime %q: %w", runtime, err)
	}
	defer func() {
		// The caller's context may be done: the probe goes anyway.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer rcancel()
		cli.ContainerRemove(rctx, c.ID, container.RemoveOptions{Force: true})
	}()
	info, err := cli.ContainerInspect(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("sandbox probe: inspect %s: %w", name, err)
	}
	if info.HostConfig.Runtime != runtime {
		return fmt.Errorf("sandbox probe: dockerd made %s with runtime %q, not %q", name, info.HostConfig.Runtime, runtime)
	}
	waitC, errC := cli.ContainerWait(ctx, c.ID, container.WaitConditionNextExit)
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("sandbox probe: start %s under runtime %q: %w", name, runtime, err)
	}
	var code int64
	select {
	case w := <-waitC:
		if w.Error != nil {
			return fmt.Errorf("sandbox probe: wait for %s: %s", name, w.Error.Message)
		}
		code = w.StatusCode
	case err := <-errC:
		return fmt.Errorf("sandbox probe: wait for %s under runtime %q: %w", name, runtime, err)
	}
	out, err := probeOutput(ctx, cli, c.ID)
	if err != nil {
		return fmt.Errorf("sandbox probe: logs of %s: %w", name, err)
	}
	if code != 0 || !strings.Contains(out, gVisorBanner) {
		return fmt.Errorf("sandbox probe: the container under runtime %q did not run inside gVisor: %s exited %d and printed %q; gVisor's kernel log says %q",
			runtime, probeCommand, code, clip(out, 300), gVisorBanner)
	}
	return nil
}

// probeOutput is a stopped container's stdout and stderr, bounded.
func probeOutput(ctx context.Context, cli *client.Client, id string) (string, error) {
	rc, err := cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return "", err
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, io.LimitReader(rc, 64<<10)); err != nil {
		return "", err
	}
	return out.String(), nil
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
