package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/airlockup"
	"github.com/airlock-rbi/airlock/internal/dockertest"
)

func run(ctx context.Context, o options, out io.Writer) (err error) {
	socket, err := dockertest.Connect(ctx)
	if err != nil {
		return err
	}
	defer socket.Close()
	ver, err := socket.ServerVersion(ctx)
	if err != nil {
		return fmt.Errorf("docker version: %w", err)
	}
	dir, cleanup, err := airlockup.WorkDir("reconcile", o.keepLog)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()
	runID := rand.Text()
	var deployment string
	// Last: the deployment's containers and networks, and the ghosts.
	defer func() {
		if rerr := airlockup.RemoveContainers(socket, runLabel, runID, deployment); rerr != nil {
			err = errors.Join(err, fmt.Errorf("clean up containers: %w", rerr))
		}
	}()
	bin, err := airlockup.Build(ctx, dir)
	if err != nil {
		return err
	}
	metrics, err := freeAddr()
	if err != nil {
		return err
	}
	capacity := (o.sessions+o.nodes-1)/o.nodes + 10
	up, err := airlockup.StartAdmin(ctx, bin, dir, "bench-reconcile", "--server-metrics-listen", metrics,
		"--capacity", fmt.Sprint(capacity), "--max-sessions", fmt.Sprint(o.sessions+10),
		"--lifecycle-every", o.every.String(), "--idle-timeout", "2h")
	if err != nil {
		return err
	}
	deployment = up.Deployment
	// Before the containers are removed, so its rounds do not race the
	// cleanup; after the nodes (deferred below).
	defer func() {
		if serr := up.Stop(); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	stopNodes, err := startNodes(ctx, up, bin, dir, o.nodes-1, capacity)
	defer func() { err = errors.Join(err, stopNodes()) }()
	if err != nil {
		return err
	}
	nodes, err := waitNodes(ctx, up.API, o.nodes)
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "Lifecycle round of %d sessions of the minimal workspace on %d provision nodes sharing one dockerd\n", o.sessions, o.nodes)
	fmt.Fprintf(out, "dockerd %s (API %s), %s %s/%s, %d CPUs; --lifecycle-every %s\n\n",
		ver.Version, ver.APIVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), o.every)
	t0 := time.Now()
	ready, relaunched, err := launchAll(ctx, up.API, o.sessions, o.workers)
	if err != nil {
		return fmt.Errorf("%w\nlog of airlock up (end):\n%s", err, up.Tail())
	}
	launched := time.Since(t0)
	b := &bench{o: o, api: up.API, socket: socket, deployment: deployment, runID: runID}
	if b.watch, err = newRoundWatch(ctx, "http://"+metrics+"/metrics", o.every); err != nil {
		return err
	}
	res, err := b.measure(ctx, ready)
	if err != nil {
		return fmt.Errorf("%w\nlog of airlock up (end):\n%s", err, up.Tail())
	}
	res.launched, res.relaunched = launched, relaunched
	if res.perNode, err = spread(ctx, up.API, nodes); err != nil {
		return err
	}
	report(out, o, res)
	if len(res.wrong) > 0 {
		return fmt.Errorf("the state after the orphan rounds is wrong:\n  %s", joinLines(res.wrong))
	}
	return nil
}

// startNodes starts n extra provision nodes enrolled with up, each with a
// /18 of the default session pool (the local node's) of its own. stop
// stops those started, also after an error.
func startNodes(ctx context.Context, up *airlockup.Admin, bin, dir string, n, capacity int) (stop func() error, err error) {
	var procs []*airlockup.Proc
	stop = func() error {
		var errs []error
		for _, p := range procs {
			errs = append(errs, p.Stop())
		}
		return errors.Join(errs...)
	}
	if n == 0 {
		return stop, nil
	}
	if n > 3 {
		return stop, fmt.Errorf("at most 4 nodes: the default session pool holds three /18s besides the local node's")
	}
	token, err := up.API.JoinToken(ctx, n, capacity)
	if err != nil {
		return stop, err
	}
	u, err := url.Parse(up.Server)
	if err != nil {
		return stop, fmt.Errorf("server URL: %w", err)
	}
	for i := range n {
		listen, err := freeAddr()
		if err != nil {
			return stop, err
		}
		p, err := airlockup.StartNode(ctx, bin, dir, up.Server, airlockup.NodeOptions{
			Name: fmt.Sprintf("node%d", i+2), Listen: listen, Token: token, Capacity: capacity,
			Policy: fmt.Sprintf("images: [airlock/minimal:latest]\nsession_pool: 10.213.%d.0/18\n", 64*(i+1)),
			// The api's port, which the agents reach (airlock up opens it
			// on the same host rules too).
			Extra: []string{"--session-host-ports", "tcp:" + u.Port()},
		})
		if err != nil {
			return stop, err
		}
		procs = append(procs, p)
	}
	return stop, nil
}

// freeAddr is a loopback address with a port free now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
