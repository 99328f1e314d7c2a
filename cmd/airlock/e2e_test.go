package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/airlock-rbi/airlock/images"
	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/dockertest"
	"github.com/airlock-rbi/airlock/internal/pki"
)

var staticBinary struct {
	once sync.Once
	path string
	err  error
}

// airlockBinary builds the static airlock binary once per test process:
// workspace images carry it, and the crash test runs it as a process.
func airlockBinary(t *testing.T) string {
	t.Helper()
	staticBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "airlock-bin")
		if err != nil {
			staticBinary.err = err
			return
		}
		staticBinary.path = filepath.Join(dir, "airlock")
		cmd := exec.Command("go", "build", "-trimpath", "-o", staticBinary.path, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			staticBinary.err = fmt.Errorf("build airlock: %v: %s", err, out)
		}
	})
	if staticBinary.err != nil {
		t.Fatal(staticBinary.err)
	}
	return staticBinary.path
}

// upEnv is a running `airlock up` and a logged-in CLI.
type upEnv struct {
	server string
	data   string
	log    *syncBuffer // the server's log
}

// logTail is the end of the server's log, for failure messages.
func (e *upEnv) logTail(n int) string {
	lines := strings.Split(strings.TrimRight(e.log.String(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func startUp(t *testing.T, extra ...string) *upEnv {
	t.Helper()
	dockertest.Client(t)
	bin := airlockBinary(t)
	data := t.TempDir()
	allowTestImage(t, data)
	t.Setenv("AIRLOCK_ADMIN_PASSWORD", "correct horse battery")
	t.Setenv("AIRLOCK_CONFIG", filepath.Join(t.TempDir(), "config.json"))
	ctx, cancel := context.WithCancel(context.Background())
	out := &lineWaiter{re: regexp.MustCompile(`login --server (https://\S+)`), found: make(chan string, 1)}
	var errOut syncBuffer
	done := make(chan int, 1)
	// airlock up runs TURN on :3478 and turns: on :443 by default: fixed
	// ports that tests running at once on this machine would fight over.
	// A test that wants TURN names its own ports.
	if !hasFlag(extra, turnListenFlag) {
		extra = append([]string{"--turn-listen="}, extra...)
	}
	if !hasFlag(extra, turnTLSListenFlag) {
		extra = append([]string{"--turn-tls-listen="}, extra...)
	}
	go func() {
		done <- Run(ctx, append([]string{"up", "--data", data, "--listen", ":0", "--provision-listen", "127.0.0.1:0",
			"--metrics-listen", "", "--image-binary", bin}, extra...), out, &errOut)
	}()
	env := &upEnv{data: data, log: &errOut}
	select {
	case env.server = <-out.found:
	case code := <-done:
		t.Fatalf("airlock up exited %d: %s", code, errOut.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("airlock up did not come up: %s", errOut.String())
	}
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("airlock up exited %d: %s", code, errOut.String())
		}
		// Sessions outlive the server by design; a test's must not
		// outlive the test.
		removeDeploymentContainers(t, data)
	})
	t.Setenv("AIRLOCK_PASSWORD", "correct horse battery")
	env.cli(t, "login", "--server", env.server, "--user", "admin", "--ca-cert", filepath.Join(data, "ca.pem"))
	return env
}

// allowTestImage puts the Chromium image tag the tests use, when it is
// not the product's (dockertest.ChromiumImageEnv), on the node's
// allow-list, which airlock up would otherwise write with the product's
// alone: the door allows images by ID, and the test's tag holds another.
func allowTestImage(t *testing.T, data string) {
	t.Helper()
	tag := dockertest.ChromiumImage()
	if tag == images.Chromium {
		return
	}
	policy := strings.Replace(defaultPolicy, "  - "+images.Chromium+"\n", "  - "+images.Chromium+"\n  - "+tag+"\n", 1)
	if policy == defaultPolicy {
		t.Fatalf("the default provision policy does not list %s", images.Chromium)
	}
	if err := os.WriteFile(filepath.Join(data, "provision.yaml"), []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
}

// hasFlag reports whether args set the flag name.
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--"+name || strings.HasPrefix(a, "--"+name+"=") {
			return true
		}
	}
	return false
}

// cli runs a client command and returns its output; it fails the test on
// a non-zero exit.
func (e *upEnv) cli(t *testing.T, args ...string) string {
	t.Helper()
	out, code := e.try(args...)
	if code != 0 {
		t.Fatalf("airlock %s: exit %d: %s", strings.Join(args, " "), code, out)
	}
	return strings.TrimSpace(out)
}

