package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/images"
	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/dockerpolicy"
	"github.com/airlock-rbi/airlock/internal/enroll"
	"github.com/airlock-rbi/airlock/internal/hostaddr"
	"github.com/airlock-rbi/airlock/internal/imagebuild"
	"github.com/airlock-rbi/airlock/internal/infra"
	"github.com/airlock-rbi/airlock/internal/seccomp"
)

// defaultPolicy is written to DATA/provision.yaml on first start.
const defaultPolicy = `# Airlock provision policy: what this node's Docker API door allows.
# Only images is required; everything else has a safe default (see README).
images:
  - airlock/minimal:latest
  - airlock/chromium:latest
# Docker's default profile plus what Chromium's own sandbox needs
# (written by airlock up from internal/seccomp).
seccomp_profiles:
  - seccomp/chromium.json
# runsc (gVisor) is what sandboxed sessions run under; this node offers
# sandboxed only once dockerd has it (make sandboxed) and a probe passes.
runtimes: [runc, runsc]
# capabilities: [CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, NET_BIND_SERVICE]
# defaults:
#   memory: 512m
#   max_memory: 16g
#   pids_limit: 512
#   max_pids_limit: 4096
`

// defaultWorkspaces is the catalog airlock up offers: each workspace is
// added once, to a new deployment or to one that never had it (see
// infra.SeedWorkspaces), and stays deleted or changed if an administrator
// does so. The chromium workspace needs its image (make images-chromium)
// and runs under the chromium seccomp profile the provision policy above
// allows; chromium-hardened is the same browser with the default egress
// policy (the public web, nothing private or special-purpose). Both are
// a normal browser window that may download and upload files (up to
// airlock.DefaultTransferMax each), with Airlock's default Chromium
// policy otherwise: no devtools, printing, password manager or sign-in.
const defaultWorkspaces = `workspaces:
  - name: minimal
    description: "The agent alone: for checks and benchmarks"
    image: airlock/minimal:latest
    isolation: standard
    memory: 64m
    pids: 64
  - name: chromium
    description: Chromium, isolated
    image: airlock/chromium:latest
    isolation: standard
    seccomp: chromium
    clipboard: both
    shm: 512m
    memory: 2g
    pids: 512
    start_url: https://www.debian.org/
    mode: browser
    browser:
      downloads: {allowed: true}
      uploads: {allowed: true}
  - name: chromium-hardened
    description: "Chromium, hardened: the web only through this node's egress proxy, nothing private"
    image: airlock/chromium:latest
    isolation: hardened
    seccomp: chromium
    clipboard: both
    shm: 512m
    memory: 2g
    pids: 512
    start_url: https://www.debian.org/
    mode: browser
    browser:
      downloads: {allowed: true}
      uploads: {allowed: true}
`

