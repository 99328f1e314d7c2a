package provision

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/airlock-rbi/airlock/internal/dockertest"
	"github.com/airlock-rbi/airlock/internal/hostaddr"
	"github.com/airlock-rbi/airlock/internal/netpolicy"
)

// banner is what testapp's serve mode and the test's own listeners say.
const banner = "airlock-probe"

// serveBanner answers every connection on ln with the banner, and counts
// them.
func serveBanner(t *testing.T, ln net.Listener) *atomic.Int64 {
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			fmt.Fprintln(c, banner)
			c.Close()
		}
	}()
	return &n
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// routedTarget makes addr an address of a network namespace of the
// test's own, routed from this host over a veth pair, with a listener on
// port, whose connections it counts. It refuses to route an address this
// machine already reaches elsewhere or uses itself, and checks the route
// stays on this machine.
func routedTarget(t *testing.T, addr netip.Addr, transit netip.Prefix, port int) *atomic.Int64 {
	t.Helper()
	for _, a := range []netip.Addr{addr, transit.Addr()} {
		out, _ := exec.Command("ip", "-o", "route", "get", a.String()).CombinedOutput()
		if strings.Contains(string(out), " dev lo ") || strings.Contains(string(out), "local ") {
			t.Fatalf("%s is an address of this machine (%s): the test will not route it", a, out)
		}
	}
	if addr == netip.MustParseAddr("169.254.169.254") {
		t.Fatal("never route the metadata address itself")
	}
	if name, ok := dockertest.MirrorAt(context.Background(), addr); ok {
		t.Fatalf("%s is %s, which this machine uses: the test will not route it", addr, name)
	}
	id := fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)
	ns, hostIf, nsIf := "tgt-"+id, "tgth"+id, "tgtn"+id
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run(t, "ip", "link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	t.Cleanup(func() { exec.Command("ip", "link", "del", hostIf).Run() })
	hostSide := transit.Masked().Addr().Next()
	nsSide := hostSide.Next()
	run(t, "ip", "link", "set", nsIf, "netns", ns)
	run(t, "ip", "addr", "add", netip.PrefixFrom(hostSide, transit.Bits()).String(), "dev", hostIf)
	run(t, "ip", "link", "set", hostIf, "up")
	run(t, "ip", "-n", ns, "addr", "add", netip.PrefixFrom(nsSide, transit.Bits()).String(), "dev", nsIf)
	run(t, "ip", "-n", ns, "addr", "add", netip.PrefixFrom(addr, 32).String(), "dev", nsIf)
	run(t, "ip", "-n", ns, "link", "set", nsIf, "up")
	run(t, "ip", "-n", ns, "route", "add", "default", "via", hostSide.String())
	run(t, "ip", "route", "add", netip.PrefixFrom(addr, 32).String(), "via", nsSide.String(), "dev", hostIf)
	t.Cleanup(func() { exec.Command("ip", "route", "del", netip.PrefixFrom(addr, 32).String()).Run() })
	out, err := exec.Command("ip", "-o", "route", "get", addr.String()).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "dev "+hostIf) {
		t.Fatalf("route to %s does not stay on this machine's veth %s: %s", addr, hostIf, out)
	}
	return serveBanner(t, listenInNetns(t, "/var/run/netns/"+ns, netip.AddrPortFrom(addr, uint16(port)).String()))
}

