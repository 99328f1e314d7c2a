// Package launcher drives provision nodes: it creates, starts, lists and
// removes session containers through each node's mutual-TLS Docker API
// with the official Docker Go SDK and the infra client certificate, and
// nothing else. It holds one kept-alive client per node, and talks only
// to the provision certificate on record for that node.
package launcher

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// Labels of session networks, as the provision node reads them
// (internal/dockerpolicy holds the same names: the node is not a library
// of the infra side).
const (
	LabelIsolation = "airlock.isolation"
	LabelEgress    = "airlock.egress"
	LabelProxy     = "airlock.egress-proxy"
)

// Launcher drives nodes.
type Launcher struct {
	tlsConfig  func() (*tls.Config, error)
	records    Records
	deployment string
	log        *slog.Logger

	// mu guards clients.
	mu      sync.Mutex
	clients map[string]*client.Client
}

// New returns a Launcher whose clients authenticate with the TLS config
// tlsConfig returns (the infra client certificate, and the deployment CA
// as its RootCAs) and accept only the node certificates records has on
// record. Containers it starts carry the deployment label, and only those
// are listed.
func New(tlsConfig func() (*tls.Config, error), records Records, deployment string, log *slog.Logger) *Launcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Launcher{tlsConfig: tlsConfig, records: records, deployment: deployment, log: log, clients: map[string]*client.Client{}}
}

// Close closes every node client.
func (l *Launcher) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for url, c := range l.clients {
		errs = append(errs, c.Close())
		delete(l.clients, url)
	}
	return errors.Join(errs...)
}

// Forget drops the client of a node (removed, or its address changed).
func (l *Launcher) Forget(nodeURL string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.clients[nodeURL]; ok {
		c.Close()
		delete(l.clients, nodeURL)
	}
}

func (l *Launcher) client(nodeURL string) (*client.Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.clients[nodeURL]; ok {
		return c, nil
	}
	cfg, err := l.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("infra client certificate: %w", err)
	}
	if cfg, err = l.nodeTLS(cfg, nodeURL); err != nil {
		return nil, err
	}
	tr := &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second,
		ForceAttemptHTTP2: false, TLSHandshakeTimeout: 10 * time.Second}
	c, err := client.NewClientWithOpts(client.WithHost(nodeURL), client.WithHTTPClient(&http.Client{Transport: tr}),
		client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client for node %s: %w", nodeURL, err)
	}
	l.clients[nodeURL] = c
	return c, nil
}

// Start creates the session's own network and then its container on the
// node, starts the container and returns its ID. A failed launch removes
// what it created, so it leaves nothing behind.
func (l *Launcher) Start(ctx context.Context, nodeURL string, spec airlock.ContainerSpec) (string, error) {
	c, err := l.client(nodeURL)
	if err != nil {
		return "", err
	}
	labels := maps.Clone(spec.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[airlock.LabelDeployment] = l.deployment
	netID, proxy, err := l.createNetwork(ctx, c, nodeURL, spec, labels)
	if err != nil {
		return "", err
	}
	env := spec.Env
	if proxy != "" {
		env = append(slices.Clip(env), "AIRLOCK_PROXY=http://"+proxy)
	}
	var pids *int64
	if spec.PidsLimit > 0 {
		pids = &spec.PidsLimit
	}
	var mounts []mount.Mount
	for _, target := range spec.Volumes {
		mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Target: target})
	}
	created, err := c.ContainerCreate(ctx, &container.Config{
		Image:  spec.Image,
		Env:    env,
		Labels: labels,
		User:   spec.User,
	}, &container.HostConfig{
		NetworkMode:    container.NetworkMode(netID),
		ReadonlyRootfs: true,
		Tmpfs:          spec.Tmpfs,
		Mounts:         mounts,
		ExtraHosts:     spec.ExtraHosts,
		ShmSize:        spec.ShmSize,
		Runtime:        spec.Runtime,
		SecurityOpt:    spec.SecurityOpt,
		CapDrop:        []string{"ALL"},
		RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyDisabled},
		LogConfig:      container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "2"}},
		Resources:      container.Resources{Memory: spec.Memory, NanoCPUs: spec.NanoCPUs, PidsLimit: pids},
	}, nil, nil, spec.Name)
	if err != nil {
		return "", l.undo(ctx, c, nodeURL, "", netID, fmt.Errorf("create container on %s: %w", nodeURL, err))
	}
	if err := c.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return "", l.undo(ctx, c, nodeURL, created.ID, netID, fmt.Errorf("start container on %s: %w", nodeURL, err))
	}
	return created.ID, nil
}

