package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/images"
	"github.com/airlock-rbi/airlock/internal/airlock"
)

// labelManaged marks what a provision node manages (dockerpolicy's
// LabelManaged; the node lists nothing else).
const labelManaged = "airlock.managed"

// injection is what one orphan phase did behind Airlock's back.
type injection struct {
	// lost are sessions whose container was force-removed on the socket:
	// the round must fail them as lost.
	lost []session
	// ghosts are session IDs no store knows, with a labelled container
	// (created, never started) or a labelled network of their own on the
	// socket: the round must remove both.
	ghostContainers, ghostNetworks []string
	took                           time.Duration
}

// inject removes the containers of victims and creates ghosts containers
// and ghostNets networks as an Airlock deployment would label them, all
// at once, on the socket. Ghosts carry the run's label too, so the
// cleanup finds them if the round does not remove them.
func inject(ctx context.Context, socket *client.Client, deployment, runID string, victims []session, ghosts, ghostNets int) (injection, error) {
	inj := injection{lost: victims}
	labels := func(sess string) map[string]string {
		return map[string]string{airlock.LabelSession: sess, airlock.LabelDeployment: deployment, labelManaged: "true", runLabel: runID}
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	t0 := time.Now()
	for _, s := range victims {
		wg.Go(func() {
			if err := socket.ContainerRemove(ctx, s.Container, container.RemoveOptions{Force: true}); err != nil {
				fail(fmt.Errorf("remove the container of session %s: %w", s.ID, err))
			}
		})
	}
	for range ghosts {
		id := "ghost-" + strings.ToLower(rand.Text())
		inj.ghostContainers = append(inj.ghostContainers, id)
		wg.Go(func() {
			_, err := socket.ContainerCreate(ctx, &container.Config{Image: images.Minimal, Labels: labels(id)},
				&container.HostConfig{NetworkMode: "none"}, nil, nil, "airlock-bench-reconcile-"+id)
			if err != nil {
				fail(fmt.Errorf("create ghost container %s: %w", id, err))
			}
		})
	}
	for range ghostNets {
		id := "ghost-" + strings.ToLower(rand.Text())
		inj.ghostNetworks = append(inj.ghostNetworks, id)
		wg.Go(func() {
			if _, err := socket.NetworkCreate(ctx, "airlock-bench-reconcile-"+id, network.CreateOptions{Driver: "bridge", Labels: labels(id)}); err != nil {
				fail(fmt.Errorf("create ghost network %s: %w", id, err))
			}
		})
	}
	wg.Wait()
	inj.took = time.Since(t0)
	return inj, errors.Join(errs...)
}

// check says what of inj the deployment has not put right yet: a lost
// session not failed as lost, a ghost container or network still there.
// With counts it also counts the deployment's session containers and
// networks on the socket, which must be one per live session.
func check(ctx context.Context, socket *client.Client, deployment string, sessions map[string]session, inj injection, counts bool) ([]string, error) {
	var wrong []string
	for _, v := range inj.lost {
		s, ok := sessions[v.ID]
		switch {
		case !ok:
			wrong = append(wrong, fmt.Sprintf("session %s is not listed", v.ID))
		case s.State != string(airlock.SessionFailed) || s.EndReason != string(airlock.EndLost):
			wrong = append(wrong, fmt.Sprintf("session %s, whose container was removed, is %s (end %q), not failed as lost", v.ID, s.State, s.EndReason))
		}
	}
	for _, g := range inj.ghostContainers {
		list, err := socket.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", airlock.LabelSession+"="+g))})
		if err != nil {
			return nil, fmt.Errorf("check: list containers: %w", err)
		}
		if len(list) > 0 {
			wrong = append(wrong, fmt.Sprintf("the ghost container of unknown session %s is still there", g))
		}
	}
	for _, g := range inj.ghostNetworks {
		list, err := socket.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", airlock.LabelSession+"="+g))})
		if err != nil {
			return nil, fmt.Errorf("check: list networks: %w", err)
		}
		if len(list) > 0 {
			wrong = append(wrong, fmt.Sprintf("the ghost network of unknown session %s is still there", g))
		}
	}
	if !counts {
		return wrong, nil
	}
	live := 0
	for _, s := range sessions {
		if !airlock.SessionState(s.State).Final() {
			live++
		}
	}
	f := filters.NewArgs(filters.Arg("label", airlock.LabelSession), filters.Arg("label", airlock.LabelDeployment+"="+deployment))
	cs, err := socket.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("check: list containers: %w", err)
	}
	ns, err := socket.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("check: list networks: %w", err)
	}
	if len(cs) != live || len(ns) != live {
		wrong = append(wrong, fmt.Sprintf("%d live sessions but %d containers and %d networks of the deployment", live, len(cs), len(ns)))
	}
	return wrong, nil
}
