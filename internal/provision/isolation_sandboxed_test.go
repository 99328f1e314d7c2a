package provision

import (
	"context"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/internal/dockertest"
)

const runsc = "runsc"

// needRunsc skips a test unless sandboxed tests are asked for
// (AIRLOCK_TEST_SANDBOXED=1, which `AIRLOCK_SANDBOXED=1 make test` sets
// after registering gVisor with dockerd), and then fails it if dockerd has
// no runsc: asked for, the test must not pass vacuously.
func needRunsc(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test makes network namespaces and host rules")
	}
	if os.Getenv("AIRLOCK_TEST_SANDBOXED") != "1" {
		t.Skip("sandboxed tests need gVisor's runsc in dockerd: run `make sandboxed` and set AIRLOCK_TEST_SANDBOXED=1 (AIRLOCK_SANDBOXED=1 make test does both)")
	}
	info, err := dockertest.Client(t).Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info.Runtimes[runsc]; !ok {
		t.Fatalf("AIRLOCK_TEST_SANDBOXED=1 but dockerd has no %s runtime: run `make sandboxed`", runsc)
	}
}

// runtimeOn is the runtime of the one container on network nw.
func runtimeOn(t *testing.T, socket *client.Client, nw string) string {
	t.Helper()
	ctx := context.Background()
	cs, err := socket.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("network", nw))})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("network %s has %d containers, want 1", nw, len(cs))
	}
	info, err := socket.ContainerInspect(ctx, cs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return info.HostConfig.Runtime
}

// TestSandboxedIsolation proves for sessions under gVisor what
// TestStandardIsolation proves under runc: runsc runs with --network=host,
// so its network stack is the container's own namespace, and the host
// rules of a session network hold for it as for any other. The probes run
// under runsc (checked in docker inspect), the baseline too, so a refusal
// is the rules' and not gVisor's.
func TestSandboxedIsolation(t *testing.T) {
	needRunsc(t)
	h := startNodeWith(t, "runtimes: [runc, runsc]\n", nil)
	ctx := context.Background()
	cli := h.sdk(t)

	allowedPort, closedPort := hostListeners(t)
	h.applyRules(t, allowedPort)

	// A link-local and a private address, each in a namespace of the
	// test's own (other transit nets than TestStandardIsolation's).
	linkLocal := netip.MustParseAddr("169.254.78.78")
	routedTarget(t, linkLocal, netip.MustParsePrefix("10.254.78.0/30"), 80)
	private := netip.MustParseAddr("10.254.79.79")
	routedTarget(t, private, netip.MustParsePrefix("10.254.80.0/30"), 80)

	// Another sandboxed session, listening under runsc.
	otherTarget := h.listeningSession(t, cli, runsc, "--label", "airlock.isolation=sandboxed")

	mine := h.sessionNetwork(t, "--label", "airlock.isolation=sandboxed")
	targets, apiTarget := h.hostTargets(t, mine, closedPort, allowedPort)
	targets = append(targets, net.JoinHostPort(linkLocal.String(), "80"), net.JoinHostPort(private.String(), "80"), apiTarget)
	// The baseline runs under runsc too: gVisor itself reaches every
	// target.
	h.requireBaseline(t, &container.HostConfig{Runtime: runsc}, targets)

	// The node refuses a runc container on a sandboxed network, so a
	// session cannot opt out of gVisor.
	if _, err := cli.ContainerCreate(ctx, &container.Config{Image: dockertest.TestImage},
		&container.HostConfig{NetworkMode: container.NetworkMode(mine), Runtime: "runc"}, nil, nil, uniqueName(t, "runc")); err == nil {
		t.Fatal("the node created a runc container on a sandboxed network")
	}

	got := probe(t, cli, h.socket, &container.HostConfig{NetworkMode: container.NetworkMode(mine), Runtime: runsc}, append(targets, otherTarget))
	t.Logf("from the sandboxed session: %v", got)
	if rt := runtimeOn(t, h.socket, mine); rt != runsc {
		t.Fatalf("the sandboxed probe ran under runtime %q, not %s", rt, runsc)
	}
	for _, tg := range append(targets, otherTarget) {
		want := tg == apiTarget
		if reached := got[tg] == "ok"; reached != want {
			t.Errorf("from a sandboxed session, %s: %q; want reachable %v", tg, got[tg], want)
		}
	}
}