func (e *upEnv) try(args ...string) (string, int) {
	var out bytes.Buffer
	code := Run(context.Background(), args, &out, &out)
	return out.String(), code
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestLaunchFlow(t *testing.T) {
	env := startUp(t)
	socket := dockertest.Client(t)
	ctx := context.Background()

	if nodes := env.cli(t, "node", "ls"); !strings.Contains(nodes, "local") || !strings.Contains(nodes, "ready") {
		t.Fatalf("node ls: %s", nodes)
	}
	// An admin drives the node with the stock docker CLI.
	exports := env.cli(t, "node", "docker-env", "local", "--out", filepath.Join(t.TempDir(), "docker"))
	cmd := exec.Command("docker", "version", "--format", "{{.Server.APIVersion}}")
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
	for _, line := range strings.Split(exports, "\n") {
		cmd.Env = append(cmd.Env, strings.TrimPrefix(line, "export "))
	}
	if b, err := cmd.CombinedOutput(); err != nil || !strings.HasPrefix(string(b), "1.") {
		t.Fatalf("docker version with `node docker-env`: %v %s", err, b)
	}

	id := env.cli(t, "session", "create", "minimal", "--wait")
	var shown struct {
		State     string `json:"state"`
		Container string `json:"container"`
	}
	if err := json.Unmarshal([]byte(env.cli(t, "session", "show", id, "-o", "json")), &shown); err != nil || shown.State != "ready" {
		t.Fatalf("session show: %v %+v", err, shown)
	}
	// The agent can register before dockerd has marked its container
	// running (it does so once the start call returns): wait a little.
	var list []container.Summary
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		list, err = socket.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", airlock.LabelSession+"="+id))})
		if err == nil && len(list) == 1 && list[0].State == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container of session %s: %v %+v", id, err, list)
		}
	}

	// The registration token works once, and only for its session.
	c, err := socket.ContainerInspect(ctx, list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var token string
	for _, e := range c.Config.Env {
		if v, ok := strings.CutPrefix(e, "AIRLOCK_REGISTER_TOKEN="); ok {
			token = v
		}
	}
	other := env.cli(t, "session", "create", "minimal", "--wait")
	// The agent's first heartbeat, sent at once, closes the window in
	// which its token may be used again: from then on it is spent.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var s struct {
			HeartbeatAt *time.Time `json:"heartbeat_at"`
		}
		if err := json.Unmarshal([]byte(env.cli(t, "session", "show", id, "-o", "json")), &s); err != nil {
			t.Fatal(err)
		}
		if s.HeartbeatAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s: no heartbeat from its agent", id)
		}
	}
	for _, tc := range []struct {
		name, session, token string
	}{
		{"reused", id, token},
		{"forged", id, "alr_aaaaaaaaaaaa_" + strings.Repeat("a", 52)},
		{"other-session", other, token},
		{"garbage", id, "not a token"},
	} {
		t.Run("register/"+tc.name, func(t *testing.T) {
			status, body := env.post(t, "/api/v1/agent/register", map[string]string{"session": tc.session, "token": tc.token})
			if status != http.StatusUnauthorized || !strings.Contains(body, "registration token is not valid") {
				t.Fatalf("got %d %s", status, body)
			}
		})
	}

	t.Run("signal", func(t *testing.T) { env.checkSignal(t, id) })

	if out, code := env.try("session", "create", "nope"); code == 0 || !strings.Contains(out, `workspace "nope" not found`) {
		t.Fatalf("unknown workspace: %d %s", code, out)
	}
	if got := env.cli(t, "session", "rm", id); !strings.Contains(got, "stopped") {
		t.Fatalf("session rm: %s", got)
	}
	env.cli(t, "session", "rm", other)
	list, err = socket.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", airlock.LabelSession+"="+id))})
	if err != nil || len(list) != 0 {
		t.Fatalf("container left behind after rm: %v %+v", err, list)
	}
}

// post calls the api without credentials.
func (e *upEnv) post(t *testing.T, path string, body any) (int, string) {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(e.data, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	raw, _ := json.Marshal(body)
	resp, err := c.Post(e.server+path, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func removeDeploymentContainers(t *testing.T, data string) {
	ca, err := pki.LoadCA(data)
	if err != nil {
		t.Errorf("load CA to clean up: %v", err)
		return
	}
	socket := dockertest.Client(t)
	ctx := context.Background()
	list, err := socket.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", airlock.LabelDeployment+"="+ca.DeploymentID()))})
	if err != nil {
		t.Errorf("list containers to clean up: %v", err)
		return
	}
	for _, c := range list {
		if err := socket.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Errorf("remove %s: %v", c.ID, err)
		}
	}
	// And their networks: a session the server was stopped in the middle
	// of ending, or that a failed test never ended, keeps its network
	// (and its bridge and subnet) otherwise.
	nets, err := socket.NetworkList(ctx, network.ListOptions{
		Filters: filters.NewArgs(filters.Arg("label", airlock.LabelDeployment+"="+ca.DeploymentID()))})
	if err != nil {
		t.Errorf("list networks to clean up: %v", err)
		return
	}
	for _, n := range nets {
		if err := socket.NetworkRemove(ctx, n.ID); err != nil && !errdefs.IsNotFound(err) {
			t.Errorf("remove network %s: %v", n.Name, err)
		}
	}
}

// checkSignal gets a connect token for a ready session and opens the
// signal relay with it as the viewer.
func (e *upEnv) checkSignal(t *testing.T, session string) {
	c, cfg, err := apiClient()
	if err != nil {
		t.Fatal(err)
	}
	var conn struct {
		Token     string `json:"token"`
		SignalURL string `json:"signal_url"`
	}
	if err := c.Do(context.Background(), http.MethodPost, "/api/v1/sessions/"+session+"/connect", struct{}{}, &conn); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(cfg.CAPEM))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, conn.SignalURL+"?token="+conn.Token, &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		Subprotocols: []string{"airlock.signal.v1"},
	})
	if err != nil {
		t.Fatalf("open the signal relay with a connect token: %v", err)
	}
	defer ws.CloseNow()
	if err := wsjson.Write(ctx, ws, map[string]string{"type": "offer", "sdp": "v=0"}); err != nil {
		t.Fatal(err)
	}
	var answer map[string]string
	if err := wsjson.Read(ctx, ws, &answer); err != nil || answer["type"] != "error" || answer["message"] != "no peer connected" {
		t.Fatalf("relay answered %v, %v; want no peer connected (no agent is on the relay yet)", answer, err)
	}
	ws.Close(websocket.StatusNormalClosure, "")
	// A forged token is refused before the upgrade.
	if _, resp, err := websocket.Dial(ctx, conn.SignalURL+"?token=forged", &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		Subprotocols: []string{"airlock.signal.v1"},
	}); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged signal token: %v %v", resp, err)
	}
}
