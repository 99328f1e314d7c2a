package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// backends are an HTTP and an HTTPS server on loopback that say which Host
// they were asked for and which headers reached them.
func backends(t *testing.T) (plain, tlsSrv *httptest.Server) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var hdrs []string
		for k := range r.Header {
			hdrs = append(hdrs, k)
		}
		slices.Sort(hdrs)
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "host=%s path=%s headers=%s body=%s", r.Host, r.URL.Path, strings.Join(hdrs, ","), body)
	})
	plain, tlsSrv = httptest.NewServer(h), httptest.NewTLSServer(h)
	t.Cleanup(plain.Close)
	t.Cleanup(tlsSrv.Close)
	return plain, tlsSrv
}

func hostOf(s *httptest.Server) string {
	return strings.TrimPrefix(strings.TrimPrefix(s.URL, "https://"), "http://")
}

// client is an http.Client that uses the proxy from src, the way a browser
// configured with --proxy-server does: CONNECT for https, absolute URIs
// for http.
func client(t *testing.T, e *env, src netip.Addr, tlsSrv *httptest.Server) *http.Client {
	proxyURL, _ := url.Parse("http://" + e.proxyAt)
	d := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
	tr := &http.Transport{
		Proxy:           http.ProxyURL(proxyURL),
		DialContext:     d.DialContext,
		TLSClientConfig: &tls.Config{RootCAs: tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func get(t *testing.T, c *http.Client, u string, hdr http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", u, err)
	}
	return resp.StatusCode, string(body)
}

func TestProxyReachesAllowedDomain(t *testing.T) {
	plain, tlsSrv := backends(t)
	e := newEnv(t,
		map[string][][]netip.Addr{"example.com": {{pubA}}},
		map[netip.AddrPort]string{
			netip.AddrPortFrom(pubA, 80):  hostOf(plain),
			netip.AddrPortFrom(pubA, 443): hostOf(tlsSrv),
		}, 0)
	c := client(t, e, srcSession, tlsSrv)

	// Plain HTTP, with hop-by-hop headers that must not reach the server.
	hdr := http.Header{"Connection": {"X-Hop"}, "X-Hop": {"1"}, "Proxy-Connection": {"keep-alive"}, "X-Kept": {"1"}}
	code, body := get(t, c, "http://example.com/hello", hdr)
	if code != http.StatusOK || !strings.Contains(body, "host=example.com path=/hello") {
		t.Fatalf("plain HTTP: %d %q; want 200 from the backend", code, body)
	}
	if !strings.Contains(body, "X-Kept") || strings.Contains(body, "X-Hop") || strings.Contains(body, "Proxy-Connection") {
		t.Errorf("plain HTTP: the backend saw %q; want X-Kept and neither X-Hop nor Proxy-Connection", body)
	}
	// A request body is forwarded.
	resp, err := c.Post("http://example.com/form", "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	posted, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(posted), "path=/form") || !strings.HasSuffix(string(posted), "body=payload") {
		t.Errorf("POST: %d %q; want 200 and the body forwarded", resp.StatusCode, posted)
	}
	// HTTPS through a CONNECT tunnel; the certificate is httptest's, valid
	// for example.com, so TLS end to end proves the bytes are the backend's.
	code, body = get(t, c, "https://example.com/tls", nil)
	if code != http.StatusOK || !strings.Contains(body, "host=example.com path=/tls") {
		t.Fatalf("CONNECT: %d %q; want 200 from the TLS backend", code, body)
	}

	want := []netip.AddrPort{netip.AddrPortFrom(pubA, 80), netip.AddrPortFrom(pubA, 80), netip.AddrPortFrom(pubA, 443)}
	if got := e.dialer.got(); !slices.Equal(got, want) {
		t.Errorf("dialed %v; want %v", got, want)
	}
	for kind, want := range map[string]float64{kindHTTP: 2, kindConnect: 1} {
		if got := testutil.ToFloat64(e.proxy.m.connections.WithLabelValues(kind)); got != want {
			t.Errorf("airlock_egress_connections_total{kind=%q} = %v; want %v", kind, got, want)
		}
	}
	if n := testutil.CollectAndCount(e.proxy.m.refused); n != 0 {
		t.Errorf("%d refusal series; want none", n)
	}
}

func TestProxyRefuses(t *testing.T) {
	e := newEnv(t, map[string][][]netip.Addr{
		"example.com":  {{pubA}},
		"private.test": {{privateA, netip.MustParseAddr("169.254.77.77")}},
		"denied.test":  {{pubA}},
	}, nil, 0)
	for _, tc := range []struct {
		name   string
		src    netip.Addr
		method string
		target string
		code   int
		reason string
		body   string
	}{
		{"denied domain, http", srcSession, "GET", "http://denied.test/x", 403, ReasonDomainRule, "denied.test:80 is denied by egress rule 0"},
		{"denied subdomain, connect", srcSession, "CONNECT", "a.Denied.test:443", 403, ReasonDomainRule, "a.denied.test:443 is denied by egress rule 1"},
		{"private literal", srcSession, "CONNECT", "10.1.2.3:443", 403, ReasonSpecialRange, "10.1.2.3:443 is in a private or special-purpose range (10.0.0.0/8)"},
		{"private literal, http", srcSession, "GET", "http://192.168.7.7:8080/", 403, ReasonSpecialRange, "192.168.7.7:8080 is in a private"},
		{"link-local literal", srcSession, "GET", "http://169.254.77.77/latest", 403, ReasonAlwaysDenied, "169.254.77.77:80 is in 169.254.0.0/16, which is never reachable"},
		{"IPv4-mapped link-local literal", srcSession, "CONNECT", "[::ffff:169.254.77.77]:80", 403, ReasonAlwaysDenied, "169.254.77.77:80 is in 169.254.0.0/16"},
		{"loopback literal", srcSession, "CONNECT", "127.0.0.1:22", 403, ReasonAlwaysDenied, "127.0.0.0/8"},
		{"name resolving to private only", srcSession, "CONNECT", "private.test:443", 403, ReasonSpecialRange, "private.test:443 resolves only to addresses the egress policy refuses: 10.1.2.3:443"},
		{"unknown session", srcUnknown, "CONNECT", "example.com:443", 403, ReasonUnknownSession, "127.0.0.3 is not the address of a hardened session"},
		{"invalid policy", srcInvalid, "GET", "http://example.com/", 403, ReasonInvalidPolicy, "session s2 did not compile"},
		{"origin-form request", srcSession, "GET", "/", 400, ReasonBadRequest, "this is an egress proxy"},
		{"https absolute URI", srcSession, "GET", "https://example.com/", 400, ReasonBadRequest, "CONNECT tunnel"},
		{"connect without port", srcSession, "CONNECT", "example.com", 400, ReasonBadRequest, "host:port"},
		{"name too long", srcSession, "CONNECT", strings.Repeat("a.", 130) + "test:443", 400, ReasonBadRequest, "longer than 253"},
		{"numeric name", srcSession, "CONNECT", "2130706433:80", 400, ReasonBadRequest, "neither an IP address nor a host name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := testutil.ToFloat64(e.proxy.m.refused.WithLabelValues(tc.reason))
			_, reportedBefore := e.lastReported()
			resp, body, _, _ := rawRequest(t, tc.src, e.proxyAt, tc.method, tc.target)
			if resp.StatusCode != tc.code || !strings.Contains(body, tc.body) || !strings.Contains(body, "("+tc.reason+")") {
				t.Errorf("%s %s: %d %q; want %d with %q and the reason %s", tc.method, tc.target, resp.StatusCode, body, tc.code, tc.body, tc.reason)
			}
			if got := resp.Header.Get("X-Airlock-Egress-Reason"); got != tc.reason {
				t.Errorf("X-Airlock-Egress-Reason = %q; want %q", got, tc.reason)
			}
			if got := testutil.ToFloat64(e.proxy.m.refused.WithLabelValues(tc.reason)) - before; got != 1 {
				t.Errorf("airlock_egress_refused_total{reason=%q} grew by %v; want 1", tc.reason, got)
			}
			// Reported for the audit log too, with who asked.
			if ev, n := e.lastReported(); n != reportedBefore+1 || ev.Action != airlock.NodeEgressRefused || ev.Client != tc.src.String() ||
				!strings.Contains(ev.Detail, "("+tc.reason+")") || ev.Time.IsZero() {
				t.Errorf("reported %+v; want an egress refusal from %s with reason %s", ev, tc.src, tc.reason)
			}
		})
	}
	if got := e.dialer.got(); len(got) != 0 {
		t.Errorf("dialed %v; want nothing", got)
	}
	// The name is checked before it is resolved.
	if n := e.upstream.asked("denied.test"); n != 0 {
		t.Errorf("the upstream was asked %d times for denied.test; want 0", n)
	}
}

// TestProxyDNSRebinding: rebind.test answers first with an allowed
// address, then (TTL 0) with a denied one. The first request connects to
// the address it checked; the second resolves to the denied address and is
// refused; the denied address is never dialed, and each request resolved
// the name exactly once.
func TestProxyDNSRebinding(t *testing.T) {
	plain, tlsSrv := backends(t)
	for _, tc := range []struct {
		method, first, second string
		port                  uint16
	}{
		{"GET", "http://rebind.test/", "http://rebind.test/again", 80},
		{"CONNECT", "rebind.test:443", "rebind.test:443", 443},
	} {
		t.Run(tc.method, func(t *testing.T) {
			e := newEnv(t,
				map[string][][]netip.Addr{"rebind.test": {{pubA}, {privateA}}},
				map[netip.AddrPort]string{
					netip.AddrPortFrom(pubA, 80):      hostOf(plain),
					netip.AddrPortFrom(pubA, 443):     hostOf(tlsSrv),
					netip.AddrPortFrom(privateA, 80):  hostOf(plain), // were it dialed, it would answer
					netip.AddrPortFrom(privateA, 443): hostOf(tlsSrv),
				}, 0)
			resp, body, _, _ := rawRequest(t, srcSession, e.proxyAt, tc.method, tc.first)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("first %s %s: %d %q; want 200", tc.method, tc.first, resp.StatusCode, body)
			}
			resp, body, _, _ = rawRequest(t, srcSession, e.proxyAt, tc.method, tc.second)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "10.1.2.3") || !strings.Contains(body, ReasonSpecialRange) {
				t.Fatalf("second %s %s: %d %q; want 403 naming 10.1.2.3 and %s", tc.method, tc.second, resp.StatusCode, body, ReasonSpecialRange)
			}
			want := []netip.AddrPort{netip.AddrPortFrom(pubA, tc.port)}
			if got := e.dialer.got(); !slices.Equal(got, want) {
				t.Errorf("dialed %v; want only the first, checked address %v", got, want)
			}
			if n := e.upstream.aLookups("rebind.test"); n != 2 {
				t.Errorf("%d A lookups of rebind.test for two requests; want one each", n)
			}
		})
	}
}

