package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/bench/internal/sessionnet"
	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// targetNetworkRatioP50 bounds what a network of its own may cost a
// launch: its p50 over the shared bridge's.
const targetNetworkRatioP50 = 2.0

// networkTimes is one launch on each kind of network.
type networkTimes struct {
	// launch is from before the first create until ContainerStart returns.
	launch time.Duration
	// create and remove are the session network's own (zero when shared).
	create, remove time.Duration
}

type networkResult struct {
	shared, own []networkTimes
}

// benchNetwork times what a session network costs a launch, on the
// socket, interleaved: a container created and started on Docker's shared
// default bridge, against a network made as the node makes a session's
// (a bridge of its own named like the host rules expect, a /28 of the
// pool, icc off) and the same container created and started on it. The
// container is removed untimed; the network's removal is timed apart.
func benchNetwork(ctx context.Context, socket *client.Client, runID string, count, warmup int, trace io.Writer) (networkResult, error) {
	pids := int64(512)
	cfg := &container.Config{Image: dockertest.TestImage, User: "65534:65534", Labels: map[string]string{runLabel: runID}}
	host := func(nm string) *container.HostConfig {
		return &container.HostConfig{NetworkMode: container.NetworkMode(nm), ReadonlyRootfs: true, CapDrop: []string{"ALL"},
			SecurityOpt: []string{"no-new-privileges=true"}, Resources: container.Resources{Memory: 512 << 20, PidsLimit: &pids}}
	}
	launch := func(own bool) (networkTimes, error) {
		var t networkTimes
		t0 := time.Now()
		nm := "bridge"
		var netID string
		if own {
			id, err := sessionnet.Create(ctx, socket, map[string]string{runLabel: runID})
			if err != nil {
				return t, err
			}
			netID, nm = id, id
			t.create = time.Since(t0)
		}
		c, err := socket.ContainerCreate(ctx, cfg, host(nm), nil, nil, "")
		if err != nil {
			return t, fmt.Errorf("create container on %s: %w", nm, err)
		}
		if err := socket.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			return t, fmt.Errorf("start container on %s: %w", nm, err)
		}
		t.launch = time.Since(t0)
		if err := socket.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
			return t, fmt.Errorf("remove container: %w", err)
		}
		if own {
			t1 := time.Now()
			if err := socket.NetworkRemove(ctx, netID); err != nil {
				return t, fmt.Errorf("remove network: %w", err)
			}
			t.remove = time.Since(t1)
		}
		return t, nil
	}
	var res networkResult
	for i := range warmup + count {
		for k := range 2 {
			own := (i+k)%2 == 1
			t, err := launch(own)
			if err != nil {
				return networkResult{}, fmt.Errorf("iteration %d: %w", i, err)
			}
			if trace != nil {
				fmt.Fprintf(trace, "network %3d own=%-5t warmup=%-5t launch=%9.3f create=%9.3f remove=%9.3f ms\n",
					i, own, i < warmup, ms(t.launch), ms(t.create), ms(t.remove))
			}
			if i < warmup {
				continue
			}
			if own {
				res.own = append(res.own, t)
			} else {
				res.shared = append(res.shared, t)
			}
		}
	}
	return res, nil
}

// reportNetwork prints the session network table and returns its BENCH line.
func reportNetwork(out io.Writer, r networkResult, o options) string {
	pick := func(ts []networkTimes, f func(networkTimes) time.Duration) []time.Duration {
		out := make([]time.Duration, len(ts))
		for i, t := range ts {
			out[i] = f(t)
		}
		return out
	}
	launchOf := func(t networkTimes) time.Duration { return t.launch }
	s50, s95 := ms(percentile(pick(r.shared, launchOf), 50)), ms(percentile(pick(r.shared, launchOf), 95))
	o50, o95 := ms(percentile(pick(r.own, launchOf), 50)), ms(percentile(pick(r.own, launchOf), 95))
	c50 := ms(percentile(pick(r.own, func(t networkTimes) time.Duration { return t.create }), 50))
	rm50 := ms(percentile(pick(r.own, func(t networkTimes) time.Duration { return t.remove }), 50))
	ratio := o50 / s50
	result := verdict(ratio <= targetNetworkRatioP50)
	fmt.Fprintf(out, "Launch on a session network of its own vs the shared bridge (c=%d per path after %d warm-up, interleaved, socket)\n", o.createC, o.createWarmup)
	fmt.Fprintf(out, "  %-8s %10s %10s\n", "", "p50 ms", "p95 ms")
	fmt.Fprintf(out, "  %-8s %10.3f %10.3f\n", "shared", s50, s95)
	fmt.Fprintf(out, "  %-8s %10.3f %10.3f\n", "own", o50, o95)
	fmt.Fprintf(out, "  network create p50 %.3f ms, remove p50 %.3f ms\n", c50, rm50)
	fmt.Fprintf(out, "  ratio own p50 / shared p50 = %.3f; target <= %g: %s\n", ratio, targetNetworkRatioP50, result)
	return fmt.Sprintf("BENCH provision.network c=%d shared_p50_ms=%.3f own_p50_ms=%.3f net_create_p50_ms=%.3f net_remove_p50_ms=%.3f ratio_p50=%.3f target_ratio_p50=%g result=%s",
		o.createC, s50, o50, c50, rm50, ratio, targetNetworkRatioP50, result)
}
