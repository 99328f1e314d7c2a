package provision

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/airlock-rbi/airlock/internal/dockertest"
	"github.com/airlock-rbi/airlock/internal/netpolicy"
)

// nsDaemon is a dockerd of the test's own, run in a network namespace the
// test made, so that the test can restart it (and lose or delete its host
// rules) without touching the machine's dockerd or rules. Inside the
// namespace, the namespace is the host: its docker0 and the session
// bridges are there, and so is the table the rules are installed in.
type nsDaemon struct {
	ns, nsPath string
	dir        string
	socketPath string
	args       []string
	cli        *client.Client
	cmd        *exec.Cmd
	exited     chan struct{}
	// bridgeAddr is the address of its docker0, a host address of the
	// namespace.
	bridgeAddr string
}

// startNsDaemon makes a network namespace and starts a dockerd in it,
// with its own data, exec root, socket and config (not the machine's
// /etc/docker/daemon.json), and builds the test image on it. Everything
// is stopped and removed when the test ends.
func startNsDaemon(t *testing.T) *nsDaemon {
	t.Helper()
	for _, bin := range []string{"dockerd", "nsenter", "nft", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not installed: the restart test runs a dockerd of its own in a network namespace", bin)
		}
	}
	// A short path: containerd's socket under the exec root must fit in
	// a unix socket address.
	dir, err := os.MkdirTemp("", "alr-restart-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove the test dockerd's files: %v", err)
		}
	})
	d := &nsDaemon{ns: filepath.Base(dir), dir: dir, socketPath: filepath.Join(dir, "docker.sock"), bridgeAddr: "172.31.250.1"}
	d.nsPath = "/var/run/netns/" + d.ns
	run(t, "ip", "netns", "add", d.ns)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", d.ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", d.ns, err, out)
		}
	})
	run(t, "ip", "-n", d.ns, "link", "set", "lo", "up")
	config := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(config, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.args = []string{
		"--config-file", config,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"-H", "unix://" + d.socketPath,
		"--bip", d.bridgeAddr + "/24",
	}
	d.cli, err = client.NewClientWithOpts(client.WithHost("unix://"+d.socketPath), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	d.start(t)
	// Registered after the namespace and files: cleanups run last first,
	// so the daemon stops before they are removed, and after every
	// container cleanup registered later.
	t.Cleanup(func() {
		d.stop(t)
		d.cli.Close()
	})
	if err := dockertest.BuildTestImage(context.Background(), d.cli); err != nil {
		t.Fatalf("build the test image on the test dockerd: %v", err)
	}
	return d
}

// start starts dockerd in the namespace (nsenter --net, which keeps the
// host's mounts, cgroups included, unlike ip netns exec) and waits until
// it answers.
func (d *nsDaemon) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(d.dir, "dockerd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	d.cmd = exec.Command("nsenter", append([]string{"--net=" + d.nsPath, "dockerd"}, d.args...)...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start dockerd in %s: %v", d.ns, err)
	}
	exited := make(chan struct{})
	d.exited = exited
	go func(cmd *exec.Cmd) { cmd.Wait(); close(exited) }(d.cmd)
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := d.cli.Ping(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-exited:
			t.Fatalf("the test dockerd exited before it answered (%v):\n%s", d.cmd.ProcessState, d.logTail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the test dockerd did not answer on %s within a minute: %v\n%s", d.socketPath, err, d.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop sends dockerd SIGTERM and waits for it to exit, as a service
// manager restarting it would; it is killed if it takes over a minute.
func (d *nsDaemon) stop(t *testing.T) {
	t.Helper()
	select {
	case <-d.exited:
		return
	default:
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM the test dockerd: %v", err)
	}
	select {
	case <-d.exited:
	case <-time.After(time.Minute):
		d.cmd.Process.Kill()
		<-d.exited
		t.Errorf("the test dockerd did not exit within a minute of SIGTERM; killed:\n%s", d.logTail())
	}
}

func (d *nsDaemon) restart(t *testing.T) {
	t.Helper()
	d.stop(t)
	d.start(t)
}

func (d *nsDaemon) logTail() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "dockerd.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// exec runs a command in the namespace.
func (d *nsDaemon) exec(ctx context.Context, stdin string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + d.nsPath, name}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), d.ns, err, bytes.TrimSpace(out))
	}
	return out, nil
}

