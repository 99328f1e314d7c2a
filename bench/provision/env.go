package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/internal/dockerpolicy"
	"github.com/airlock-rbi/airlock/internal/dockertest"
	"github.com/airlock-rbi/airlock/internal/pki"
	"github.com/airlock-rbi/airlock/internal/provision"
)

// runLabel marks every container this program creates, on both paths, with
// the run's ID, so cleanup finds them all even when a create answered with
// an error after dockerd had already made the container.
const runLabel = "airlock.bench.run"

// nodeEnv is a provision node serving on loopback in this process, and a
// Docker SDK client of it holding an infra certificate.
type nodeEnv struct {
	node   *provision.Node
	client *client.Client
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// startNode makes a CA and the node's and client's bundles under dir,
// starts a node on 127.0.0.1:0 allowing only the test image, and connects a
// client to it over mutual TLS with kept-alive connections.
func startNode(ctx context.Context, dir string) (_ *nodeEnv, err error) {
	ca, err := pki.InitCA(filepath.Join(dir, "ca"))
	if err != nil {
		return nil, fmt.Errorf("make CA: %w", err)
	}
	nodeDir := filepath.Join(dir, "node")
	clientDir := filepath.Join(dir, "client")
	for _, b := range []struct {
		req pki.IssueRequest
		dir string
	}{
		{pki.IssueRequest{Role: pki.RoleProvision, Name: "127.0.0.1"}, nodeDir},
		{pki.IssueRequest{Role: pki.RoleInfra, Name: "bench-infra"}, clientDir},
	} {
		bundle, err := ca.Issue(b.req)
		if err != nil {
			return nil, fmt.Errorf("issue certificate: %w", err)
		}
		if err := pki.WriteBundle(b.dir, bundle); err != nil {
			return nil, fmt.Errorf("write certificate: %w", err)
		}
	}
	policy, err := dockerpolicy.ParseConfig([]byte("images: ["+dockertest.TestImage+"]\n"), dir)
	if err != nil {
		return nil, fmt.Errorf("node policy: %w", err)
	}
	serverTLS, err := provision.TLSConfig(nodeDir)
	if err != nil {
		return nil, fmt.Errorf("node TLS config: %w", err)
	}
	clientTLS, err := pki.ClientTLSConfig(clientDir)
	if err != nil {
		return nil, fmt.Errorf("client TLS config: %w", err)
	}

	node, err := provision.New(ctx, provision.Options{Policy: policy, DockerSocket: dockertest.Socket()})
	if err != nil {
		return nil, fmt.Errorf("start node: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		node.Close()
		return nil, fmt.Errorf("node listener: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	env := &nodeEnv{node: node, addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { env.done <- node.Serve(sctx, ln, serverTLS) }()
	defer func() {
		if err != nil {
			err = errors.Join(err, env.stop())
		}
	}()

	env.client, err = client.NewClientWithOpts(
		client.WithHost("https://"+env.addr),
		client.WithHTTPClient(&http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS, MaxIdleConnsPerHost: 8}}),
		client.WithAPIVersionNegotiation(),
	)
	if err != nil {
		return nil, fmt.Errorf("client of node: %w", err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	defer pcancel()
	if _, err := env.client.Ping(pctx); err != nil {
		return nil, fmt.Errorf("ping node at %s: %w", env.addr, err)
	}
	return env, nil
}

// stop shuts the node down and releases both clients.
func (e *nodeEnv) stop() error {
	e.cancel()
	err := <-e.done
	if err != nil {
		err = fmt.Errorf("node: %w", err)
	}
	if e.client != nil {
		e.client.Close()
	}
	e.node.Close()
	return err
}

// removeRun force-removes every container labelled with runID, whichever
// path created it. It uses its own deadline: it runs after the run's
// context may have been cancelled.
func removeRun(socket *client.Client, runID string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	list, err := socket.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", runLabel+"="+runID)),
	})
	if err != nil {
		return fmt.Errorf("list containers of run %s: %w", runID, err)
	}
	var errs []error
	for _, c := range list {
		err := socket.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		if err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %.12s: %w", c.ID, err))
		}
	}
	nets, err := socket.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", runLabel+"="+runID))})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list networks of run %s: %w", runID, err))...)
	}
	for _, n := range nets {
		if err := socket.NetworkRemove(ctx, n.ID); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %.12s: %w", n.ID, err))
		}
	}
	return errors.Join(errs...)
}