// createNetwork creates the session's network, named like its container
// and labelled like it, and returns its ID and, for hardened levels, the
// address of the node's egress proxy on it.
func (l *Launcher) createNetwork(ctx context.Context, c *client.Client, nodeURL string, spec airlock.ContainerSpec, labels map[string]string) (id, proxy string, err error) {
	nl := maps.Clone(labels)
	if spec.Isolation != "" {
		nl[LabelIsolation] = spec.Isolation
	}
	if spec.Egress != "" {
		nl[LabelEgress] = spec.Egress
	}
	var created network.CreateResponse
	err = retryOverlap(ctx, func() error {
		var err error
		created, err = c.NetworkCreate(ctx, spec.Name, network.CreateOptions{Driver: "bridge", Labels: nl})
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("create the session network on %s: %w", nodeURL, err)
	}
	n, err := c.NetworkInspect(ctx, created.ID, network.InspectOptions{})
	if err != nil {
		return "", "", l.undo(ctx, c, nodeURL, "", created.ID, fmt.Errorf("inspect the session network on %s: %w", nodeURL, err))
	}
	return created.ID, n.Labels[LabelProxy], nil
}

// overlapTries bounds retryOverlap.
const overlapTries = 5

// retryOverlap calls create until it does not fail with dockerd's
// subnet clash, at most overlapTries times. A node picks a session
// subnet free on the engine and holds it for itself, but another node or
// deployment on the same engine may pick the same one at the same
// moment: dockerd refuses the second ("Pool overlaps with other one on
// this address space"), and the node, which holds its pick, offers
// another on the next create.
func retryOverlap(ctx context.Context, create func() error) error {
	var err error
	for i := range overlapTries {
		if err = create(); err == nil || !strings.Contains(err.Error(), "Pool overlaps") {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(time.Duration(i+1) * 20 * time.Millisecond):
		}
	}
	return err
}

// undo removes what a failed launch created, with a fresh context (ctx
// may be what failed), and returns cause with any failure to clean up.
func (l *Launcher) undo(ctx context.Context, c *client.Client, nodeURL, containerID, netID string, cause error) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var errs []error
	if containerID != "" {
		if err := c.ContainerRemove(rctx, containerID, container.RemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", containerID, err))
		}
	}
	if err := c.NetworkRemove(rctx, netID); err != nil && !errdefs.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("remove network %s: %w", netID, err))
	}
	if len(errs) > 0 {
		l.log.Error("clean up after a failed launch", "node", nodeURL, "err", errors.Join(errs...))
		return fmt.Errorf("%w (and cleaning up failed: %v)", cause, errors.Join(errs...))
	}
	return cause
}

// Addresses returns the IP addresses of a started container on its
// networks, as the node's engine reports them: the only peers TURN lets
// the session's viewers relay to. A container on no network (or not yet
// given an address) has none.
func (l *Launcher) Addresses(ctx context.Context, nodeURL, containerID string) ([]netip.Addr, error) {
	c, err := l.client(nodeURL)
	if err != nil {
		return nil, err
	}
	info, err := c.ContainerInspect(ctx, containerID)
	if err != nil {
		return nil, fmt.Errorf("inspect container %s on %s: %w", containerID, nodeURL, err)
	}
	var out []netip.Addr
	if info.NetworkSettings == nil {
		return nil, nil
	}
	for name, ep := range info.NetworkSettings.Networks {
		if ep == nil {
			continue
		}
		for _, s := range []string{ep.IPAddress, ep.GlobalIPv6Address} {
			if s == "" {
				continue
			}
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("container %s on %s: network %s: address %q: %w", containerID, nodeURL, name, s, err)
			}
			out = append(out, a)
		}
	}
	return out, nil
}

// Halt stops a session's container (SIGTERM, then SIGKILL after grace)
// and keeps it, with its network, for a later Resume: a suspended
// session. One already stopped is not an error.
func (l *Launcher) Halt(ctx context.Context, nodeURL, containerID string, grace time.Duration) error {
	c, err := l.client(nodeURL)
	if err != nil {
		return err
	}
	secs := int(grace.Seconds())
	if err := c.ContainerStop(ctx, containerID, container.StopOptions{Timeout: &secs}); err != nil {
		if errdefs.IsNotFound(err) {
			return airlock.Errorf(airlock.ENOTFOUND, "stop container %s on %s: it is gone", containerID, nodeURL)
		}
		return fmt.Errorf("stop container %s on %s: %w", containerID, nodeURL, err)
	}
	return nil
}

// Resume starts a container Halt stopped; its process starts afresh on
// the same network and writable layer. One running is not an error.
func (l *Launcher) Resume(ctx context.Context, nodeURL, containerID string) error {
	c, err := l.client(nodeURL)
	if err != nil {
		return err
	}
	if err := c.ContainerStart(ctx, containerID, container.StartOptions{}); err != nil {
		return fmt.Errorf("start container %s on %s again: %w", containerID, nodeURL, err)
	}
	return nil
}

