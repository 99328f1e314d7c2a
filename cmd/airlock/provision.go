package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	fs2 "io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/airlock-rbi/airlock/internal/dockerpolicy"
	"github.com/airlock-rbi/airlock/internal/enroll"
	"github.com/airlock-rbi/airlock/internal/provision"
)

type provisionFlags struct {
	tlsDir, listen, config, socket, metrics string
	// ln, when set, is used instead of listening on listen.
	ln net.Listener
}

func runProvision(ctx context.Context, args []string, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("provision", stderr)
	var f provisionFlags
	fs.StringVar(&f.tlsDir, "tls-dir", "", "directory with the node's ca.pem, cert.pem and key.pem (role provision)")
	fs.StringVar(&f.listen, "listen", ":2376", "address of the mutual-TLS Docker API listener")
	fs.StringVar(&f.config, "config", "", "policy file (YAML): images, runtimes, capabilities, seccomp_profiles, defaults")
	fs.StringVar(&f.socket, "docker-socket", "/var/run/docker.sock", "local Docker socket")
	fs.StringVar(&f.metrics, "metrics-listen", "127.0.0.1:9376", "address of the plain-HTTP /metrics listener (empty: off)")
	server := fs.String("server", "", "infra server URL to enroll with and heartbeat to (with --token)")
	token := fs.String("token", "", "join token from `airlock server join-token` (first start only)")
	name := fs.String("name", "", "node name (default: the host name)")
	advertise := fs.String("advertise", "", "this node's URL as the server reaches it, https://HOST:PORT")
	capacity := fs.Int("capacity", 20, "sessions this node runs at most")
	var isolation stringList
	fs.Var(&isolation, "isolation", "isolation level this node supports (repeatable; default standard)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if f.tlsDir == "" || f.config == "" {
		fmt.Fprintln(stderr, "airlock provision: --tls-dir and --config are required")
		return errUsage
	}
	policy, err := dockerpolicy.LoadConfig(f.config)
	if err != nil {
		return err
	}
	if *server == "" {
		return serveProvision(ctx, f, policy, log, nil)
	}
	if _, err := os.Stat(filepath.Join(f.tlsDir, "cert.pem")); errors.Is(err, fs2.ErrNotExist) {
		if *token == "" || *advertise == "" {
			fmt.Fprintln(stderr, "airlock provision: the first start with --server needs --token and --advertise")
			return errUsage
		}
		if *name == "" {
			h, _ := os.Hostname()
			*name = strings.ToLower(h)
		}
		err := enroll.Join(ctx, *server, *token, enroll.Node{Name: *name, URL: *advertise, Capacity: *capacity, Isolation: isolation}, f.tlsDir)
		if err != nil {
			return err
		}
		log.Info("enrolled", "server", *server, "name", *name)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	maint := make(chan error, 1)
	go func() {
		m := &enroll.Maintainer{Server: *server, TLSDir: f.tlsDir, Log: log.With("component", "enroll")}
		err := m.Run(ctx)
		if err != nil {
			cancel()
		}
		maint <- err
	}()
	err = serveProvision(ctx, f, policy, log, nil)
	cancel()
	return errors.Join(err, <-maint)
}

// serveProvision runs a node until ctx ends. ready, if set, receives the
// bound address once the node listens.
func serveProvision(ctx context.Context, f provisionFlags, policy *dockerpolicy.Config, log *slog.Logger, ready func(addr string)) error {
	tlsConfig, err := provision.TLSConfig(f.tlsDir)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	node, err := provision.New(ctx, provision.Options{
		Policy:       policy,
		DockerSocket: f.socket,
		Logger:       log.With("component", "provision"),
		Registerer:   reg,
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
