package provision

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/airlock-rbi/airlock/internal/dockerpolicy"
	"github.com/airlock-rbi/airlock/internal/dockertest"
	"github.com/airlock-rbi/airlock/internal/egress"
	"github.com/airlock-rbi/airlock/internal/netpolicy"
)

// testUpstream is the DNS server the node's egress proxy and resolver
// ask, standing in for the Internet's: a name's nth A query gets
// answers[n] (the last from then on), TTL 0. It counts queries by name.
type testUpstream struct {
	addr    string
	mu      sync.Mutex
	answers map[string][]netip.Addr
	aSeen   map[string]int
	seen    map[string]int
}

func startUpstream(t *testing.T, answers map[string][]netip.Addr) *testUpstream {
	t.Helper()
	u := &testUpstream{answers: answers, aSeen: map[string]int{}, seen: map[string]int{}}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = pc.LocalAddr().String()
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: u, NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return u
}

func (u *testUpstream) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	q := req.Question[0]
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	u.mu.Lock()
	seq, ok := u.answers[name]
	u.seen[name]++
	n := u.aSeen[name]
	if q.Qtype == dns.TypeA {
		u.aSeen[name]++
	}
	u.mu.Unlock()
	if !ok {
		resp.Rcode = dns.RcodeNameError
	} else if q.Qtype == dns.TypeA {
		a := seq[min(n, len(seq)-1)]
		resp.Answer = append(resp.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 0}, A: a.AsSlice()})
	}
	w.WriteMsg(resp)
}

func (u *testUpstream) asked(name string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[name]
}

// TestHardenedIsolation proves from inside a real hardened session what
// it reaches: the web only through the node's egress proxy and resolver,
// as its workspace's policy allows, nothing private or link-local, no
// other session and nothing of the host but the infra API; and that a
// name rebinding to a denied address (TTL 0) never gets there. A plain
// container on Docker's default bridge reaches every target first, so
// each refusal is the policy's.
func TestHardenedIsolation(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test makes network namespaces and host rules")
	}
	egressIsolation(t, "hardened", "")
}

// TestSandboxedEgress is TestHardenedIsolation for a session under gVisor:
// the same proxy, resolver and rules hold for it.
func TestSandboxedEgress(t *testing.T) {
	needRunsc(t)
	egressIsolation(t, "sandboxed", runsc)
}

