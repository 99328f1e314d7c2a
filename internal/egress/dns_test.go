package egress

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// query asks the resolver under test from src, over UDP or TCP.
func query(t *testing.T, e *env, src netip.Addr, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	at := e.udpAt
	local := net.Addr(net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)))
	if network == "tcp" {
		at = e.tcpAt
		local = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	}
	c := &dns.Client{Net: network, Dialer: &net.Dialer{LocalAddr: local}}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	resp, _, err := c.Exchange(m, at)
	if err != nil {
		t.Fatalf("querying %s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return resp
}

func TestDNS(t *testing.T) {
	e := newEnv(t, map[string][][]netip.Addr{
		"allowed.test":  {{pubA}},
		"tcp.test":      {{pubA}},
		"mixed.test":    {{privateA, pubA, netip.MustParseAddr("169.254.77.77"), pubDown}},
		"private.test":  {{privateA}},
		"denied.test":   {{pubA}},
		"x.denied.test": {{pubA}},
		"txt.test":      {{pubA}},
		"v6.test":       {{pubA}},
		"unknown.test":  {{pubA}},
	}, nil, 0)
	for _, tc := range []struct {
		name     string
		src      netip.Addr
		network  string
		qname    string
		qtype    uint16
		rcode    int
		answer   []netip.Addr
		upstream int    // queries that reached the upstream for qname
		reason   string // the refusal counted, if any
	}{
		{name: "allowed name", qname: "allowed.test.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, answer: []netip.Addr{pubA}, upstream: 1},
		{name: "over TCP", network: "tcp", qname: "tcp.test.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, answer: []netip.Addr{pubA}, upstream: 1},
		{name: "refused addresses left out", qname: "mixed.test.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, answer: []netip.Addr{pubA, pubDown}, upstream: 1},
		{name: "only refused addresses: empty", qname: "private.test.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, upstream: 1, reason: ReasonSpecialRange},
		{name: "denied name never goes upstream", qname: "denied.test.", qtype: dns.TypeA, rcode: dns.RcodeRefused, reason: ReasonDomainRule},
		{name: "denied subdomain never goes upstream", qname: "X.Denied.Test.", qtype: dns.TypeA, rcode: dns.RcodeRefused, reason: ReasonDomainRule},
		{name: "AAAA empty, not asked upstream", qname: "v6.test.", qtype: dns.TypeAAAA, rcode: dns.RcodeSuccess},
		{name: "TXT refused", qname: "txt.test.", qtype: dns.TypeTXT, rcode: dns.RcodeRefused, reason: ReasonQueryType},
		{name: "ANY refused", qname: "txt.test.", qtype: dns.TypeANY, rcode: dns.RcodeRefused, reason: ReasonQueryType},
		{name: "MX refused", qname: "txt.test.", qtype: dns.TypeMX, rcode: dns.RcodeRefused, reason: ReasonQueryType},
		{name: "PTR refused", qname: "3.2.1.10.in-addr.arpa.", qtype: dns.TypePTR, rcode: dns.RcodeRefused, reason: ReasonQueryType},
		{name: "odd bytes in a label", qname: "a\\000b.test.", qtype: dns.TypeA, rcode: dns.RcodeRefused, reason: ReasonBadRequest},
		{name: "unknown session", src: srcUnknown, qname: "unknown.test.", qtype: dns.TypeA, rcode: dns.RcodeRefused, reason: ReasonUnknownSession},
		{name: "unknown session over TCP", src: srcUnknown, network: "tcp", qname: "unknown.test.", qtype: dns.TypeA, rcode: dns.RcodeRefused, reason: ReasonUnknownSession},
		{name: "invalid policy", src: srcInvalid, qname: "unknown.test.", qtype: dns.TypeA, rcode: dns.RcodeRefused, reason: ReasonInvalidPolicy},
		{name: "no such name", qname: "nxdomain.test.", qtype: dns.TypeA, rcode: dns.RcodeNameError, upstream: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.src.IsValid() {
				tc.src = srcSession
			}
			if tc.network == "" {
				tc.network = "udp"
			}
			var before float64
			if tc.reason != "" {
				before = testutil.ToFloat64(e.dns.m.refused.WithLabelValues(tc.reason))
			}
			asked := e.upstream.asked(strings.TrimSuffix(tc.qname, "."))
			resp := query(t, e, tc.src, tc.network, tc.qname, tc.qtype)
			if resp.Rcode != tc.rcode {
				t.Errorf("rcode %s; want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tc.rcode])
			}
			var got []netip.Addr
			for _, rr := range resp.Answer {
				a, ok := rr.(*dns.A)
				if !ok {
					t.Errorf("answer %v is not an A record", rr)
					continue
				}
				if a.Hdr.Ttl != answerTTL || a.Hdr.Name != tc.qname {
					t.Errorf("answer %v; want name %s and TTL %d", rr, tc.qname, answerTTL)
				}
				ip, _ := netip.AddrFromSlice(a.A)
				got = append(got, ip.Unmap())
			}
			if !slices.Equal(got, tc.answer) {
				t.Errorf("answer %v; want %v", got, tc.answer)
			}
			// The Go resolver may send a failing name on with search
			// domains, but never asks for a name more than the test says.
			if n := e.upstream.asked(strings.TrimSuffix(tc.qname, ".")) - asked; n != tc.upstream {
				t.Errorf("the upstream was asked %d times; want %d", n, tc.upstream)
			}
			if tc.reason != "" {
				if d := testutil.ToFloat64(e.dns.m.refused.WithLabelValues(tc.reason)) - before; d != 1 {
					t.Errorf("airlock_egress_refused_total{reason=%q} grew by %v; want 1", tc.reason, d)
				}
			}
		})
	}
	if got := testutil.ToFloat64(e.dns.m.dnsQueries.WithLabelValues("other", "REFUSED")); got != 4 {
		t.Errorf("airlock_egress_dns_queries_total{qtype=other,rcode=REFUSED} = %v; want 4", got)
	}
}

// TestMetricsShared: a proxy and a resolver on one Registerer count into
// the same collectors.
func TestMetricsShared(t *testing.T) {
	reg := prometheus.NewRegistry()
	o := Options{Sessions: fakeSessions{}, Registerer: reg}
	p, err := NewProxy(o)
	if err != nil {
		t.Fatalf("NewProxy: %v", err)
	}
	d, err := NewDNS(o)
	if err != nil {
		t.Fatalf("NewDNS on the proxy's Registerer: %v", err)
	}
	p.m.refused.WithLabelValues(ReasonUnknownSession).Inc()
	d.m.refused.WithLabelValues(ReasonUnknownSession).Inc()
	want := `
# HELP airlock_egress_refused_total Destinations the egress proxy or the session resolver refused, by reason.
# TYPE airlock_egress_refused_total counter
airlock_egress_refused_total{reason="unknown_session"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "airlock_egress_refused_total"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) != 0 {
		t.Errorf("metric lint: %v %v", problems, err)
	}
}

func TestDNSServeNeedsSomething(t *testing.T) {
	d, err := NewDNS(Options{Sessions: fakeSessions{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Serve(t.Context(), nil, nil); err == nil || !strings.Contains(err.Error(), "nothing to serve") {
		t.Errorf("Serve(nil, nil) = %v; want an error saying there is nothing to serve", err)
	}
}
