package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/images"
	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/dockertest"
	"github.com/airlock-rbi/airlock/internal/imagebuild"
	"github.com/airlock-rbi/airlock/internal/pki"
)

// startProc runs bin with args as a real process in its own process
// group, so that it can be SIGKILLed like a crash, and waits until its
// output (stdout or stderr) matches ready, whose first group becomes the
// process's url. The process is killed when the test ends.
func startProc(t *testing.T, what string, env []string, ready *regexp.Regexp, bin string, args ...string) *crashProc {
	t.Helper()
	p := &crashProc{
		out:    &lineWaiter{re: ready, found: make(chan string, 1)},
		errOut: &syncBuffer{},
		exited: make(chan struct{}),
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = io.MultiWriter(p.out, p.errOut)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.kill)
	select {
	case p.url = <-p.out.found:
	case <-p.exited:
		t.Fatalf("%s exited: %v\n%s", what, p.err, p.stdout())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not come up in 60s:\n%s", what, p.stdout())
	}
	return p
}

// nodeSession is a session as TestProvisionNodeKilledAndRestarted reads it.
type nodeSession struct {
	ID          string     `json:"id"`
	User        string     `json:"user_id"`
	Node        string     `json:"node_id"`
	Container   string     `json:"container"`
	State       string     `json:"state"`
	Reason      string     `json:"reason"`
	EndReason   string     `json:"end_reason"`
	HeartbeatAt *time.Time `json:"heartbeat_at"`
}

type nodeRecord struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	State    string `json:"state"`
	Draining bool   `json:"draining"`
	Active   int    `json:"active"`
}

// deploymentObjects lists, by session ID, the containers (with their
// state) and the networks dockerd holds with the deployment's label.
func deploymentObjects(t *testing.T, socket *client.Client, deployment string) (containers map[string][]string, networks map[string]int) {
	t.Helper()
	ctx := context.Background()
	f := filters.NewArgs(filters.Arg("label", airlock.LabelDeployment+"="+deployment))
	cs, err := socket.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatalf("list the deployment's containers: %v", err)
	}
	containers = map[string][]string{}
	for _, c := range cs {
		id := c.Labels[airlock.LabelSession]
		containers[id] = append(containers[id], c.State)
	}
	ns, err := socket.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Fatalf("list the deployment's networks: %v", err)
	}
	networks = map[string]int{}
	for _, n := range ns {
		networks[n.Labels[airlock.LabelSession]]++
	}
	return containers, networks
}

