package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// TestSandboxedSession: with gVisor registered (make sandboxed), `airlock
// up` proves runsc with its probe and advertises sandboxed, and a session
// of a sandboxed workspace comes up ready with its container under runsc
// on a sandboxed session network: the whole path from the catalog to the
// node's policy.
func TestSandboxedSession(t *testing.T) {
	if os.Getenv("AIRLOCK_TEST_SANDBOXED") != "1" {
		t.Skip("sandboxed tests need gVisor's runsc in dockerd: run `make sandboxed` and set AIRLOCK_TEST_SANDBOXED=1 (AIRLOCK_SANDBOXED=1 make test does both)")
	}
	// The probe needs dmesg: the Debian base image has it and is made
	// locally when missing.
	const probe = "debian:bookworm-slim"
	cli := dockertest.Client(t)
	ctx := context.Background()
	if _, err := cli.ImageInspect(ctx, probe); err != nil {
		if out, err := exec.Command("bash", "../../scripts/build-base-image.sh").CombinedOutput(); err != nil {
			t.Fatalf("build %s for the probe: %v: %s", probe, err, out)
		}
	}
	env := startUp(t, "--sandbox-probe-image", probe)
	if line := nodeLine(env.cli(t, "node", "ls"), "local"); !strings.Contains(line, "sandboxed") {
		t.Fatalf("the local node does not advertise sandboxed with runsc configured: %q\n%s", line, env.logTail(20))
	}
	env.cli(t, "workspace", "add", "gvisor", "--image", "airlock/minimal:latest", "--isolation", "sandboxed", "--memory", "64m", "--pids", "64")
	id := strings.TrimSpace(env.cli(t, "session", "create", "gvisor", "--wait"))
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", airlock.LabelSession+"="+id))})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("session %s has %d containers, want 1", id, len(cs))
	}
	info, err := cli.ContainerInspect(ctx, cs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if info.HostConfig.Runtime != "runsc" {
		t.Errorf("the sandboxed session's container runs under %q, not runsc", info.HostConfig.Runtime)
	}
	for name := range info.NetworkSettings.Networks {
		n, err := cli.NetworkInspect(ctx, name, network.InspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n.Labels["airlock.isolation"] != "sandboxed" {
			t.Errorf("the session's network %s is labelled %q, not sandboxed", name, n.Labels["airlock.isolation"])
		}
	}
	env.cli(t, "session", "rm", id)
}
