package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	fs2 "io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/cli"
	"github.com/airlock-rbi/airlock/internal/dockerpolicy"
	"github.com/airlock-rbi/airlock/internal/enroll"
	"github.com/airlock-rbi/airlock/internal/netpolicy"
	"github.com/airlock-rbi/airlock/internal/provision"
)

type provisionFlags struct {
	tlsDir, listen, config, socket, metrics string
	// hostPorts and remote are what sessions may reach of this host and,
	// for hardened sessions, off it (see netpolicy.Rules).
	hostPorts, remote string
	// egressProxyPort and egressDNSPort are the hardened sessions' egress
	// proxy and resolver on this host (-1: no proxy, so no hardened
	// sessions); egressUpstream is the DNS server they ask (default: the
	// host's resolver).
	egressProxyPort, egressDNSPort int
	egressUpstream                 string
	// ln, when set, is used instead of listening on listen.
	ln net.Listener
	// report, when set, is given the node's refusals (its policy's and
	// its egress proxy's) for the api's audit log.
	report func(airlock.NodeEvent)
}

func runProvision(ctx context.Context, args []string, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("provision", stderr)
	var f provisionFlags
	fs.StringVar(&f.tlsDir, "tls-dir", "", "directory with the node's ca.pem, cert.pem and key.pem (role provision)")
	fs.StringVar(&f.listen, "listen", ":2376", "address of the mutual-TLS Docker API listener")
	fs.StringVar(&f.config, "config", "", "policy file (YAML): images, runtimes, capabilities, seccomp_profiles, defaults")
	fs.StringVar(&f.socket, "docker-socket", "/var/run/docker.sock", "local Docker socket")
	fs.StringVar(&f.metrics, "metrics-listen", "127.0.0.1:9376", "address of the plain-HTTP /metrics listener (empty: off)")
	fs.StringVar(&f.hostPorts, "session-host-ports", "", "ports of this host that sessions may reach: the infra API and TURN when they run here, e.g. tcp:8443,udp:3478,udp:49160-49200 (default: none)")
	fs.StringVar(&f.remote, "session-remote", "", "off-host destinations hardened sessions reach without the egress proxy: a remote infra's API and TURN, e.g. tcp:203.0.113.5:8443,udp:203.0.113.5:3478")
	egressFlags(fs, &f)
	server := fs.String("server", "", "infra server URL to enroll with and heartbeat to")
	fs.String("token", "", "refused: a token on the command line is visible to every user in ps; use --token-file or AIRLOCK_JOIN_TOKEN")
	tokenFile := fs.String("token-file", "", "file holding the join token from `airlock server join-token` (first start only; or set AIRLOCK_JOIN_TOKEN)")
	name := fs.String("name", "", "node name (default: the host name)")
	advertise := fs.String("advertise", "", "this node's URL as the server reaches it, https://HOST:PORT")
	capacity := fs.Int("capacity", 20, "sessions this node runs at most")
	probeImage := fs.String("sandbox-probe-image", "airlock/chromium:latest", "local image with dmesg that proves runsc runs containers inside gVisor (for --isolation sandboxed)")
	var isolation stringList
	fs.Var(&isolation, "isolation", "isolation level this node offers (repeatable; default standard); one it cannot prove is dropped")
	var labels stringList
	fs.Var(&labels, "label", "KEY=VALUE label of this node, e.g. zone=eu, which workspaces' node_labels select (repeatable; sent when the node enrolls)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if flagSet(fs, "token") {
		fmt.Fprintln(stderr, "airlock provision: --token is refused: a token on the command line is visible to every user of this host (ps, /proc/PID/cmdline); "+
			"put it in a file readable only by this user and pass --token-file FILE, or set AIRLOCK_JOIN_TOKEN")
		return errUsage
	}
	if f.tlsDir == "" || f.config == "" {
		fmt.Fprintln(stderr, "airlock provision: --tls-dir and --config are required")
		return errUsage
	}
	policy, err := dockerpolicy.LoadConfig(f.config)
	if err != nil {
		return err
	}
	// Refusals are queued for the api's audit log from the first; they
	// go once the node is enrolled (runReporter).
	var reporter *enroll.Reporter
	if *server != "" {
		reporter = &enroll.Reporter{Server: *server, TLSDir: f.tlsDir, Log: log.With("component", "audit-report")}
		f.report = reporter.Report
	}
	// The session network setup comes first: a node proves hardened to
	// the server only once its rules and egress proxy are in place.
	netCtx, cancelNet := context.WithCancel(ctx)
	defer cancelNet()
	sn, err := startSessionNet(netCtx, f, policy, log)
	if err != nil {
		return err
	}
	defer func() { cancelNet(); sn.wait() }()
	if *server == "" {
		return serveProvision(ctx, f, policy, log, nil, sn)
	}
	if _, err := os.Stat(filepath.Join(f.tlsDir, "cert.pem")); errors.Is(err, fs2.ErrNotExist) {
		token, err := joinTokenFrom(*tokenFile, os.Getenv("AIRLOCK_JOIN_TOKEN"), log)
		if err != nil {
			return err
		}
		if token == "" || *advertise == "" {
			fmt.Fprintln(stderr, "airlock provision: the first start with --server needs a join token (--token-file FILE or AIRLOCK_JOIN_TOKEN) and --advertise")
			return errUsage
		}
		if *name == "" {
			h, _ := os.Hostname()
			*name = strings.ToLower(h)
		}
		nodeLabels, err := cli.ParseLabels("label", labels)
		if err != nil {
			fmt.Fprintln(stderr, "airlock provision:", err)
			return errUsage
		}
		levels, err := provableIsolation(ctx, f.socket, *probeImage, policy, isolation, sn.hardened, log)
		if err != nil {
			return err
		}
		err = enroll.Join(ctx, *server, token, enroll.Node{Name: *name, URL: *advertise, Capacity: *capacity, Isolation: levels, Labels: nodeLabels}, f.tlsDir)
		if err != nil {
			return err
		}
		log.Info("enrolled", "server", *server, "name", *name)
	}
	ctx, cancel := context.WithCancel(ctx)
	reported := make(chan struct{})
	go func() { reporter.Run(ctx); close(reported) }()
	defer func() { cancel(); <-reported }()
	maint := make(chan error, 1)
	go func() {
		m := &enroll.Maintainer{Server: *server, TLSDir: f.tlsDir, Log: log.With("component", "enroll")}
		err := m.Run(ctx)
		if err != nil {
			cancel()
		}
		maint <- err
	}()
	err = serveProvision(ctx, f, policy, log, nil, sn)
	cancel()
	return errors.Join(err, <-maint)
}

