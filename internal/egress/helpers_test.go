package egress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// Client source addresses: all of 127/8 is loopback on Linux, so a test
// client binds one of these to be a given session (or none).
var (
	srcSession = netip.MustParseAddr("127.0.0.1") // session s1, testPolicy
	srcInvalid = netip.MustParseAddr("127.0.0.2") // session s2, whose policy did not compile
	srcUnknown = netip.MustParseAddr("127.0.0.3") // no session
)

// Public-looking addresses the upstream DNS answers with; the test's Dial
// maps the checked ones to its own loopback listeners.
var (
	pubA     = netip.MustParseAddr("93.184.215.14")
	pubDown  = netip.MustParseAddr("93.184.215.20") // allowed, but nothing answers
	privateA = netip.MustParseAddr("10.1.2.3")
)

// testPolicy denies denied.test and its subdomains and leaves the rest to
// the defaults (public allowed, private and special refused).
func testPolicy(t *testing.T) *Policy {
	t.Helper()
	p, err := Compile(airlock.EgressPolicy{Rules: []airlock.EgressRule{
		{Action: airlock.EgressDeny, Domain: "denied.test"},
		{Action: airlock.EgressDeny, Domain: "*.denied.test"},
	}}, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

type fakeSessions map[netip.Addr]Session

func (f fakeSessions) Lookup(_ context.Context, src netip.Addr) (Session, bool) {
	s, ok := f[src]
	return s, ok
}

func testSessions(t *testing.T) fakeSessions {
	return fakeSessions{
		srcSession: {ID: "s1", Policy: testPolicy(t)},
		srcInvalid: {ID: "s2"},
	}
}

// upstream is a real DNS server on loopback standing in for the node's
// upstream resolver. A name's nth A query gets answers[n] (the last one
// from then on), with TTL 0; AAAA gets an empty answer; names it does not
// know get NXDOMAIN. It counts every query by name.
type upstream struct {
	addr string

	mu      sync.Mutex
	answers map[string][][]netip.Addr
	aSeen   map[string]int
	queries map[string]int
}

func newUpstream(t *testing.T, answers map[string][][]netip.Addr) *upstream {
	t.Helper()
	u := &upstream{answers: answers, aSeen: map[string]int{}, queries: map[string]int{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = pc.LocalAddr().String()
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: u, NotifyStartedFunc: func() { close(started) }}
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() {
		_ = srv.Shutdown()
		if err := <-done; err != nil {
			t.Errorf("upstream DNS: %v", err)
		}
	})
	return u
}

func (u *upstream) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	q := req.Question[0]
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	u.mu.Lock()
	u.queries[name]++
	seq, ok := u.answers[name]
	var addrs []netip.Addr
	if ok && q.Qtype == dns.TypeA {
		addrs = seq[min(u.aSeen[name], len(seq)-1)]
		u.aSeen[name]++
	}
	u.mu.Unlock()
	if !ok {
		resp.Rcode = dns.RcodeNameError
	}
	for _, a := range addrs {
		resp.Answer = append(resp.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 0}, A: a.AsSlice()})
	}
	_ = w.WriteMsg(resp)
}

// asked is how many queries (of any type) reached the upstream for name,
// in any case.
func (u *upstream) asked(name string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.queries[strings.ToLower(name)]
}

// aLookups is how many A queries reached the upstream for name.
func (u *upstream) aLookups(name string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.aSeen[name]
}

// resolver is a net.Resolver that sends every query to u.
func (u *upstream) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", u.addr)
	}}
}

// dialer maps checked addresses to the test's loopback listeners and
// records every address the proxy dials.
type dialer struct {
	routes map[netip.AddrPort]string

	mu     sync.Mutex
	dialed []netip.AddrPort
}

func (d *dialer) Dial(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, error) {
	d.mu.Lock()
	d.dialed = append(d.dialed, addr)
	d.mu.Unlock()
	to, ok := d.routes[addr]
	if !ok {
		return nil, fmt.Errorf("test network: nothing answers at %s", addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, to)
}

func (d *dialer) got() []netip.AddrPort {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]netip.AddrPort(nil), d.dialed...)
}

// env is a proxy and a resolver on loopback with their upstream.
type env struct {
	proxy    *Proxy
	dns      *DNS
	proxyAt  string
	udpAt    string
	tcpAt    string
	upstream *upstream
	dialer   *dialer
	reg      *prometheus.Registry

	mu sync.Mutex
	// reported are the refusals given to OnRefused, guarded by mu.
	reported []airlock.NodeEvent
}

// lastReported is the last refusal given to OnRefused.
func (e *env) lastReported() (airlock.NodeEvent, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.reported) == 0 {
		return airlock.NodeEvent{}, 0
	}
	return e.reported[len(e.reported)-1], len(e.reported)
}

func newEnv(t *testing.T, answers map[string][][]netip.Addr, routes map[netip.AddrPort]string, max int) *env {
	t.Helper()
	e := &env{upstream: newUpstream(t, answers), dialer: &dialer{routes: routes}, reg: prometheus.NewRegistry()}
	o := Options{
		Sessions:           testSessions(t),
		Resolver:           e.upstream.resolver(),
		Logger:             slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer:         e.reg,
		Dial:               e.dialer.Dial,
		MaxConnsPerSession: max,
		OnRefused: func(ev airlock.NodeEvent) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.reported = append(e.reported, ev)
		},
	}
	var err error
	if e.proxy, err = NewProxy(o); err != nil {
		t.Fatal(err)
	}
	if e.dns, err = NewDNS(o); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dnsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.proxyAt, e.udpAt, e.tcpAt = ln.Addr().String(), pc.LocalAddr().String(), dnsLn.Addr().String()
	proxyDone, dnsDone := make(chan error, 1), make(chan error, 1)
	go func() { proxyDone <- e.proxy.Serve(ctx, ln) }()
	go func() { dnsDone <- e.dns.Serve(ctx, pc, dnsLn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-proxyDone; err != nil {
			t.Errorf("Proxy.Serve: %v", err)
		}
		if err := <-dnsDone; err != nil {
			t.Errorf("DNS.Serve: %v", err)
		}
	})
	return e
}

// testWriter sends the log to t.Log, so a failing test shows it.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// dialFrom connects to addr from the loopback address src.
func dialFrom(t *testing.T, src netip.Addr, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dialing %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	// Not a timed assertion: a generous bound that turns a hang (a
	// proxy that never answers) into a failure.
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

// rawRequest sends one proxy request written by hand (so the request
// target is exactly what the test says) and reads the response head; the
// connection is returned for a tunnel.
func rawRequest(t *testing.T, src netip.Addr, proxyAt, method, target string) (*http.Response, string, net.Conn, *bufio.Reader) {
	t.Helper()
	c := dialFrom(t, src, proxyAt)
	host := target
	if strings.HasPrefix(target, "/") {
		host = "example.com"
	} else if i := strings.Index(target, "://"); i >= 0 {
		host, _, _ = strings.Cut(target[i+3:], "/")
	}
	if _, err := fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", method, target, host); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: reading the response: %v", method, target, err)
	}
	if method == "CONNECT" && resp.StatusCode == http.StatusOK {
		return resp, "", c, br
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("%s %s: reading the body: %v", method, target, err)
	}
	return resp, string(body), c, br
}
