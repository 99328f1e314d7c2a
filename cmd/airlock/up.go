package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/airlock-rbi/airlock/internal/dockerpolicy"
	"github.com/airlock-rbi/airlock/internal/pki"
)

// defaultPolicy is written to DATA/provision.yaml on first start.
const defaultPolicy = `# Airlock provision policy: what this node's Docker API door allows.
# Only images is required; everything else has a safe default (see README).
images:
  - airlock/testapp:latest
# runtimes: [runc]
# capabilities: [CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, NET_BIND_SERVICE]
# seccomp_profiles: []
# defaults:
#   memory: 512m
#   max_memory: 16g
#   pids_limit: 512
#   max_pids_limit: 4096
`

// runUp runs everything on this host. Until the infra server lands it
// keeps a CA in the data directory, issues this host's provision
// certificate and an admin client certificate, and serves a provision node.
func runUp(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("up", stderr)
	data := fs.String("data", "./data", "data directory (CA, certificates, policy)")
	var f provisionFlags
	fs.StringVar(&f.listen, "provision-listen", "127.0.0.1:2376", "address of the provision node")
	fs.StringVar(&f.socket, "docker-socket", "/var/run/docker.sock", "local Docker socket")
	fs.StringVar(&f.metrics, "metrics-listen", "127.0.0.1:9376", "address of /metrics (empty: off)")
	if err := parse(fs, args); err != nil {
		return err
	}
	abs, err := filepath.Abs(*data)
	if err != nil {
		return err
	}
	ca, err := loadOrInitCA(abs, log)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(f.listen)
	if err != nil {
		return fmt.Errorf("--provision-listen %q: %w", f.listen, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	f.tlsDir = filepath.Join(abs, "provision")
	if err := issueTo(ca, f.tlsDir, pki.IssueRequest{Role: pki.RoleProvision, Name: host, Hosts: []string{"localhost", "127.0.0.1", "::1"}}); err != nil {
		return err
	}
	adminDir := filepath.Join(abs, "admin")
	if err := issueTo(ca, adminDir, pki.IssueRequest{Role: pki.RoleAdmin, Name: "admin"}); err != nil {
		return err
	}
	f.config = filepath.Join(abs, "provision.yaml")
	if err := writeIfMissing(f.config, defaultPolicy); err != nil {
		return err
	}
	policy, err := dockerpolicy.LoadConfig(f.config)
	if err != nil {
		return err
	}
	return serveProvision(ctx, f, policy, log, func(addr string) {
		_, port, _ := net.SplitHostPort(addr)
		fmt.Fprintf(stdout, "\nAirlock provision node is up. To drive it with the docker CLI:\n\n"+
			"  export DOCKER_HOST=tcp://%s\n  export DOCKER_TLS_VERIFY=1\n  export DOCKER_CERT_PATH=%s\n\n"+
			"Policy: %s   CA: %s   Ctrl-C stops.\n\n",
			net.JoinHostPort(host, port), adminDir, f.config, filepath.Join(abs, "ca.pem"))
	})
}

func loadOrInitCA(dir string, log *slog.Logger) (*pki.CA, error) {
	ca, err := pki.LoadCA(dir)
	if err == nil {
		return ca, nil
	}
	if _, statErr := os.Stat(filepath.Join(dir, "ca.pem")); !errors.Is(statErr, fs.ErrNotExist) {
		return nil, err
	}
	ca, err = pki.InitCA(dir)
	if err != nil {
		return nil, err
	}
	log.Info("created deployment CA", "dir", dir, "fingerprint", ca.Fingerprint())
	return ca, nil
}

// issueTo issues a fresh certificate on every start: they are short-lived
// and renewal by enrollment comes with the infra server.
func issueTo(ca *pki.CA, dir string, req pki.IssueRequest) error {
	b, err := ca.Issue(req)
	if err != nil {
		return fmt.Errorf("issue %s certificate: %w", req.Role, err)
	}
	return pki.WriteBundle(dir, b)
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
