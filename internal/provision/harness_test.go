package provision

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/dockerpolicy"
	"github.com/airlock-rbi/airlock/internal/dockertest"
	"github.com/airlock-rbi/airlock/internal/pki"
)

// harness is a provision node on loopback in front of a real dockerd,
// with a CA, an admin client certificate and the stock docker CLI.
type harness struct {
	ca        *pki.CA
	dir       string
	addr      string
	adminDir  string
	socket    *client.Client
	node      *Node
	reg       *prometheus.Registry
	dockerCfg string
	// dockerSocket is the daemon's socket path and cfg the node's policy,
	// kept so that restartNode can start the node again as it was.
	dockerSocket string
	cfg          *dockerpolicy.Config
	// stop stops the running node (once; the test's cleanup calls it too).
	stop func()
	// refusals are what the node gave Options.OnRefused.
	refusalsMu sync.Mutex
	refusals   []airlock.NodeEvent
}

func (h *harness) onRefused(ev airlock.NodeEvent) {
	h.refusalsMu.Lock()
	defer h.refusalsMu.Unlock()
	h.refusals = append(h.refusals, ev)
}

func (h *harness) refused() []airlock.NodeEvent {
	h.refusalsMu.Lock()
	defer h.refusalsMu.Unlock()
	return slices.Clone(h.refusals)
}

func startNode(t *testing.T) *harness {
	t.Helper()
	return startNodeWith(t, "", nil)
}

// startNodeWith is startNode with more of the node's policy file (YAML
// keys besides images), and the parsed policy edited before the node
// starts.
func startNodeWith(t *testing.T, policy string, edit func(*dockerpolicy.Config)) *harness {
	t.Helper()
	socket := dockertest.Client(t)
	return startNodeOn(t, dockertest.Socket(), socket, dockertest.Image(t, socket), policy, edit)
}

// startNodeOn is startNodeWith in front of the daemon listening on
// dockerSocket, of which socket is a client and image the test image.
func startNodeOn(t *testing.T, dockerSocket string, socket *client.Client, image, policy string, edit func(*dockerpolicy.Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.InitCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{ca: ca, dir: dir, socket: socket, adminDir: filepath.Join(dir, "admin"), dockerCfg: filepath.Join(dir, "docker-config"),
		dockerSocket: dockerSocket}
	h.issue(t, pki.IssueRequest{Role: pki.RoleProvision, Name: "127.0.0.1"}, filepath.Join(dir, "node"))
	h.issue(t, pki.IssueRequest{Role: pki.RoleAdmin, Name: "test-admin"}, h.adminDir)
	h.cfg, err = dockerpolicy.ParseConfig([]byte("images: ["+image+"]\n"+policy), dir)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(h.cfg)
	}
	h.serve(t, "127.0.0.1:0")
	return h
}

// serve starts a node with the harness's policy and certificate on addr.
func (h *harness) serve(t *testing.T, addr string) {
	t.Helper()
	h.reg = prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	node, err := New(ctx, Options{Policy: h.cfg, DockerSocket: h.dockerSocket, Registerer: h.reg, OnRefused: h.onRefused})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	h.node = node
	tlsConfig, err := TLSConfig(filepath.Join(h.dir, "node"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- node.Serve(ctx, ln, tlsConfig) }()
	stop := sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node stopped with %v", err)
		}
		node.Close()
	})
	h.stop = stop
	t.Cleanup(stop)
}

// restartNode stops the node and starts a new one with the same policy,
// certificates and address, as a node process started again would be.
func (h *harness) restartNode(t *testing.T) {
	t.Helper()
	h.stop()
	h.serve(t, h.addr)
}

func (h *harness) issue(t *testing.T, req pki.IssueRequest, dir string) {
	t.Helper()
	b, err := h.ca.Issue(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteBundle(dir, b); err != nil {
		t.Fatal(err)
	}
}

// docker runs the stock docker CLI against the node.
func (h *harness) docker(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=tcp://"+h.addr, "DOCKER_TLS_VERIFY=1",
		"DOCKER_CERT_PATH="+h.adminDir, "DOCKER_CONFIG="+h.dockerCfg, "DOCKER_CONTEXT=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

func (h *harness) mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := h.docker(t, args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// httpClient is a raw HTTPS client of the node with the given client dir's
// certificate (the CA is always the node's).
func (h *harness) httpClient(t *testing.T, certDir string) *http.Client {
	t.Helper()
	cfg, err := pki.ClientTLSConfig(certDir)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: false,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}, Timeout: 30 * time.Second}
}

// sdk is a Docker SDK client of the node, as the infra server will use.
func (h *harness) sdk(t *testing.T) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.WithHost("https://"+h.addr),
		client.WithHTTPClient(h.httpClient(t, h.adminDir)), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// sessionNetwork creates a session network through the node with the
// stock CLI and removes it when the test ends.
func (h *harness) sessionNetwork(t *testing.T, args ...string) string {
	t.Helper()
	name := uniqueName(t, "net")
	h.mustDocker(t, append(append([]string{"network", "create"}, args...), name)...)
	t.Cleanup(func() { h.socket.NetworkRemove(context.Background(), name) })
	return name
}