// TestProvisionNodeKilledAndRestarted runs `airlock server` and a
// provision node joined to it, its only node, as real processes, launches
// sessions of the minimal workspace there with a warm pool, and SIGKILLs
// the node right after a hand-out and two cold launches. Then: the
// sessions that were ready stay ready, their containers running (dockerd
// owns them), their agents heartbeating and a viewer's connect answered,
// while the node is seen down; the launches in flight end ready or failed
// with a reason, none left starting and none given twice. The node
// restarted with the same TLS directory, config and port is seen ready
// again and re-adopts its sessions: still listed ready, connectable,
// counted once in its load, and a new launch lands on it. Its
// reconciliation then leaves the deployment's containers and networks
// exactly the active sessions', and deleting every session leaves none.
func TestProvisionNodeKilledAndRestarted(t *testing.T) {
	socket := dockertest.Client(t)
	bin := airlockBinary(t)
	data := t.TempDir()
	dir := t.TempDir()
	start := time.Now()
	// Registered first, so it runs last: after both processes are killed,
	// whatever the sessions left goes, pass or fail.
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(data, "ca.pem")); err == nil {
			removeDeploymentContainers(t, data)
		}
	})

	// The infra server alone: the node below is the only one in front of
	// this dockerd, so nothing but it (and, once it is back, its
	// reconciliation) touches the sessions' containers. `airlock up`'s
	// local node would share the engine and reconcile it meanwhile.
	if _, err := imagebuild.Ensure(context.Background(), socket, images.Minimal, images.FS, "minimal", bin); err != nil {
		t.Fatalf("build %s: %v", images.Minimal, err)
	}
	srv := startProc(t, "airlock server", []string{"AIRLOCK_ADMIN_PASSWORD=" + crashPassword}, listeningRE, bin,
		"server", "--data", data, "--listen", ":0", "--metrics-listen", "",
		"--max-sessions", "8", "--lifecycle-every", "2s")
	_, apiPort, err := net.SplitHostPort(srv.url)
	if err != nil {
		t.Fatalf("the server's address %q: %v", srv.url, err)
	}
	serverURL := "https://127.0.0.1:" + apiPort
	ca, err := pki.LoadCA(data)
	if err != nil {
		t.Fatalf("load the deployment CA: %v", err)
	}
	deployment := ca.DeploymentID()
	api := newCrashAPI(t, serverURL, data)
	api.login()
	t.Setenv("AIRLOCK_CONFIG", filepath.Join(dir, "cli.json"))
	t.Setenv("AIRLOCK_PASSWORD", crashPassword)
	env := &upEnv{server: serverURL, data: data, log: srv.errOut}
	env.cli(t, "login", "--server", serverURL, "--user", "admin", "--ca-cert", filepath.Join(data, "ca.pem"))
	env.cli(t, "workspace", "add", "minimal", "--image", images.Minimal, "--memory", "64m", "--pids", "64")

	var node *crashProc
	defer func() {
		if t.Failed() {
			t.Logf("the server's log:\n%s", tail(srv.errOut.String(), 8000))
			if node != nil {
				t.Logf("the node's log:\n%s", tail(node.errOut.String(), 4000))
			}
		}
	}()

	// The node joins with a one-time token, as an operator's would.
	tok, _, _ := strings.Cut(env.cli(t, "server", "join-token", "--uses", "1"), "\n")
	if !strings.HasPrefix(tok, "ALJT-1-") {
		t.Fatalf("join token: %q", tok)
	}
	tokenFile := filepath.Join(dir, "node.token")
	config := filepath.Join(dir, "provision.yaml")
	if err := os.WriteFile(tokenFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatalf("write the token file: %v", err)
	}
	if err := os.WriteFile(config, []byte("images: [airlock/minimal:latest]\n"), 0o644); err != nil {
		t.Fatalf("write the node's policy: %v", err)
	}
	tlsDir := filepath.Join(dir, "node-tls")
	port := enrollFreePort(t)
	nodeArgs := []string{"provision", "--tls-dir", tlsDir, "--config", config, "--server", serverURL,
		"--name", "second", "--advertise", "https://127.0.0.1:" + port, "--listen", "127.0.0.1:" + port,
		"--metrics-listen", "", "--egress-proxy-port", "-1",
		"--session-host-ports", "tcp:" + apiPort, "--token-file", tokenFile}
	listening := regexp.MustCompile(`provision node listening.* addr=(\S+)`)
	node = startProc(t, "airlock provision", nil, listening, bin, nodeArgs...)

	nodes := func() map[string]nodeRecord {
		t.Helper()
		var list []nodeRecord
		if status, body := api.do(http.MethodGet, "/api/v1/nodes", nil, &list); status != http.StatusOK {
			t.Fatalf("list nodes: %d %s", status, body)
		}
		out := map[string]nodeRecord{}
		for _, n := range list {
			out[n.Name] = n
		}
		return out
	}
	get := func(id string) nodeSession {
		t.Helper()
		var s nodeSession
		if status, body := api.do(http.MethodGet, "/api/v1/sessions/"+id, nil, &s); status != http.StatusOK {
			t.Fatalf("get session %s: %d %s", id, status, body)
		}
		return s
	}
	active := func() map[string]nodeSession {
		t.Helper()
		var list []nodeSession
		if status, body := api.do(http.MethodGet, "/api/v1/sessions?all=1&active=1", nil, &list); status != http.StatusOK {
			t.Fatalf("list sessions: %d %s", status, body)
		}
		out := map[string]nodeSession{}
		for _, s := range list {
			out[s.ID] = s
		}
		return out
	}
	// waitFor polls ok until it holds; past the deadline it fails with
	// what ok last said.
	waitFor := func(what string, within time.Duration, ok func() (bool, string)) {
		t.Helper()
		for end := time.Now().Add(within); ; time.Sleep(200 * time.Millisecond) {
			done, last := ok()
			if done {
				return
			}
			if time.Now().After(end) {
				t.Fatalf("%s: not within %s; last: %s", what, within, last)
			}
		}
	}
	waitFor("node second ready", 30*time.Second, func() (bool, string) {
		n := nodes()["second"]
		return n.State == "ready", fmt.Sprintf("%+v", n)
	})
	second := nodes()["second"].ID

	launch := func() nodeSession {
		t.Helper()
		var s nodeSession
		if status, body := api.do(http.MethodPost, "/api/v1/sessions", map[string]string{"workspace": "minimal"}, &s); status != http.StatusCreated {
			t.Fatalf("launch: %d %s", status, body)
		}
		if s.Node != second {
			t.Fatalf("session %s went to node %s, not second (%s)", s.ID, s.Node, second)
		}
		return s
	}
	// heartbeatAfter waits until the agent of a ready session has
	// heartbeated since at.
	heartbeatAfter := func(id string, at time.Time, what string) {
		t.Helper()
		waitFor("session "+id+" heartbeating "+what, 40*time.Second, func() (bool, string) {
			s := get(id)
			if s.State != "ready" {
				t.Fatalf("session %s %s: %s (%s: %s)", id, what, s.State, s.EndReason, s.Reason)
			}
			return s.HeartbeatAt != nil && s.HeartbeatAt.After(at), fmt.Sprintf("%+v", s)
		})
	}
	var running []string
	for range 2 {
		running = append(running, launch().ID)
	}
	for _, id := range running {
		waitFor("session "+id+" ready", time.Minute, func() (bool, string) {
			s := get(id)
			if s.State == "failed" {
				t.Fatalf("session %s failed: %s", id, s.Reason)
			}
			return s.State == "ready", s.State
		})
		heartbeatAfter(id, start, "before the kill")
	}
	if status, body := api.do(http.MethodPut, "/api/v1/pools/minimal", map[string]any{"size": 1}, nil); status != http.StatusOK {
		t.Fatalf("set the pool: %d %s", status, body)
	}
	var warmID string
	waitFor("a warm session on second", time.Minute, func() (bool, string) {
		for _, s := range active() {
			if s.State == "warm" && s.Node == second {
				warmID = s.ID
				return true, ""
			}
		}
		return false, "none warm"
	})
	t.Logf("ready sessions %v and warm session %s on second after %.1fs", running, warmID, time.Since(start).Seconds())

	// Mid-flight: a hand-out of the warm session, whose agent learns of it
	// at its next claim, and two cold launches cut short at different
	// points: the first once its container exists (being started), the
	// second right after its 201 (its network being made); then the node
	// dies.
	handed := launch()
	if handed.ID != warmID || handed.State != "ready" {
		t.Fatalf("the launch got %s (%s), not the warm session %s", handed.ID, handed.State, warmID)
	}
	cold := []string{launch().ID}
	for end := time.Now().Add(30 * time.Second); len(sessionContainers(t, socket, cold)[cold[0]]) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("no container for session %s after 30s", cold[0])
		}
	}
	cold = append(cold, launch().ID)
	node.crash(t)
	killed := time.Now()
	atKill, _ := deploymentObjects(t, socket, deployment)
	for _, id := range cold {
		t.Logf("at SIGKILL: cold launch %s has containers %v", id, atKill[id])
	}
	ours := append(append(slices.Clone(running), handed.ID), cold...)
	seen := map[string]bool{}
	for _, id := range ours {
		if seen[id] {
			t.Fatalf("session %s was given to two launches: %v", id, ours)
		}
		seen[id] = true
	}

	// While the node is down. No launch is left in flight: each ends ready
	// or failed with a reason (pool refills too, which the server keeps
	// placing on second until it is seen down).
	waitFor("node second seen down", time.Minute, func() (bool, string) {
		n := nodes()["second"]
		return n.State == "down", fmt.Sprintf("%+v", n)
	})
	t.Logf("second seen down %.1fs after SIGKILL", time.Since(killed).Seconds())
	waitFor("no session pending or starting", 30*time.Second, func() (bool, string) {
		var left []string
		for _, s := range active() {
			if s.State == "pending" || s.State == "starting" {
				left = append(left, s.ID+" "+s.State)
			}
		}
		return len(left) == 0, strings.Join(left, ", ")
	})
	adopted := append(slices.Clone(running), handed.ID)
	for _, id := range cold {
		switch s := get(id); s.State {
		case "ready":
			adopted = append(adopted, id)
			t.Logf("cold launch %s ended ready", id)
		case "failed":
			if s.Reason == "" || s.EndReason != "failed" {
				t.Errorf("cold launch %s failed without a reason: %+v", id, s)
			}
			t.Logf("cold launch %s failed: %s", id, s.Reason)
		default:
			t.Errorf("cold launch %s is %s (%s) after the node was seen down", id, s.State, s.Reason)
		}
	}
	containers, _ := deploymentObjects(t, socket, deployment)
	for _, id := range adopted {
		if got := containers[id]; len(got) != 1 || got[0] != "running" {
			t.Errorf("session %s is ready while its node is down, but its containers are %v", id, got)
		}
		heartbeatAfter(id, killed, "while its node is down")
		if status, body := api.do(http.MethodPost, "/api/v1/sessions/"+id+"/connect", nil, nil); status != http.StatusOK {
			t.Errorf("connect to session %s while its node is down: %d %s", id, status, body)
		}
	}

	// The node restarts as its service manager would start it again: the
	// same TLS directory, config and port (the token file is read only on
	// a first start).
	node = startProc(t, "airlock provision (restarted)", nil, listening, bin, nodeArgs...)
	restarted := time.Now()
	if strings.Contains(node.stdout(), "msg=enrolled") {
		t.Errorf("the restarted node enrolled again:\n%s", node.stdout())
	}
	waitFor("node second ready again", 30*time.Second, func() (bool, string) {
		n := nodes()["second"]
		return n.State == "ready", fmt.Sprintf("%+v", n)
	})
	t.Logf("second ready %.1fs after its restart", time.Since(restarted).Seconds())
	for _, id := range adopted {
		heartbeatAfter(id, restarted, "after its node's restart")
		if status, body := api.do(http.MethodPost, "/api/v1/sessions/"+id+"/connect", nil, nil); status != http.StatusOK {
			t.Errorf("connect to session %s after its node's restart: %d %s", id, status, body)
		}
	}
	// The node serves launches again: one more, warm or cold.
	fresh := launch()
	if slices.Contains(ours, fresh.ID) {
		t.Fatalf("the launch after the restart got session %s again", fresh.ID)
	}
	adopted = append(adopted, fresh.ID)
	waitFor("the launch after the restart ready", time.Minute, func() (bool, string) {
		s := get(fresh.ID)
		if s.State == "failed" {
			t.Fatalf("the launch after the restart failed: %s", s.Reason)
		}
		return s.State == "ready", s.State
	})

	// Nothing leaked, nothing counted twice: with the pool emptied, the
	// deployment's containers and networks are exactly the active
	// sessions', each one container running, and second's load is them.
	if status, body := api.do(http.MethodPut, "/api/v1/pools/minimal", map[string]any{"size": 0}, nil); status != http.StatusOK {
		t.Fatalf("empty the pool: %d %s", status, body)
	}
	waitFor("the deployment's containers and networks equal to its active sessions", time.Minute, func() (bool, string) {
		act := active()
		containers, networks := deploymentObjects(t, socket, deployment)
		var diff []string
		for id, s := range act {
			if s.State != "ready" {
				diff = append(diff, fmt.Sprintf("session %s is %s", id, s.State))
			}
			if got := containers[id]; len(got) != 1 || got[0] != "running" {
				diff = append(diff, fmt.Sprintf("session %s has containers %v", id, got))
			}
			if networks[id] != 1 {
				diff = append(diff, fmt.Sprintf("session %s has %d networks", id, networks[id]))
			}
		}
		for id, got := range containers {
			if _, ok := act[id]; !ok {
				diff = append(diff, fmt.Sprintf("containers %v of inactive session %s", got, id))
			}
		}
		for id := range networks {
			if _, ok := act[id]; !ok {
				diff = append(diff, "a network of inactive session "+id)
			}
		}
		if n := nodes()["second"]; n.Active != len(act) {
			diff = append(diff, fmt.Sprintf("second counts %d active sessions, %d are", n.Active, len(act)))
		}
		sort.Strings(diff)
		return len(diff) == 0, strings.Join(diff, "; ")
	})
	act := active()
	for _, id := range adopted {
		if _, ok := act[id]; !ok {
			t.Errorf("session %s is no longer active: %+v", id, get(id))
		}
	}
	if len(act) != len(adopted) {
		t.Errorf("active sessions %d, want the %d ready ones %v", len(act), len(adopted), adopted)
	}

	// Deleting every session leaves nothing of the deployment.
	for id := range act {
		var s nodeSession
		if status, body := api.do(http.MethodDelete, "/api/v1/sessions/"+id, nil, &s); status != http.StatusOK || s.State != "stopped" {
			t.Errorf("delete session %s: %d %s", id, status, body)
		}
	}
	containers, networks := deploymentObjects(t, socket, deployment)
	if len(containers) != 0 || len(networks) != 0 {
		t.Errorf("after deleting every session the deployment still has containers %v and networks %v", containers, networks)
	}
	t.Logf("total %.1fs", time.Since(start).Seconds())
}