// egressIsolation proves the egress properties for a session of level
// (hardened or sandboxed) under runtime ("" for Docker's default).
func egressIsolation(t *testing.T, level, runtime string) {
	dockertest.LockHostRules(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The web as the test makes it: TEST-NET-3 addresses routed into
	// namespaces of the test's own, which the workspace's policy opens
	// by CIDR (they are special-purpose, refused by default).
	public, rebound := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("203.0.113.9")
	private, linkLocal := netip.MustParseAddr("10.254.99.7"), netip.MustParseAddr("169.254.77.78")
	routedTarget(t, public, netip.MustParsePrefix("10.254.81.0/30"), 80)
	reboundHits := routedTarget(t, rebound, netip.MustParsePrefix("10.254.81.4/30"), 80)
	routedTarget(t, private, netip.MustParsePrefix("10.254.81.8/30"), 80)
	routedTarget(t, linkLocal, netip.MustParsePrefix("10.254.81.12/30"), 80)
	up := startUpstream(t, map[string][]netip.Addr{
		"allowed.test": {public},
		"denied.test":  {public},
		"private.test": {private},
		"rebind.test":  {public, rebound},
	})
	const policy = `{"rules":[{"action":"deny","domain":"denied.test"},{"action":"allow","cidr":"203.0.113.7/32"}]}`
	const sessionID = "hardened-test-session"

	// The node's egress proxy and resolver, as startSessionNet runs them.
	proxyLn, err := net.Listen("tcp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	dnsPC, dnsLn := dnsListeners(t)
	dnsPort := uint16(dnsPC.LocalAddr().(*net.UDPAddr).Port)
	proxyPort := uint16(proxyLn.Addr().(*net.TCPAddr).Port)
	h := startNodeWith(t, "runtimes: [runc, runsc]\n", func(c *dockerpolicy.Config) { c.ProxyPort = proxyPort })
	pool := h.node.engine.Config().Pool().Prefix()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	sessions := NewEgressSessions(h.socket, []netip.Prefix{pool}, log)
	go sessions.Watch(ctx)
	reg := prometheus.NewRegistry()
	opts := egress.Options{Sessions: sessions, Logger: log, Registerer: reg,
		Resolver: &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", up.addr)
		}}}
	proxy, err := egress.NewProxy(opts)
	if err != nil {
		t.Fatal(err)
	}
	resolver, err := egress.NewDNS(opts)
	if err != nil {
		t.Fatal(err)
	}
	var served sync.WaitGroup
	served.Go(func() { proxy.Serve(ctx, proxyLn) })
	served.Go(func() { resolver.Serve(ctx, dnsPC, dnsLn) })
	t.Cleanup(func() { cancel(); served.Wait() })

	// Host listeners: the infra API's stand-in, and one closed to sessions.
	apiPort, closedPortN := hostListeners(t)
	rules := &netpolicy.Rules{Pool: pool, HostTCP: []netpolicy.PortRange{{First: apiPort, Last: apiPort}}, ProxyPort: proxyPort, DNSPort: dnsPort}
	if err := rules.Apply(ctx, nil); err != nil {
		t.Fatal(err)
	}

	cli := h.sdk(t)
	// Another session, listening.
	otherTarget := h.listeningSession(t, cli, "")

	mine := h.sessionNetwork(t, "--label", "airlock.isolation="+level, "--label", "airlock.egress="+policy, "--label", "airlock.session="+sessionID)
	n, err := h.socket.NetworkInspect(ctx, mine, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gateway := n.IPAM.Config[0].Gateway
	proxyAddr := net.JoinHostPort(gateway, fmt.Sprint(proxyPort))
	if got := n.Labels[dockerpolicy.LabelProxy]; got != proxyAddr {
		t.Fatalf("%s network's proxy label %q, want %s", level, got, proxyAddr)
	}
	hostClosed, apiTarget := h.hostTargets(t, mine, closedPortN, apiPort)
	web := func(a netip.Addr) string { return net.JoinHostPort(a.String(), "80") }
	h.requireBaseline(t, &container.HostConfig{}, append([]string{web(public), web(rebound), web(private), web(linkLocal), apiTarget}, hostClosed...))

	baseHits := reboundHits.Load() // the baseline's own

	via := func(target string) string { return "connect/" + proxyAddr + "/" + target }
	type want struct {
		target string
		ok     bool
		has    string // in what the probe printed
	}
	wants := []want{
		// The name resolves to the allowed address first, then (TTL 0)
		// to a denied one: the proxy connects to what it checked.
		{via("rebind.test:80"), true, ""},
		{via("rebind.test:80"), false, "403"},
		{via("allowed.test:80"), true, ""},
		{via(web(public)), true, ""},
		{via("denied.test:80"), false, "egress rule 0"},
		{via("private.test:80"), false, "403"},
		{via(web(private)), false, "403"},
		{via(web(linkLocal)), false, "403"},
		{via(otherTarget), false, "403"},
		{via(hostClosed[len(hostClosed)-1]), false, "403"},
		{"lookup/allowed.test", true, public.String()},
		{"lookup/denied.test", false, ""},
		{"lookup/private.test", false, ""},
		// Nothing directly: not the web, not another session, not the host.
		{web(public), false, ""},
		{web(linkLocal), false, ""},
		{otherTarget, false, ""},
		{apiTarget, true, ""},
	}
	for _, c := range hostClosed {
		wants = append(wants, want{c, false, ""})
	}
	var targets []string
	for _, w := range wants {
		targets = append(targets, w.target)
	}
	got := probeOrdered(t, cli, h.socket, &container.HostConfig{NetworkMode: container.NetworkMode(mine), Runtime: runtime}, targets)
	for i, w := range wants {
		g := got[i]
		if ok := strings.HasPrefix(g, "ok"); ok != w.ok || !strings.Contains(g, w.has) {
			t.Errorf("from a %s session, %s: %q; want reached %v (with %q)", level, w.target, g, w.ok, w.has)
		}
	}
	if hits := reboundHits.Load() - baseHits; hits != 0 {
		t.Errorf("the rebound address was connected to %d times", hits)
	}
	if n := up.asked("denied.test"); n != 0 {
		t.Errorf("the upstream was asked for denied.test %d times: a denied name must not leave the node", n)
	}
	for _, reason := range []string{egress.ReasonDomainRule, egress.ReasonSpecialRange, egress.ReasonAlwaysDenied} {
		if v := refusedCount(t, reg, reason); v == 0 {
			t.Errorf("airlock_egress_refused_total{reason=%q} is 0", reason)
		}
	}
	if l := logs.String(); !strings.Contains(l, sessionID) || !strings.Contains(l, "denied.test") {
		t.Errorf("refusals not logged with the session:\n%s", l)
	}
}

// refusedCount is airlock_egress_refused_total{reason} in reg.
func refusedCount(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "airlock_egress_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "reason" && lp.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// syncBuffer is a bytes.Buffer for a logger written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dnsListeners are the resolver's UDP and TCP listeners on one port, as
// DNS needs. The UDP port is free when picked, but its TCP twin may be
// another process's (packages' tests run in parallel): then another pair.
func dnsListeners(t *testing.T) (net.PacketConn, net.Listener) {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp4", ":0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp4", fmt.Sprintf(":%d", pc.LocalAddr().(*net.UDPAddr).Port))
		if err == nil {
			return pc, ln
		}
		pc.Close()
	}
	t.Fatal("no port free for both UDP and TCP in 20 tries")
	return nil, nil
}
