package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// TestHardenedSession: `airlock up` advertises hardened once its host
// rules and egress proxy are in place, and a hardened workspace's session
// comes up ready (its agent reaches the api from a network whose only
// ways out are the api, TURN, the proxy and the resolver), its network
// carrying the workspace's policy, its container pointed at the proxy and
// the node's resolver. Without the proxy, no node offers hardened and the
// refusal names the level.
func TestHardenedSession(t *testing.T) {
	env := startUp(t)
	cli := dockertest.Client(t)
	ctx := context.Background()
	if nodes := env.cli(t, "node", "ls"); !strings.Contains(nodes, "hardened") {
		t.Fatalf("the local node does not advertise hardened:\n%s\n%s", nodes, env.logTail(20))
	}
	env.cli(t, "workspace", "add", "locked", "--image", "airlock/minimal:latest", "--isolation", "hardened",
		"--allow", "*.example.com:443", "--deny", "*")
	id := env.cli(t, "session", "create", "locked", "--wait")
	var cs []container.Summary
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		cs, err = cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", airlock.LabelSession+"="+id))})
		if err == nil && len(cs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container of session %s: %v %+v", id, err, cs)
		}
	}
	info, err := cli.ContainerInspect(ctx, cs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.NetworkSettings.Networks) != 1 {
		t.Fatalf("the session's container is on %d networks, want its own one", len(info.NetworkSettings.Networks))
	}
	for name := range info.NetworkSettings.Networks {
		n, err := cli.NetworkInspect(ctx, name, network.InspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n.Labels["airlock.isolation"] != "hardened" {
			t.Errorf("the session's network is labelled %q, not hardened", n.Labels["airlock.isolation"])
		}
		p, err := airlock.ParseEgressPolicy([]byte(n.Labels["airlock.egress"]))
		if err != nil || len(p.Rules) != 2 || p.Rules[0].Domain != "*.example.com" || !slices.Equal(p.Rules[0].Ports, []uint16{443}) || p.Rules[1].Domain != "*" {
			b, _ := json.Marshal(p)
			t.Errorf("the network's egress policy %s (%v) is not the workspace's", b, err)
		}
		gw := n.IPAM.Config[0].Gateway
		proxy := "AIRLOCK_PROXY=http://" + gw + ":3130"
		if !slices.Contains(info.Config.Env, proxy) {
			t.Errorf("the container lacks %s", proxy)
		}
		if !slices.Equal(info.HostConfig.DNS, []string{gw}) {
			t.Errorf("the container's DNS servers are %q, want its gateway %s (where the node's resolver answers)", info.HostConfig.DNS, gw)
		}
	}
	env.cli(t, "session", "rm", id)

	off := startUp(t, "--egress-proxy-port", "-1")
	if nodes := off.cli(t, "node", "ls"); strings.Contains(nodes, "hardened") {
		t.Fatalf("a node without its egress proxy advertises hardened:\n%s", nodes)
	}
	off.cli(t, "workspace", "add", "locked", "--image", "airlock/minimal:latest", "--isolation", "hardened")
	out, code := off.try("session", "create", "locked", "--wait")
	if code == 0 || !strings.Contains(out, "hardened") {
		t.Fatalf("session of a hardened workspace with no node offering it: exit %d: %s", code, out)
	}
}