// nft is the Runner that installs the host rules in the namespace.
func (d *nsDaemon) nft(ctx context.Context, stdin string, args ...string) error {
	_, err := d.exec(ctx, stdin, "nft", args...)
	return err
}

var (
	nftCounters = regexp.MustCompile(`counter packets \d+ bytes \d+`)
	nftHandle   = regexp.MustCompile(`^table inet airlock \{ # handle (\d+)`)
)

// table lists the rules table in the namespace: its text with counters
// zeroed, and its handle, which changes when the table is made again.
func (d *nsDaemon) table(t *testing.T) (text, handle string, ok bool) {
	t.Helper()
	out, err := d.exec(context.Background(), "", "nft", "-a", "list", "table", "inet", netpolicy.Table)
	if err != nil {
		return "", "", false
	}
	m := nftHandle.FindSubmatch(out)
	if m == nil {
		t.Fatalf("nft -a list table printed no table handle:\n%s", out)
	}
	// Rule handles are renumbered with the table; what is compared is
	// the rules.
	text = regexp.MustCompile(` # handle \d+`).ReplaceAllString(nftCounters.ReplaceAllString(string(out), "counter"), "")
	return text, string(m[1]), true
}

// restartSession is a session of the restart test: a network made
// through the node, and a probe container on it that dials the targets
// every time it starts.
type restartSession struct {
	net, bridge, gateway, subnet, id string
	runs                             int
}

func newRestartSession(t *testing.T, h *harness, cli *client.Client, d *nsDaemon, closedPort, openPort int) *restartSession {
	t.Helper()
	ctx := context.Background()
	s := &restartSession{net: h.sessionNetwork(t)}
	n, err := d.cli.NetworkInspect(ctx, s.net, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.bridge = n.Options["com.docker.network.bridge.name"]
	if !netpolicy.IsSessionBridge(s.bridge) || len(n.IPAM.Config) != 1 {
		t.Fatalf("session network %s: bridge %q, IPAM %+v: not a session network", s.net, s.bridge, n.IPAM.Config)
	}
	s.gateway, s.subnet = n.IPAM.Config[0].Gateway, n.IPAM.Config[0].Subnet
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: dockertest.TestImage, Cmd: append([]string{"dial"}, s.targets(d, closedPort, openPort)...)},
		&container.HostConfig{NetworkMode: container.NetworkMode(s.net)}, nil, nil, uniqueName(t, "session"))
	if err != nil {
		t.Fatal(err)
	}
	s.id = c.ID
	t.Cleanup(func() { d.cli.ContainerRemove(context.Background(), s.id, container.RemoveOptions{Force: true}) })
	return s
}

// targets are the closed port on two host addresses of the namespace
// (its docker0 and this session's gateway) and the open port.
func (s *restartSession) targets(d *nsDaemon, closedPort, openPort int) []string {
	return []string{
		net.JoinHostPort(d.bridgeAddr, fmt.Sprint(closedPort)),
		net.JoinHostPort(s.gateway, fmt.Sprint(closedPort)),
		net.JoinHostPort(d.bridgeAddr, fmt.Sprint(openPort)),
	}
}

// dial (re)starts the session's container through cli (the node's
// client, but for the one check made while no node runs) and returns what
// each target answered in this run.
func (s *restartSession) dial(t *testing.T, cli *client.Client, d *nsDaemon) map[string]string {
	t.Helper()
	if err := cli.ContainerRestart(context.Background(), s.id, container.StopOptions{}); err != nil {
		t.Fatalf("restart the session container: %v", err)
	}
	s.runs++
	return dialRun(t, d.cli, s.id, s.runs)
}

