package main

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// inspectResult holds the latency of every measured ContainerInspect.
type inspectResult struct {
	node, socket []time.Duration
}

// benchInspect creates and starts one container through the node, then
// times ContainerInspect of it by full ID through the node and on the
// socket, interleaved: each iteration makes one call each way, and the
// order within an iteration alternates so neither path always runs first.
func benchInspect(ctx context.Context, node, socket *client.Client, runID string, n, warmup int) (inspectResult, error) {
	created, err := node.ContainerCreate(ctx,
		&container.Config{Image: dockertest.TestImage, Labels: map[string]string{runLabel: runID}},
		&container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		return inspectResult{}, fmt.Errorf("create container through node: %w", err)
	}
	id := created.ID
	if err := node.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return inspectResult{}, fmt.Errorf("start container %.12s through node: %w", id, err)
	}
	for name, cli := range map[string]*client.Client{"node": node, "socket": socket} {
		got, err := cli.ContainerInspect(ctx, id)
		if err != nil {
			return inspectResult{}, fmt.Errorf("inspect container %.12s via %s: %w", id, name, err)
		}
		if got.ID != id || got.State == nil || !got.State.Running {
			return inspectResult{}, fmt.Errorf("inspect container %.12s via %s: not the running container created", id, name)
		}
	}

	inspect := func(cli *client.Client) (time.Duration, error) {
		start := time.Now()
		_, err := cli.ContainerInspect(ctx, id)
		return time.Since(start), err
	}
	paths := [2]struct {
		name string
		cli  *client.Client
		out  *[]time.Duration
	}{{"node", node, nil}, {"socket", socket, nil}}
	res := inspectResult{node: make([]time.Duration, 0, n), socket: make([]time.Duration, 0, n)}
	paths[0].out, paths[1].out = &res.node, &res.socket
	for i := range warmup + n {
		for k := range 2 {
			p := paths[(i+k)%2]
			d, err := inspect(p.cli)
			if err != nil {
				return inspectResult{}, fmt.Errorf("inspect container %.12s via %s (iteration %d): %w", id, p.name, i, err)
			}
			if i >= warmup {
				*p.out = append(*p.out, d)
			}
		}
	}

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := socket.ContainerRemove(rctx, id, container.RemoveOptions{Force: true}); err != nil {
		return inspectResult{}, fmt.Errorf("remove container %.12s: %w", id, err)
	}
	return res, nil
}
