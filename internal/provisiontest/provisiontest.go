// Package provisiontest runs a real provision node in a test: a fresh CA,
// the node on loopback in front of the local dockerd, and client
// certificates for the infra and admin roles. Tests of everything that
// drives nodes (the launcher, the api, end-to-end flows) start one.
package provisiontest

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/internal/dockerpolicy"
	"github.com/airlock-rbi/airlock/internal/dockertest"
	"github.com/airlock-rbi/airlock/internal/pki"
	"github.com/airlock-rbi/airlock/internal/provision"
)

// Node is a running provision node.
type Node struct {
	CA *pki.CA
	// URL is the node's Docker API, https://127.0.0.1:PORT.
	URL string
	// CADir holds the CA; InfraDir and AdminDir hold client bundles.
	CADir, InfraDir, AdminDir string
	// Socket is a client of the daemon behind the node, for checks that
	// must bypass it.
	Socket *client.Client
	// Node is the in-process node.
	Node *provision.Node
	// Serial is the serial (hex) of the node's certificate, what a
	// launcher has on record for it.
	Serial string
}

// Options tune Start.
type Options struct {
	// Images are allowed besides the test image.
	Images []string
	// SeccompProfiles are profile files the node allows (absolute paths).
	SeccompProfiles []string
	// CA, when set, is used instead of a fresh one (an api's own CA).
	CA *pki.CA
	// Dir, when set, is where certificates go instead of a temp dir.
	Dir string
}

// Start runs a node until the test ends.
func Start(t testing.TB, o Options) *Node {
	t.Helper()
	socket := dockertest.Client(t)
	image := dockertest.Image(t, socket)
	dir := o.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	ca := o.CA
	var err error
	n := &Node{Socket: socket, CADir: filepath.Join(dir, "ca"), InfraDir: filepath.Join(dir, "infra"), AdminDir: filepath.Join(dir, "admin")}
	if ca == nil {
		if ca, err = pki.InitCA(n.CADir); err != nil {
			t.Fatal(err)
		}
	}
	n.CA = ca
	issue := func(req pki.IssueRequest, to string) *pki.Bundle {
		b, err := ca.Issue(req)
		if err != nil {
			t.Fatal(err)
		}
		if err := pki.WriteBundle(to, b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	nodeDir := filepath.Join(dir, "node")
	n.Serial = issue(pki.IssueRequest{Role: pki.RoleProvision, Name: "127.0.0.1"}, nodeDir).Cert.SerialNumber.Text(16)
	issue(pki.IssueRequest{Role: pki.RoleInfra, Name: "infra"}, n.InfraDir)
	issue(pki.IssueRequest{Role: pki.RoleAdmin, Name: "admin"}, n.AdminDir)
	policy := "images: [" + strings.Join(append([]string{image}, o.Images...), ", ") + "]\n"
	if len(o.SeccompProfiles) > 0 {
		policy += "seccomp_profiles: [" + strings.Join(o.SeccompProfiles, ", ") + "]\n"
	}
	cfg, err := dockerpolicy.ParseConfig([]byte(policy), dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.Node, err = provision.New(ctx, provision.Options{Policy: cfg, DockerSocket: dockertest.Socket()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	tlsConfig, err := provision.TLSConfig(nodeDir)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	n.URL = "https://" + ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- n.Node.Serve(ctx, ln, tlsConfig) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("provision node stopped with %v", err)
		}
		n.Node.Close()
	})
	return n
}

// InfraTLS returns the infra client's TLS config.
func (n *Node) InfraTLS() (*tls.Config, error) { return pki.ClientTLSConfig(n.InfraDir) }