// dialRun waits (up to a minute) until a probe container has finished
// its run-th dial and returns what each target answered in that run: its
// log keeps the lines of every run.
func dialRun(t *testing.T, socket *client.Client, id string, run int) map[string]string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		rc, err := socket.ContainerLogs(context.Background(), id, container.LogsOptions{ShowStdout: true})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		_, err = stdcopy.StdCopy(&out, &out, rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		got, n := map[string]string{}, 0
		for line := range strings.SplitSeq(out.String(), "\n") {
			if line == "dial done" {
				if n++; n == run {
					return got
				}
				clear(got)
			} else if rest, ok := strings.CutPrefix(line, "dial "); ok {
				if target, what, ok := strings.Cut(rest, ": "); ok {
					got[target] = what
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("container %s did not finish dial run %d within a minute", id, run)
	return nil
}

// wantContained checks a session's probe: every closed target refused,
// the open one reached.
func wantContained(t *testing.T, when string, got map[string]string, targets []string) {
	t.Helper()
	t.Logf("%s: %v", when, got)
	for i, tg := range targets {
		open := i == len(targets)-1
		if reached := got[tg] == "ok"; reached != open {
			t.Errorf("%s: from the session, %s answered %q; want reachable %v", when, tg, got[tg], open)
		}
	}
}

// TestRulesSurviveRestarts proves issue 10's "rules survive a dockerd
// restart and a node restart, and are gone when the session is" on a
// dockerd of the test's own in a network namespace, which the test
// restarts (the machine's dockerd is never restarted). The host rules
// are installed in that namespace as the node installs them (Keep); the
// closed and open host ports are listeners of the namespace, and a
// baseline container on the daemon's default bridge shows both answer,
// so a refusal is the rules'.
func TestRulesSurviveRestarts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test runs a dockerd in a network namespace of its own")
	}
	ctx := context.Background()
	d := startNsDaemon(t)
	h := startNodeOn(t, d.socketPath, d.cli, dockertest.TestImage, "", nil)
	cli := h.sdk(t)

	// Listeners on every address of the namespace, so on its docker0 and
	// every session gateway, made before the sessions' bridges.
	closed := listenInNetns(t, d.nsPath, "0.0.0.0:0")
	serveBanner(t, closed)
	open := listenInNetns(t, d.nsPath, "0.0.0.0:0")
	serveBanner(t, open)
	closedPort, openPort := closed.Addr().(*net.TCPAddr).Port, open.Addr().(*net.TCPAddr).Port
	rules := &netpolicy.Rules{Pool: h.node.engine.Config().Pool().Prefix(),
		HostTCP: []netpolicy.PortRange{{First: uint16(openPort), Last: uint16(openPort)}}}
	var logged syncBuffer // Keep logs from its own goroutine
	log := slog.New(slog.NewTextHandler(&logged, nil))
	// The first node keeps the rules but never looks again within the
	// test (an hour), so what survives the dockerd restart is the table
	// itself, not one put back.
	keepCtx, stopKeep := context.WithCancel(ctx)
	kept, err := rules.Keep(keepCtx, d.nft, time.Hour, log)
	if err != nil {
		stopKeep()
		t.Fatal(err)
	}
	t.Cleanup(func() { stopKeep(); <-kept })
	want, handle, ok := d.table(t)
	if !ok {
		t.Fatal("Keep returned but the table is not in the namespace")
	}

	// 1. A session is refused the closed port and reaches the open one;
	// a plain container on the default bridge reaches both.
	first := newRestartSession(t, h, cli, d, closedPort, openPort)
	targets := first.targets(d, closedPort, openPort)
	base := probe(t, d.cli, d.cli, &container.HostConfig{}, targets)
	for _, tg := range targets {
		if base[tg] != "ok" {
			t.Fatalf("baseline container did not reach %s (%q): the target is not there, so a refusal would prove nothing", tg, base[tg])
		}
	}
	wantContained(t, "before any restart", first.dial(t, cli, d), targets)
	if text, _, _ := d.table(t); text != want {
		t.Errorf("the table changed with a session (the rules must name none):\nbefore\n%s\nwith the session\n%s", want, text)
	}

	// 2. dockerd restarts: the table is the same one (same handle, same
	// rules), the session network is still there, its container started
	// again is refused, and so is a new session's.
	d.restart(t)
	if text, hd, ok := d.table(t); !ok || hd != handle || text != want {
		t.Fatalf("after a dockerd restart the table is not the one installed (present %v, handle %s, was %s):\n%s", ok, hd, handle, text)
	}
	if _, err := d.cli.NetworkInspect(ctx, first.net, network.InspectOptions{}); err != nil {
		t.Fatalf("the session's network is gone after a dockerd restart: %v", err)
	}
	// Without live-restore a dockerd that stops stops its containers: the
	// session's is found stopped, so the daemon really went away.
	if c, err := d.cli.ContainerInspect(ctx, first.id); err != nil || c.State.Running {
		t.Fatalf("the session container after a dockerd restart: running %v, %v; want stopped", err == nil && c.State.Running, err)
	}
	wantContained(t, "the first session after a dockerd restart", first.dial(t, cli, d), targets)
	afterDockerd := newRestartSession(t, h, cli, d, closedPort, openPort)
	wantContained(t, "a new session after a dockerd restart", afterDockerd.dial(t, cli, d), afterDockerd.targets(d, closedPort, openPort))

	// 3. The node restarts. Its rules stay when it stops; a host restart
	// loses them (the table deleted here), and then the session reaches
	// the closed port: nothing but the table refuses it. The new node's
	// Keep installs them at start, and puts them back when they go.
	h.stop()
	stopKeep()
	<-kept
	if _, hd, ok := d.table(t); !ok || hd != handle {
		t.Fatalf("the table went with the node (present %v, handle %s, was %s)", ok, hd, handle)
	}
	if _, err := d.exec(ctx, "", "nft", "delete", "table", "inet", netpolicy.Table); err != nil {
		t.Fatal(err)
	}
	// No node runs: the container is started again on the socket.
	if got := first.dial(t, d.cli, d); got[targets[0]] != "ok" || got[targets[1]] != "ok" {
		t.Fatalf("without the table a session did not reach the closed port (%v): the refusals above were not the rules'", got)
	}
	h.restartNode(t)
	cli = h.sdk(t)
	keepCtx2, stopKeep2 := context.WithCancel(ctx)
	const interval = 200 * time.Millisecond
	kept2, err := rules.Keep(keepCtx2, d.nft, interval, log)
	if err != nil {
		stopKeep2()
		t.Fatal(err)
	}
	t.Cleanup(func() { stopKeep2(); <-kept2 })
	if text, _, ok := d.table(t); !ok || text != want {
		t.Fatalf("the new node's Keep did not install the rules (present %v):\n%s", ok, text)
	}
	wantContained(t, "the first session after a node restart", first.dial(t, cli, d), targets)
	afterNode := newRestartSession(t, h, cli, d, closedPort, openPort)
	wantContained(t, "a new session after a node restart", afterNode.dial(t, cli, d), afterNode.targets(d, closedPort, openPort))

	_, handle, _ = d.table(t)
	if _, err := d.exec(ctx, "", "nft", "delete", "table", "inet", netpolicy.Table); err != nil {
		t.Fatal(err)
	}
	back := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(interval / 4) {
		if text, hd, ok := d.table(t); ok {
			if hd == handle || text != want {
				t.Fatalf("the table after deletion is not a new install of the rules (handle %s, was %s):\n%s", hd, handle, text)
			}
			back = true
			break
		}
	}
	if !back {
		t.Fatalf("Keep (every %v) did not put the deleted table back within 30 s; its log:\n%s", interval, logged.String())
	}
	if !strings.Contains(logged.String(), "were gone from the host") {
		t.Errorf("Keep put the table back without saying so; its log:\n%s", logged.String())
	}
	wantContained(t, "the first session after Keep put the table back", first.dial(t, cli, d), targets)

	// 4. The session ends through the node: its bridge is gone from the
	// namespace and the table, which never named it, is unchanged.
	if err := cli.ContainerRemove(ctx, first.id, container.RemoveOptions{Force: true}); err != nil {
		t.Fatalf("remove the session container through the node: %v", err)
	}
	if err := cli.NetworkRemove(ctx, first.net); err != nil {
		t.Fatalf("remove the session network through the node: %v", err)
	}
	out, err := d.exec(ctx, "", "ip", "link", "show", first.bridge)
	if err == nil || !strings.Contains(string(out), "does not exist") {
		t.Errorf("the session's bridge %s is still in the namespace after the session ended (%v): %s", first.bridge, err, out)
	}
	text, _, ok := d.table(t)
	if !ok || text != want {
		t.Errorf("the table changed when the session ended (present %v):\nwas\n%s\nnow\n%s", ok, want, text)
	}
	for _, ref := range []string{first.bridge, first.subnet, first.gateway, first.id[:12]} {
		if strings.Contains(text, ref) {
			t.Errorf("the table names the ended session (%s):\n%s", ref, text)
		}
	}
	if !strings.Contains(text, `iifname != { "alh*", "als*" } accept`) {
		t.Errorf("the table has no rule matching session bridges by name:\n%s", text)
	}
}