// TestProxyTriesAllowedInOrder: of a name's addresses, the refused one is
// skipped and the allowed ones are tried in order until one answers.
func TestProxyTriesAllowedInOrder(t *testing.T) {
	plain, _ := backends(t)
	e := newEnv(t,
		map[string][][]netip.Addr{"mixed.test": {{privateA, pubDown, pubA}}},
		map[netip.AddrPort]string{netip.AddrPortFrom(pubA, 80): hostOf(plain)}, 0)
	resp, body, _, _ := rawRequest(t, srcSession, e.proxyAt, "GET", "http://mixed.test/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "host=mixed.test") {
		t.Fatalf("GET: %d %q; want 200", resp.StatusCode, body)
	}
	want := []netip.AddrPort{netip.AddrPortFrom(pubDown, 80), netip.AddrPortFrom(pubA, 80)}
	if got := e.dialer.got(); !slices.Equal(got, want) {
		t.Errorf("dialed %v; want %v", got, want)
	}
}

// echo is a TCP listener that echoes what it reads.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func TestProxyConnectionLimit(t *testing.T) {
	e := newEnv(t, map[string][][]netip.Addr{"example.com": {{pubA}}},
		map[netip.AddrPort]string{netip.AddrPortFrom(pubA, 7): echo(t)}, 1)
	resp, _, tun, br := rawRequest(t, srcSession, e.proxyAt, "CONNECT", "example.com:7")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first tunnel: %d", resp.StatusCode)
	}
	// The tunnel carries bytes both ways, so it is open.
	if _, err := io.WriteString(tun, "ping\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("through the tunnel: %q, %v; want the echo", line, err)
	}
	resp, body, _, _ := rawRequest(t, srcSession, e.proxyAt, "CONNECT", "example.com:7")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "already holds 1 connections") {
		t.Errorf("second tunnel: %d %q; want 403 %s", resp.StatusCode, body, ReasonTooMany)
	}
	if got := testutil.ToFloat64(e.proxy.m.refused.WithLabelValues(ReasonTooMany)); got != 1 {
		t.Errorf("refused{%s} = %v; want 1", ReasonTooMany, got)
	}
	if got := testutil.ToFloat64(e.proxy.m.open); got != 1 {
		t.Errorf("airlock_egress_connections_open = %v; want 1", got)
	}
}