// egressFlags are the egress proxy's flags, shared by provision and up.
func egressFlags(fs *flag.FlagSet, f *provisionFlags) {
	fs.IntVar(&f.egressProxyPort, "egress-proxy-port", defaultEgressProxyPort, "port of the egress proxy hardened sessions reach the web through, on this host's session gateways (-1: none, and no hardened sessions)")
	fs.IntVar(&f.egressDNSPort, "egress-dns-port", defaultEgressDNSPort, "port of the resolver the host rules send hardened sessions' DNS to")
	fs.StringVar(&f.egressUpstream, "egress-dns-upstream", "", "DNS server (HOST:PORT) the egress proxy and resolver ask (default: this host's resolver)")
}

// flagSet reports whether name was given on the command line, even empty.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// joinTokenFrom reads the join token from file, else from env. Both at
// once is ambiguous and refused. A file others can read is warned about:
// the token would be as exposed as on the command line.
func joinTokenFrom(file, env string, log *slog.Logger) (string, error) {
	if file == "" {
		return strings.TrimSpace(env), nil
	}
	if env != "" {
		return "", errors.New("airlock provision: the join token is given twice (--token-file and AIRLOCK_JOIN_TOKEN); give one")
	}
	fi, err := os.Stat(file)
	if err != nil {
		return "", fmt.Errorf("join token file: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > 4096 {
		return "", fmt.Errorf("join token file %s: not a regular file of at most 4096 bytes", file)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the join token file is readable by other users; chmod 600 it", "file", file, "mode", fi.Mode().Perm().String())
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("join token file: %w", err)
	}
	tok := strings.TrimSpace(string(raw))
	if tok == "" {
		return "", fmt.Errorf("join token file %s is empty", file)
	}
	return tok, nil
}

// provableIsolation keeps the asked-for isolation levels (default
// standard) that this node can show it delivers, warning about each one it
// drops: the server must not route a session to a level the node would
// silently run weaker. hardened is nil when the node proved its host rules
// and egress proxy are in place, else why not. The sandbox probe (a
// container under runsc from probeImage) runs only when sandboxed is asked
// for and dockerd and the policy have runsc, since it costs a sandbox start.
func provableIsolation(ctx context.Context, socket, probeImage string, policy *dockerpolicy.Config, want []string, hardened error, log *slog.Logger) ([]string, error) {
	if len(want) == 0 {
		want = []string{"standard"}
	}
	runtimes, err := enroll.DockerRuntimes(ctx, socket)
	if err != nil {
		return nil, fmt.Errorf("check which isolation levels this node delivers: %w", err)
	}
	var sandbox error
	if slices.Contains(want, "sandboxed") && hardened == nil && runtimes[enroll.SandboxRuntime] && slices.Contains(policy.Runtimes, enroll.SandboxRuntime) {
		sandbox = enroll.ProveSandbox(ctx, socket, probeImage)
	}
	keep, dropped, err := enroll.Deliverable(want, runtimes, policy.Runtimes, hardened, sandbox)
	if err != nil {
		return nil, fmt.Errorf("airlock provision: --isolation: %w", err)
	}
	for _, d := range dropped {
		log.Warn("isolation level not advertised: this node cannot deliver it", "level", d.Level, "why", d.Why)
	}
	if len(keep) == 0 {
		return nil, fmt.Errorf("airlock provision: this node can deliver none of the isolation levels asked for (%s)", strings.Join(want, ", "))
	}
	return keep, nil
}

// hostRules are the node's session network rules from its flags.
func hostRules(f provisionFlags, policy *dockerpolicy.Config) (*netpolicy.Rules, error) {
	tcp, udp, err := netpolicy.ParsePorts(f.hostPorts)
	if err != nil {
		return nil, fmt.Errorf("--session-host-ports: %w", err)
	}
	remote, err := netpolicy.ParseEndpoints(f.remote)
	if err != nil {
		return nil, fmt.Errorf("--session-remote: %w", err)
	}
	r := &netpolicy.Rules{Pool: policy.Pool().Prefix(), HostTCP: tcp, HostUDP: udp, Remote: remote}
	return r, r.Validate()
}

// serveProvision runs a node until ctx ends. ready, if set, receives the
// bound address once the node listens. sn is the node's session network
// setup (startSessionNet); nil starts one.
func serveProvision(ctx context.Context, f provisionFlags, policy *dockerpolicy.Config, log *slog.Logger, ready func(addr string), sn *sessionNet) error {
	tlsConfig, err := provision.TLSConfig(f.tlsDir)
	if err != nil {
		return err
	}
	if sn == nil {
		netCtx, cancelNet := context.WithCancel(ctx)
		if sn, err = startSessionNet(netCtx, f, policy, log); err != nil {
			cancelNet()
			return err
		}
		defer func() { cancelNet(); sn.wait() }()
	}
	reg := sn.reg
	node, err := provision.New(ctx, provision.Options{
		Policy:       policy,
		DockerSocket: f.socket,
		Logger:       log.With("component", "provision"),
		Registerer:   reg,
		OnRefused:    f.report,
	})
	if err != nil {
		return err
	}
	defer node.Close()
	ln := f.ln
	if ln == nil {
		if ln, err = net.Listen("tcp", f.listen); err != nil {
			return fmt.Errorf("provision listener: %w", err)
		}
	}
	errc := make(chan error, 2)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { errc <- node.Serve(ctx, ln, tlsConfig) }()
	running := 1
	if f.metrics != "" {
		mln, err := net.Listen("tcp", f.metrics)
		if err != nil {
			cancel()
			<-errc
			return fmt.Errorf("metrics listener: %w", err)
		}
		go func() { errc <- provision.ServeMetrics(ctx, mln, reg) }()
		running++
		log.Info("metrics listening", "addr", mln.Addr().String())
	}
	log.Info("provision node listening", "addr", ln.Addr().String(), "docker_api", node.APIVersion(), "socket", f.socket)
	if ready != nil {
		ready(ln.Addr().String())
	}
	var first error
	for range running {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	if first != nil && !errors.Is(first, context.Canceled) {
		return first
	}
	return nil
}
