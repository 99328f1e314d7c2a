package airlockup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// RemoveContainers force-removes the containers a benchmark run made
// itself (labelled runLabel=runID) and every session container of the
// throwaway deployment (labelled with its deployment ID: its users' and
// its pools', which belong to no user), then their networks; sessions of
// other deployments on the same daemon are left alone. It has its own
// deadline: it runs after the run's context may have been cancelled.
func RemoveContainers(socket *client.Client, runLabel, runID, deployment string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sets := []filters.Args{filters.NewArgs(filters.Arg("label", runLabel+"="+runID))}
	if deployment != "" {
		sets = append(sets, filters.NewArgs(filters.Arg("label", airlock.LabelSession), filters.Arg("label", airlock.LabelDeployment+"="+deployment)))
	}
	var errs []error
	for _, f := range sets {
		list, err := socket.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			errs = append(errs, fmt.Errorf("list containers: %w", err))
			continue
		}
		for _, c := range list {
			err := socket.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove container %.12s: %w", c.ID, err))
			}
		}
	}
	// Then their networks (sessions' are labelled like their containers).
	for _, f := range sets {
		nets, err := socket.NetworkList(ctx, network.ListOptions{Filters: f})
		if err != nil {
			errs = append(errs, fmt.Errorf("list networks: %w", err))
			continue
		}
		for _, n := range nets {
			if err := socket.NetworkRemove(ctx, n.ID); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove network %.12s: %w", n.ID, err))
			}
		}
	}
	return errors.Join(errs...)
}