// Remove stops the container (SIGTERM, then SIGKILL after grace) and
// removes it and its session network. A container that is already gone
// is not an error (its network, if left, is the reconciler's).
func (l *Launcher) Remove(ctx context.Context, nodeURL, containerID string, grace time.Duration) error {
	c, err := l.client(nodeURL)
	if err != nil {
		return err
	}
	var netID string
	if info, err := c.ContainerInspect(ctx, containerID); err == nil && info.HostConfig != nil {
		if nm := info.HostConfig.NetworkMode; !nm.IsNone() && !nm.IsDefault() && !nm.IsBridge() {
			netID = string(nm)
		}
	}
	secs := int(grace.Seconds())
	if err := c.ContainerStop(ctx, containerID, container.StopOptions{Timeout: &secs}); err != nil && !errdefs.IsNotFound(err) {
		l.log.Warn("stop container before removal", "node", nodeURL, "container", containerID, "err", err)
	}
	if err := c.ContainerRemove(ctx, containerID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !errdefs.IsNotFound(err) {
		// Another remover got there first (the lifecycle jobs and a user's
		// DELETE, or two api processes): dockerd refuses the second while
		// the first runs. Removed is what both want, so wait for it.
		if !errdefs.IsConflict(err) && !strings.Contains(err.Error(), "already in progress") {
			return fmt.Errorf("remove container %s on %s: %w", containerID, nodeURL, err)
		}
		if werr := waitGone(ctx, c, containerID); werr != nil {
			return fmt.Errorf("remove container %s on %s: %w (and %w)", containerID, nodeURL, err, werr)
		}
	}
	if netID != "" {
		return l.RemoveNetwork(ctx, nodeURL, netID)
	}
	return nil
}

// waitGone waits, at most 30 s, until the container is no more.
func waitGone(ctx context.Context, c *client.Client, containerID string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		_, err := c.ContainerInspect(ctx, containerID)
		if errdefs.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for its removal: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// RemoveNetwork removes a session network; one already gone is not an
// error.
func (l *Launcher) RemoveNetwork(ctx context.Context, nodeURL, id string) error {
	c, err := l.client(nodeURL)
	if err != nil {
		return err
	}
	if err := c.NetworkRemove(ctx, id); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove network %s on %s: %w", id, nodeURL, err)
	}
	return nil
}

// Networks lists the session networks on a node.
func (l *Launcher) Networks(ctx context.Context, nodeURL string) ([]airlock.Network, error) {
	c, err := l.client(nodeURL)
	if err != nil {
		return nil, err
	}
	list, err := c.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", airlock.LabelSession), filters.Arg("label", airlock.LabelDeployment+"="+l.deployment))})
	if err != nil {
		return nil, fmt.Errorf("list networks on %s: %w", nodeURL, err)
	}
	out := make([]airlock.Network, 0, len(list))
	for _, n := range list {
		out = append(out, airlock.Network{ID: n.ID, SessionID: n.Labels[airlock.LabelSession], Containers: len(n.Containers)})
	}
	return out, nil
}

// Containers lists the session containers on a node.
func (l *Launcher) Containers(ctx context.Context, nodeURL string) ([]airlock.Container, error) {
	c, err := l.client(nodeURL)
	if err != nil {
		return nil, err
	}
	list, err := c.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", airlock.LabelSession), filters.Arg("label", airlock.LabelDeployment+"="+l.deployment))})
	if err != nil {
		return nil, fmt.Errorf("list containers on %s: %w", nodeURL, err)
	}
	out := make([]airlock.Container, 0, len(list))
	for _, x := range list {
		out = append(out, airlock.Container{ID: x.ID, SessionID: x.Labels[airlock.LabelSession], State: x.State, Status: x.Status})
	}
	return out, nil
}

// Ping checks that the node answers.
func (l *Launcher) Ping(ctx context.Context, nodeURL string) error {
	c, err := l.client(nodeURL)
	if err != nil {
		return err
	}
	if _, err := c.Ping(ctx); err != nil {
		return fmt.Errorf("ping node %s: %w", nodeURL, err)
	}
	return nil
}

// LogTail returns the last lines of a container's stdout and stderr.
func (l *Launcher) LogTail(ctx context.Context, nodeURL, containerID string, lines int) (string, error) {
	c, err := l.client(nodeURL)
	if err != nil {
		return "", err
	}
	rc, err := c.ContainerLogs(ctx, containerID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(lines)})
	if err != nil {
		return "", fmt.Errorf("logs of container %s on %s: %w", containerID, nodeURL, err)
	}
	defer rc.Close()
	// Session containers have no TTY: Docker multiplexes both streams.
	var out bytes.Buffer
	w := &limitWriter{w: &out, n: 64 << 10}
	if _, err := stdcopy.StdCopy(w, w, rc); err != nil && !errors.Is(err, errLimit) {
		return "", fmt.Errorf("logs of container %s on %s: %w", containerID, nodeURL, err)
	}
	return out.String(), nil
}

var errLimit = errors.New("log tail too long")

// limitWriter stops a log read at n bytes: a tail of a few lines is all
// a reason needs.
type limitWriter struct {
	w io.Writer
	n int
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		_, _ = w.w.Write(p[:w.n])
		w.n = 0
		return 0, errLimit
	}
	w.n -= len(p)
	return w.w.Write(p)
}
