// Package sessionnet makes, directly on a Docker socket, a network as the
// provision node makes a session's (a bridge named like the host rules
// expect, a subnet of the session pool, icc off), for the benchmarks'
// baselines: a container launched on it costs dockerd what a session's
// does.
package sessionnet

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/internal/netpolicy"
)

// benchPool is the upper half of the default session pool: a node picks
// the lowest free subnet, so a deployment on the same daemon creating
// sessions meanwhile does not race a baseline for the same one.
var benchPool = netip.MustParsePrefix("10.213.128.0/17")

// Create makes the network, labelled with labels, on the first subnet of
// benchPool no network of the daemon uses, and returns its ID.
func Create(ctx context.Context, socket *client.Client, labels map[string]string) (string, error) {
	pool, err := netpolicy.NewPool(benchPool, netpolicy.DefaultSubnetBits)
	if err != nil {
		return "", err
	}
	list, err := socket.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("list networks: %w", err)
	}
	var used []netip.Prefix
	for _, n := range list {
		for _, c := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil {
				used = append(used, p)
			}
		}
	}
	sub, err := pool.Free(used)
	if err != nil {
		return "", err
	}
	br, err := netpolicy.BridgeName(netpolicy.Standard)
	if err != nil {
		return "", err
	}
	created, err := socket.NetworkCreate(ctx, "bench-"+br, network.CreateOptions{Driver: "bridge",
		Labels:  labels,
		Options: map[string]string{"com.docker.network.bridge.name": br, "com.docker.network.bridge.enable_icc": "false"},
		IPAM:    &network.IPAM{Config: []network.IPAMConfig{{Subnet: sub.String(), Gateway: netpolicy.Gateway(sub).String()}}}})
	if err != nil {
		return "", fmt.Errorf("create network: %w", err)
	}
	return created.ID, nil
}
