package provision

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/airlock-rbi/airlock/internal/dockertest"
	"github.com/airlock-rbi/airlock/internal/netpolicy"
)

// A network created through the node is a session network as dockerd
// holds it: a bridge device the host rules match, a subnet of the pool,
// and room for one container only. The default bridge is refused.
func TestSessionNetworkThroughNode(t *testing.T) {
	h := startNode(t)
	ctx := context.Background()
	for _, tc := range []struct {
		args   []string
		prefix string
	}{
		{nil, "als"},
		{[]string{"--label", "airlock.isolation=hardened"}, "alh"},
	} {
		name := h.sessionNetwork(t, tc.args...)
		n, err := h.socket.NetworkInspect(ctx, name, network.InspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if br := n.Options["com.docker.network.bridge.name"]; !strings.HasPrefix(br, tc.prefix) {
			t.Errorf("network %s: bridge %q, want prefix %s", name, br, tc.prefix)
		}
		if len(n.IPAM.Config) != 1 || !netpolicy.DefaultPool.Contains(netip.MustParsePrefix(n.IPAM.Config[0].Subnet).Addr()) {
			t.Errorf("network %s: IPAM %+v, want one subnet of %s", name, n.IPAM.Config, netpolicy.DefaultPool)
		}
		first := uniqueName(t, "first")
		id := h.mustDocker(t, "create", "--name", first, "--network", name, dockertest.TestImage)
		t.Cleanup(func() { h.socket.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true}) })
		// Created and not started holds the network as much as running.
		for _, step := range []string{"created", "running"} {
			out, err := h.docker(t, "create", "--name", uniqueName(t, "second"), "--network", name, dockertest.TestImage)
			if err == nil {
				h.socket.ContainerRemove(context.Background(), strings.TrimSpace(out), container.RemoveOptions{Force: true})
			}
			if err == nil || !strings.Contains(out, "already has a container") {
				t.Errorf("a second container on session network %s with the first %s: err %v, %q", name, step, err, out)
			}
			h.mustDocker(t, "start", first)
		}
	}
	out, err := h.docker(t, "create", "--name", uniqueName(t, "bridged"), dockertest.TestImage)
	if err == nil || !strings.Contains(out, "session network of its own") {
		t.Errorf("a container on the default bridge: err %v, %q", err, out)
	}
}
