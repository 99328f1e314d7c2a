package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/internal/dockerpolicy"
	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// cycleTimes is one create+start+remove, whole and by phase.
type cycleTimes struct {
	create, start, remove, total time.Duration
}

// createResult holds every measured cycle of each path.
type createResult struct {
	node, socket []cycleTimes
}

// createPath is one way of creating containers: the client to use and the
// request to send so that both ways make the same container.
type createPath struct {
	name   string
	cli    *client.Client
	config *container.Config
	host   *container.HostConfig
}

// createPaths returns the node path, which sends a bare request and lets
// the node add its label and floor, and the socket path, which sends what
// the node would have produced.
func createPaths(node, socket *client.Client, runID string) [2]createPath {
	pids := int64(512)
	return [2]createPath{
		{
			// No network: a session network's cost is benchNetwork's.
			name:   "node",
			cli:    node,
			config: &container.Config{Image: dockertest.TestImage, Labels: map[string]string{runLabel: runID}},
			host:   &container.HostConfig{NetworkMode: "none"},
		},
		{
			name: "socket",
			cli:  socket,
			config: &container.Config{Image: dockertest.TestImage, Labels: map[string]string{
				runLabel: runID, dockerpolicy.LabelManaged: "true",
			}},
			host: &container.HostConfig{
				NetworkMode:    "none",
				ReadonlyRootfs: true,
				CapDrop:        []string{"ALL"},
				SecurityOpt:    []string{"no-new-privileges=true"},
				Resources:      container.Resources{Memory: 512 << 20, PidsLimit: &pids},
			},
		},
	}
}

// cycle creates, starts and force-removes one container, timing each step.
// A container left behind by a failed step is removed by the run's cleanup.
func (p createPath) cycle(ctx context.Context) (cycleTimes, error) {
	var t cycleTimes
	t0 := time.Now()
	created, err := p.cli.ContainerCreate(ctx, p.config, p.host, nil, nil, "")
	if err != nil {
		return t, fmt.Errorf("create via %s: %w", p.name, err)
	}
	t1 := time.Now()
	if err := p.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return t, fmt.Errorf("start %.12s via %s: %w", created.ID, p.name, err)
	}
	t2 := time.Now()
	if err := p.cli.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true}); err != nil {
		return t, fmt.Errorf("remove %.12s via %s: %w", created.ID, p.name, err)
	}
	t3 := time.Now()
	return cycleTimes{create: t1.Sub(t0), start: t2.Sub(t1), remove: t3.Sub(t2), total: t3.Sub(t0)}, nil
}

// benchCreate first checks that both paths make the same container, then
// times count create+start+remove cycles each way, interleaved: each
// iteration runs one cycle each way, the order alternating by iteration.
// When trace is not nil, every cycle's phases are written to it.
func benchCreate(ctx context.Context, node, socket *client.Client, runID string, count, warmup int, trace io.Writer) (createResult, error) {
	paths := createPaths(node, socket, runID)
	if err := checkSameContainer(ctx, socket, paths); err != nil {
		return createResult{}, err
	}
	res := createResult{node: make([]cycleTimes, 0, count), socket: make([]cycleTimes, 0, count)}
	outs := [2]*[]cycleTimes{&res.node, &res.socket}
	for i := range warmup + count {
		for k := range 2 {
			j := (i + k) % 2
			t, err := paths[j].cycle(ctx)
			if err != nil {
				return createResult{}, fmt.Errorf("iteration %d: %w", i, err)
			}
			if trace != nil {
				fmt.Fprintf(trace, "cycle %3d %-6s warmup=%-5t create=%9.3f start=%9.3f remove=%9.3f total=%9.3f ms\n",
					i, paths[j].name, i < warmup, ms(t.create), ms(t.start), ms(t.remove), ms(t.total))
			}
			if i >= warmup {
				*outs[j] = append(*outs[j], t)
			}
		}
	}
	return res, nil
}

// checkSameContainer creates one container each way and compares, as
// dockerd reports them, the labels and the whole host configuration, so
// the two paths are known to ask dockerd for the same work.
func checkSameContainer(ctx context.Context, socket *client.Client, paths [2]createPath) error {
	var seen [2]struct {
		labels map[string]string
		host   []byte
	}
	for i, p := range paths {
		created, err := p.cli.ContainerCreate(ctx, p.config, p.host, nil, nil, "")
		if err != nil {
			return fmt.Errorf("check paths: create via %s: %w", p.name, err)
		}
		got, err := socket.ContainerInspect(ctx, created.ID)
		if err != nil {
			return fmt.Errorf("check paths: inspect %.12s: %w", created.ID, err)
		}
		if err := socket.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true}); err != nil {
			return fmt.Errorf("check paths: remove %.12s: %w", created.ID, err)
		}
		if got.Config == nil || got.HostConfig == nil {
			return fmt.Errorf("check paths: inspect %.12s: no Config or HostConfig", created.ID)
		}
		seen[i].labels = got.Config.Labels
		if seen[i].host, err = json.Marshal(got.HostConfig); err != nil {
			return fmt.Errorf("check paths: encode host config: %w", err)
		}
	}
	if !maps.Equal(seen[0].labels, seen[1].labels) {
		return fmt.Errorf("check paths: labels differ: node made %v, socket made %v", seen[0].labels, seen[1].labels)
	}
	if string(seen[0].host) != string(seen[1].host) {
		return fmt.Errorf("check paths: host configs differ:\nnode:   %s\nsocket: %s", seen[0].host, seen[1].host)
	}
	return nil
}