// runUp runs everything on this host: the infra server, a provision node
// in front of this host's Docker engine enrolled as "local", and the
// workspace images it needs.
func runUp(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("up", stderr)
	var cfg infra.Config
	infraFlags(fs, &cfg, defaultTURNListen)
	fs.StringVar(&cfg.MetricsListen, "server-metrics-listen", "", "address of the server's /metrics, e.g. 127.0.0.1:9377 (default off)")
	var f provisionFlags
	fs.StringVar(&f.listen, "provision-listen", "127.0.0.1:2376", "address of this host's provision node")
	fs.StringVar(&f.socket, "docker-socket", "/var/run/docker.sock", "local Docker socket")
	fs.StringVar(&f.metrics, "metrics-listen", "127.0.0.1:9376", "address of the provision node's /metrics (empty: off)")
	egressFlags(fs, &f)
	capacity := fs.Int("capacity", 20, "sessions this host runs at most")
	extraPorts := fs.String("extra-session-host-ports", "", "more ports of this host that sessions may reach, beside this server's: e.g. tcp:9443 for the gateway of another infra server on this host")
	imageBinary := fs.String("image-binary", "", "static airlock binary to build workspace images from (default: this one)")
	probeImage := fs.String("sandbox-probe-image", "airlock/chromium:latest", "local image with dmesg that proves runsc runs containers inside gVisor (sandboxed is offered only then)")
	if err := parse(fs, args); err != nil {
		return err
	}
	data, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return err
	}
	cfg.DataDir = data
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := upTURN(&cfg, set, net.Listen, log); err != nil {
		return err
	}
	docker, err := client.NewClientWithOpts(client.WithHost("unix://"+f.socket), client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer docker.Close()
	if err := ensureImages(ctx, docker, *imageBinary, log); err != nil {
		return err
	}
	if err := bridgeSettings(ctx, docker, &cfg); err != nil {
		return err
	}
	if f.ln, err = net.Listen("tcp", f.listen); err != nil {
		return fmt.Errorf("provision listener: %w", err)
	}
	f.config = filepath.Join(data, "provision.yaml")
	f.tlsDir = filepath.Join(data, "provision")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	if err := writeIfMissing(f.config, defaultPolicy); err != nil {
		return err
	}
	if err := writeChromiumProfile(data); err != nil {
		return err
	}
	policy, err := dockerpolicy.LoadConfig(f.config)
	if err != nil {
		return err
	}
	// Sessions run on networks of the node's pool: TURN relays to those.
	if cfg.TURNListen != "" && cfg.TURNPeerNetworks == "" {
		cfg.TURNPeerNetworks = policy.Pool().Prefix().String()
	}
	cfg.AdminPassword = os.Getenv("AIRLOCK_ADMIN_PASSWORD")
	cfg.Logger = log.With("component", "server")
	cfg.Out = stdout

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	cfg.Ready = func(addr string, srv *infra.Server) {
		_, apiPort, _ := net.SplitHostPort(addr)
		apiURL := "https://127.0.0.1:" + apiPort
		provHost, _, _ := net.SplitHostPort(f.listen)
		_, provPort, _ := net.SplitHostPort(f.ln.Addr().String())
		if provHost == "" || provHost == "0.0.0.0" || provHost == "::" {
			provHost = "127.0.0.1"
		}
		nodeURL := "https://" + net.JoinHostPort(provHost, provPort)
		hostPorts, perr := sessionHostPorts(&cfg, srv.AgentURL)
		if perr != nil {
			errs <- perr
			cancel()
			return
		}
		f.hostPorts = hostPorts
		if *extraPorts != "" {
			f.hostPorts += "," + *extraPorts
		}
		// The local node reports its refusals to the api beside it.
		reporter := &enroll.Reporter{Server: apiURL, TLSDir: f.tlsDir, Log: log.With("component", "audit-report")}
		f.report = reporter.Report
		sn, serr := startSessionNet(ctx, f, policy, log)
		if serr != nil {
			errs <- fmt.Errorf("provision node: %w", serr)
			cancel()
			return
		}
		wg.Go(sn.wait)
		// The levels the local node advertises: hardened once its rules
		// and egress proxy are in place, sandboxed only when runsc is
		// configured and a probe container proved it runs inside gVisor
		// (provableIsolation logs why a level is not offered).
		levels, lerr := provableIsolation(ctx, f.socket, *probeImage, policy, []string{"standard", "hardened", "sandboxed"}, sn.hardened, log)
		if lerr != nil {
			errs <- lerr
			cancel()
			return
		}
		isolation := make([]airlock.Isolation, len(levels))
		for i, l := range levels {
			isolation[i] = airlock.Isolation(l)
		}
		if err := infra.EnsureLocalNode(ctx, srv, "local", nodeURL, *capacity, f.tlsDir, isolation); err != nil {
			errs <- err
			cancel()
			return
		}
		if err := infra.SeedWorkspaces(ctx, srv.Store, "(airlock up's defaults)", []byte(defaultWorkspaces), srv.SeccompProfiles); err != nil {
			errs <- fmt.Errorf("default workspaces: %w", err)
			cancel()
			return
		}
		wg.Go(func() {
			if err := serveProvision(ctx, f, policy, log, nil, sn); err != nil {
				errs <- fmt.Errorf("provision node: %w", err)
				cancel()
			}
		})
		wg.Go(func() { reporter.Run(ctx) })
		wg.Go(func() {
			m := &enroll.Maintainer{Server: apiURL, TLSDir: f.tlsDir, Log: log.With("component", "enroll")}
			if err := m.Run(ctx); err != nil {
				log.Error("local node maintenance stopped", "err", err)
			}
		})
		fmt.Fprintf(stdout, "\nAirlock is up: https://localhost:%s  (CA: %s)\n"+
			"  open https://localhost:%s/ in a browser, log in as admin and launch chromium\n"+
			"  airlock login --server %s --user admin --ca-cert %s\n"+
			"  airlock session create minimal --wait\n\n",
			apiPort, filepath.Join(data, "ca.pem"), apiPort, apiURL, filepath.Join(data, "ca.pem"))
	}
	err = infra.Run(ctx, cfg)
	cancel()
	wg.Wait()
	close(errs)
	for e := range errs {
		err = errors.Join(err, e)
	}
	return err
}

