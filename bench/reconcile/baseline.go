package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// baseline is the Docker work a reconciliation round cannot avoid, done
// directly on the socket: for each of nodes nodes at once (they share
// this engine, so each lists every session of the deployment, as each
// node's reconciliation does), the labelled ContainerList (all states)
// and then NetworkList, with the launcher's filters. It returns the wall
// time of the whole and how many containers and networks one node saw.
func baseline(ctx context.Context, socket *client.Client, deployment string, nodes int) (time.Duration, int, int, error) {
	f := filters.NewArgs(filters.Arg("label", airlock.LabelSession), filters.Arg("label", airlock.LabelDeployment+"="+deployment))
	errs := make([]error, nodes)
	var cs, ns int
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range nodes {
		wg.Go(func() {
			c, err := socket.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
			if err != nil {
				errs[i] = fmt.Errorf("baseline container list: %w", err)
				return
			}
			n, err := socket.NetworkList(ctx, network.ListOptions{Filters: f})
			if err != nil {
				errs[i] = fmt.Errorf("baseline network list: %w", err)
				return
			}
			if i == 0 {
				cs, ns = len(c), len(n)
			}
		})
	}
	wg.Wait()
	return time.Since(t0), cs, ns, errors.Join(errs...)
}