// TestProxyTunnelKeepsEagerBytes: bytes a client sends right behind its
// CONNECT, before the 200 (a TLS ClientHello sent eagerly), reach the
// server.
func TestProxyTunnelKeepsEagerBytes(t *testing.T) {
	e := newEnv(t, map[string][][]netip.Addr{"example.com": {{pubA}}},
		map[netip.AddrPort]string{netip.AddrPortFrom(pubA, 7): echo(t)}, 0)
	c := dialFrom(t, srcSession, e.proxyAt)
	if _, err := io.WriteString(c, "CONNECT example.com:7 HTTP/1.1\r\nHost: example.com:7\r\n\r\nearly\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %v %v; want 200", resp, err)
	}
	if line, err := br.ReadString('\n'); err != nil || line != "early\n" {
		t.Errorf("echoed %q, %v; want the bytes sent with the CONNECT", line, err)
	}
}

// TestProxyServeEndsTunnels: when Serve's context ends, an open tunnel is
// closed and Serve returns.
func TestProxyServeEndsTunnels(t *testing.T) {
	p, err := NewProxy(Options{
		Sessions: testSessions(t),
		Resolver: newUpstream(t, map[string][][]netip.Addr{"example.com": {{pubA}}}).resolver(),
		Dial:     (&dialer{routes: map[netip.AddrPort]string{netip.AddrPortFrom(pubA, 7): echo(t)}}).Dial,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	resp, _, tun, br := rawRequest(t, srcSession, ln.Addr().String(), "CONNECT", "example.com:7")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("tunnel: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v; want nil once ctx ended", err)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Errorf("the tunnel still answers after Serve returned")
	}
	_ = tun
}

func TestNewRequiresSessions(t *testing.T) {
	if _, err := NewProxy(Options{}); err == nil || !strings.Contains(err.Error(), "Sessions") {
		t.Errorf("NewProxy without Sessions: %v; want an error naming Sessions", err)
	}
	if _, err := NewDNS(Options{}); err == nil || !strings.Contains(err.Error(), "Sessions") {
		t.Errorf("NewDNS without Sessions: %v; want an error naming Sessions", err)
	}
}