// listenInNetns is dockertest.ListenInNetns for a test.
func listenInNetns(t *testing.T, nsPath, addr string) net.Listener {
	t.Helper()
	ln, err := dockertest.ListenInNetns(nsPath, addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// probe runs testapp dial from a container made by cli and returns what
// each target answered.
func probe(t *testing.T, cli *client.Client, socket *client.Client, hc *container.HostConfig, targets []string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for i, what := range probeOrdered(t, cli, socket, hc, targets) {
		got[targets[i]] = what
	}
	return got
}

// probeOrdered is probe for targets that repeat: what each answered, in
// order.
func probeOrdered(t *testing.T, cli, socket *client.Client, hc *container.HostConfig, targets []string) []string {
	t.Helper()
	ctx := context.Background()
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: dockertest.TestImage, Cmd: append([]string{"dial"}, targets...)}, hc, nil, nil, uniqueName(t, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { socket.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range containerLines(t, socket, c.ID, "dial done") {
		if rest, ok := strings.CutPrefix(line, "dial "); ok {
			if _, what, ok := strings.Cut(rest, ": "); ok {
				got = append(got, what)
			}
		}
	}
	if len(got) != len(targets) {
		t.Fatalf("probe printed %d results for %d targets: %q", len(got), len(targets), got)
	}
	return got
}

// requireBaseline probes targets from a plain container (hc on Docker's
// default bridge, made on the socket and not through the node), which must
// reach every one: otherwise a target is not there, and a refusal from a
// session would prove nothing.
func (h *harness) requireBaseline(t *testing.T, hc *container.HostConfig, targets []string) {
	t.Helper()
	for tg, what := range probe(t, h.socket, h.socket, hc, targets) {
		if what != "ok" {
			t.Fatalf("baseline container did not reach %s (%q): the target is not there, so a refusal would prove nothing", tg, what)
		}
	}
}

// hostTargets are this host's addresses a session might try, on the port
// no node opened: the default bridge's, the session network's gateway and
// the outbound one; and the infra API's stand-in on the open port.
func (h *harness) hostTargets(t *testing.T, sessionNet string, closedPort int, openPort uint16) (closed []string, api string) {
	t.Helper()
	ctx := context.Background()
	bridge, err := hostaddr.Bridge(ctx, h.socket, "bridge")
	if err != nil {
		t.Fatal(err)
	}
	n, err := h.socket.NetworkInspect(ctx, sessionNet, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{bridge.String(), n.IPAM.Config[0].Gateway}
	if a := outboundAddr(t); a != "" {
		addrs = append(addrs, a)
	}
	for _, a := range addrs {
		closed = append(closed, net.JoinHostPort(a, fmt.Sprint(closedPort)))
	}
	return closed, net.JoinHostPort(bridge.String(), fmt.Sprint(openPort))
}

// applyRules installs the host rules of h's pool with openPort as the only
// port of this host sessions reach.
func (h *harness) applyRules(t *testing.T, openPort uint16) {
	t.Helper()
	rules := &netpolicy.Rules{Pool: h.node.engine.Config().Pool().Prefix(), HostTCP: []netpolicy.PortRange{{First: openPort, Last: openPort}}}
	if err := rules.Apply(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

// containerLines waits (up to a minute) until a container's stdout has
// the line last, and returns its lines.
func containerLines(t *testing.T, socket *client.Client, id, last string) []string {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		rc, err := socket.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		_, err = stdcopy.StdCopy(&out, io.Discard, rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(out.String(), "\n")
		if slices.Contains(lines, last) {
			return lines
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("container %s did not print %q within a minute", id, last)
	return nil
}

// TestStandardIsolation proves from inside real session containers what
// a standard session cannot reach, against a baseline container outside
// the node's networks that reaches every target, so each refusal is the
// host rules' and not a target that was never there.
func TestStandardIsolation(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test makes network namespaces and host rules")
	}
	h := startNode(t)
	cli := h.sdk(t)

	// Host listeners: one the node lets sessions reach (the infra API's
	// stand-in), one it does not.
	allowedPort, closedPort := hostListeners(t)
	h.applyRules(t, allowedPort)

	// A link-local address and a private one, each in a namespace of the
	// test's own.
	linkLocal := netip.MustParseAddr("169.254.77.77")
	routedTarget(t, linkLocal, netip.MustParsePrefix("10.254.77.0/30"), 80)

	// Another session, listening.
	otherTarget := h.listeningSession(t, cli, "")

	mine := h.sessionNetwork(t)
	targets, apiTarget := h.hostTargets(t, mine, closedPort, allowedPort)
	targets = append(targets, net.JoinHostPort(linkLocal.String(), "80"), apiTarget)
	h.requireBaseline(t, &container.HostConfig{}, targets)

	got := probe(t, cli, h.socket, &container.HostConfig{NetworkMode: container.NetworkMode(mine)}, append(targets, otherTarget))
	for _, tg := range append(targets, otherTarget) {
		want := tg == apiTarget
		if reached := got[tg] == "ok"; reached != want {
			t.Errorf("from a standard session, %s: %q; want reachable %v", tg, got[tg], want)
		}
	}
}

// closedHostListener listens, with the banner, on a port of every host
// address that no node has opened to sessions: the host rules' port sets
// keep what every node on this host ever opened (nodes never close
// another's), and earlier tests' nodes opened ports at random.
func closedHostListener(t *testing.T) net.Listener {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		open := false
		for _, set := range []string{"host_tcp", "proxy_tcp", "resolver"} {
			// Succeeds only when the port is an element of the set.
			if exec.Command("nft", "get", "element", "inet", netpolicy.Table, set, fmt.Sprintf("{ %d }", port)).Run() == nil {
				open = true
			}
		}
		if !open {
			serveBanner(t, ln)
			return ln
		}
		ln.Close()
	}
	t.Fatal("no port found that the host rules keep closed to sessions")
	return nil
}

// hostListeners listens with the banner on every host address twice: on
// a port the test opens to sessions (the infra API's stand-in), and on one
// no node has opened.
func hostListeners(t *testing.T) (open uint16, closed int) {
	t.Helper()
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	serveBanner(t, ln)
	return uint16(ln.Addr().(*net.TCPAddr).Port), closedHostListener(t).Addr().(*net.TCPAddr).Port
}

// listeningSession starts another session, on a network made through the
// node with args (under runtime, if set), serving the banner on port
// 8080, and returns its address once the host reaches it: it is there.
func (h *harness) listeningSession(t *testing.T, cli *client.Client, runtime string, args ...string) string {
	t.Helper()
	ctx := context.Background()
	other := h.sessionNetwork(t, args...)
	oc, err := cli.ContainerCreate(ctx, &container.Config{Image: dockertest.TestImage, Cmd: []string{"serve", "8080"}},
		&container.HostConfig{NetworkMode: container.NetworkMode(other), Runtime: runtime}, nil, nil, uniqueName(t, "other"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.socket.ContainerRemove(context.Background(), oc.ID, container.RemoveOptions{Force: true}) })
	if err := cli.ContainerStart(ctx, oc.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	info, err := h.socket.ContainerInspect(ctx, oc.ID)
	if err != nil {
		t.Fatal(err)
	}
	var target string
	for _, ep := range info.NetworkSettings.Networks {
		target = net.JoinHostPort(ep.IPAddress, "8080")
	}
	waitBanner(t, target)
	return target
}

// waitBanner waits until addr answers with the banner, from this host.
func waitBanner(t *testing.T, addr string) {
	t.Helper()
	for range 100 {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if line == banner+"\n" {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never answered from the host", addr)
}

// outboundAddr is this host's address on its default route, if any.
func outboundAddr(t *testing.T) string {
	out, err := exec.Command("ip", "-o", "-4", "route", "get", "192.0.2.200").CombinedOutput()
	if err != nil {
		return ""
	}
	f := strings.Fields(string(out))
	for i := range f {
		if f[i] == "src" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}