// bridgeSettings are what session containers need of Docker's default
// bridge when --listen is loopback (which they cannot reach): an address
// on the bridge where the server also listens (host.docker.internal, the
// host-gateway, is that address from every network of the host).
func bridgeSettings(ctx context.Context, docker hostaddr.Inspector, cfg *infra.Config) error {
	if cfg.AgentURL != "" || !hostaddr.IsLoopback(cfg.Listen) {
		return nil
	}
	nw, err := docker.NetworkInspect(ctx, "bridge", network.InspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect Docker's bridge network, whose address session containers reach this host on: %w", err)
	}
	a, err := hostaddr.FromNetwork(nw, hostaddr.LocalInterfaceAddrs)
	if err != nil {
		return fmt.Errorf("--listen %s is loopback, which session containers cannot reach, and this host's address on the Docker bridge is unknown (%w): listen on :PORT instead", cfg.Listen, err)
	}
	_, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", cfg.Listen, err)
	}
	cfg.AgentListen = net.JoinHostPort(a.String(), port)
	return nil
}

// sessionHostPorts are the ports of this host its sessions may reach: the
// api's as agents reach it, and TURN's with its relay ports.
func sessionHostPorts(cfg *infra.Config, agentURL string) (string, error) {
	u, err := url.Parse(agentURL)
	if err != nil || u.Port() == "" {
		return "", fmt.Errorf("the agents' server URL %q names no port", agentURL)
	}
	ports := []string{"tcp:" + u.Port()}
	if cfg.TURNListen != "" {
		_, tp, err := net.SplitHostPort(cfg.TURNListen)
		if err != nil {
			return "", fmt.Errorf("--turn-listen %s: %w", cfg.TURNListen, err)
		}
		relay := cfg.TURNRelayPorts
		if relay == "" {
			relay = "49160-49200"
		}
		ports = append(ports, "udp:"+tp, "tcp:"+tp, "udp:"+relay)
	}
	return strings.Join(ports, ","), nil
}

// ensureImages builds the workspace images from this very binary when
// the engine lacks them, so a fresh host needs no registry. The Chromium
// image takes minutes and a Debian base (make images-chromium): it is only
// checked, and its absence logged, not fatal.
func ensureImages(ctx context.Context, cli *client.Client, self string, log *slog.Logger) error {
	var err error
	if self == "" {
		if self, err = os.Executable(); err != nil {
			return fmt.Errorf("workspace images: %w", err)
		}
	}
	built, err := imagebuild.Ensure(ctx, cli, images.Minimal, images.FS, "minimal", self)
	if err != nil {
		return err
	}
	if built {
		log.Info("built workspace image", "image", images.Minimal)
	}
	exists, current, err := imagebuild.Current(ctx, cli, images.Chromium, self)
	switch {
	case err != nil:
		log.Warn("could not check the image of workspace chromium", "image", images.Chromium, "err", err)
	case !exists:
		log.Warn("workspace chromium needs image " + images.Chromium + ": run make images-chromium")
	case !current:
		log.Warn("image " + images.Chromium + " was built from another airlock binary, so its agent may not match this server: run make images-chromium")
	}
	return nil
}

func writeIfMissing(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeChromiumProfile keeps DATA/seccomp/chromium.json equal to the
// profile this binary was built with.
func writeChromiumProfile(data string) error {
	profile, err := seccomp.ChromiumProfile()
	if err != nil {
		return err
	}
	dir := filepath.Join(data, "seccomp")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "chromium.json"), profile, 0o644)
}
