package dockerpolicy

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"

	"github.com/airlock-rbi/airlock/internal/netpolicy"
)

func sessionEngine(t *testing.T, proxyPort uint16) *Engine {
	t.Helper()
	cfg, err := ParseConfig([]byte("images: [airlock/test:latest, airlock/rootimg]\nruntimes: [runc, runsc]\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ProxyPort = proxyPort
	e, err := New(cfg, fakeLookup{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func approvedNetwork(t *testing.T, d *Decision) network.CreateRequest {
	t.Helper()
	var req network.CreateRequest
	if err := json.Unmarshal(d.Body, &req); err != nil {
		t.Fatalf("approved body does not decode: %v", err)
	}
	return req
}

// sessionNet checks an approved session network: the bridge prefix of its
// level, a subnet of the pool none of the daemon's networks has, its
// gateway, and the proxy label only where a proxy serves.
func sessionNet(prefix, proxy string) func(*testing.T, *Decision) {
	return func(t *testing.T, d *Decision) {
		t.Helper()
		req := approvedNetwork(t, d)
		if br := req.Options["com.docker.network.bridge.name"]; !strings.HasPrefix(br, prefix) || len(br) != 15 || !netpolicy.IsSessionBridge(br) {
			t.Errorf("bridge name %q, want %s + 12 hex", br, prefix)
		}
		if req.Options["com.docker.network.bridge.enable_icc"] != "false" {
			t.Errorf("icc not off: %v", req.Options)
		}
		if req.IPAM == nil || len(req.IPAM.Config) != 1 {
			t.Fatalf("IPAM %+v, want one subnet", req.IPAM)
		}
		sub := netip.MustParsePrefix(req.IPAM.Config[0].Subnet)
		if !netpolicy.DefaultPool.Contains(sub.Addr()) || sub.Bits() != 28 || sub == fakeSubnets[1] {
			t.Errorf("subnet %s: want a free /28 of %s", sub, netpolicy.DefaultPool)
		}
		if gw := req.IPAM.Config[0].Gateway; gw != netpolicy.Gateway(sub).String() {
			t.Errorf("gateway %s of %s", gw, sub)
		}
		if got := req.Labels[LabelProxy]; got != strings.ReplaceAll(proxy, "GW", netpolicy.Gateway(sub).String()) {
			t.Errorf("proxy label %q, want %q", got, proxy)
		}
		if req.Labels[LabelManaged] != "true" {
			t.Errorf("labels %v", req.Labels)
		}
	}
}

func TestSessionNetworkCreate(t *testing.T) {
	const P = "/v1.41/networks/create"
	run(t, sessionEngine(t, 0), []tcase{
		{name: "ok/standard-by-default", path: P, body: `{"Name":"s1"}`, check: sessionNet("als", "")},
		{name: "ok/hardened", path: P, body: `{"Name":"s1","Labels":{"airlock.isolation":"hardened","airlock.egress":"{}"}}`, check: sessionNet("alh", "")},
		{name: "ok/sandboxed-is-hardened-on-the-wire", path: P, body: `{"Name":"s1","Labels":{"airlock.isolation":"sandboxed"}}`, check: sessionNet("alh", "")},
		{name: "fail/bridge-name", path: P, body: `{"Name":"s1","Options":{"com.docker.network.bridge.name":"alsaaaaaaaaaaaa"}}`, want: 403, rule: "network"},
		{name: "fail/ipam-subnet", path: P, body: `{"Name":"s1","IPAM":{"Config":[{"Subnet":"10.213.0.0/28"}]}}`, want: 403, rule: "network"},
		{name: "fail/ipv6", path: P, body: `{"Name":"s1","EnableIPv6":true}`, want: 403, rule: "network"},
		{name: "fail/unknown-level", path: P, body: `{"Name":"s1","Labels":{"airlock.isolation":"paranoid"}}`, want: 403, rule: "network"},
		{name: "fail/egress-on-standard", path: P, body: `{"Name":"s1","Labels":{"airlock.egress":"{}"}}`, want: 403, rule: "network"},
		{name: "fail/proxy-label", path: P, body: `{"Name":"s1","Labels":{"airlock.isolation":"hardened","airlock.egress-proxy":"10.0.0.1:3128"}}`, want: 403, rule: "network"},
		{name: "fail/egress-too-large", path: P, body: `{"Name":"s1","Labels":{"airlock.isolation":"hardened","airlock.egress":"` + strings.Repeat("x", maxEgressLabel+1) + `"}}`, want: 403, rule: "network"},
	})
	run(t, sessionEngine(t, 3128), []tcase{
		{name: "ok/hardened-gets-proxy", path: P, body: `{"Name":"s1","Labels":{"airlock.isolation":"hardened"}}`, check: sessionNet("alh", "GW:3128")},
		{name: "ok/standard-gets-none", path: P, body: `{"Name":"s1"}`, check: sessionNet("als", "")},
	})
}

// Two creates before dockerd lists either network must not share a subnet.
func TestSessionSubnetsReserved(t *testing.T) {
	e := sessionEngine(t, 0)
	seen := map[string]bool{}
	for i := range 5 {
		d, err := e.Check(t.Context(), &Request{Method: "POST", ProtoMajor: 1, Path: "/v1.41/networks/create", Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"Name":"s1"}`)})
		if err != nil {
			t.Fatal(err)
		}
		sub := approvedNetwork(t, d).IPAM.Config[0].Subnet
		if seen[sub] {
			t.Fatalf("create %d got subnet %s again", i, sub)
		}
		seen[sub] = true
	}
	// A reservation dockerd never confirmed (the create failed) ends.
	pool, _ := netpolicy.NewPool(netip.MustParsePrefix("10.0.0.0/28"), 28)
	var r reservations
	now := time.Now()
	if _, err := r.pick(pool, nil, now); err != nil {
		t.Fatal(err)
	}
	if _, err := r.pick(pool, nil, now); err == nil {
		t.Fatal("a reserved subnet was handed out twice")
	}
	if _, err := r.pick(pool, nil, now.Add(2*reserveFor)); err != nil {
		t.Fatalf("an expired reservation still holds: %v", err)
	}

	// Three creates at once in a pool of two subnets: A picks; C lists
	// after A's network exists and picks; B listed before A's network
	// existed. B must get neither A's subnet nor C's (none is left).
	pool, _ = netpolicy.NewPool(netip.MustParsePrefix("10.0.0.0/27"), 28)
	r = reservations{}
	subA, err := r.pick(pool, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	subC, err := r.pick(pool, []netip.Prefix{subA}, now)
	if err != nil || subC == subA {
		t.Fatalf("C got %s, %v (A has %s)", subC, err, subA)
	}
	if subB, err := r.pick(pool, nil, now); err == nil {
		t.Fatalf("B, with a list from before A's network, got %s (A %s, C %s)", subB, subA, subC)
	}
}

func TestSessionContainer(t *testing.T) {
	const P = "/v1.41/containers/create"
	img := func(image, user, hc string) string {
		return `{"Image":"` + image + `","User":"` + user + `","HostConfig":` + hc + `}`
	}
	std := `{"NetworkMode":"sessnet"}`
	run(t, sessionEngine(t, 0), []tcase{
		{name: "ok/image-user", path: P, body: create(""), check: func(t *testing.T, d *Decision) {
			if u := approvedCreate(t, d).User; u != "1000:1000" {
				t.Errorf("user %q: the image's numeric user should be made explicit", u)
			}
		}},
		{name: "ok/request-user", path: P, body: img("airlock/rootimg", "65534:65534", std)},
		{name: "ok/uid-only", path: P, body: img("airlock/test:latest", "1000", std)},
		{name: "ok/no-network", path: P, body: create(`{"NetworkMode":"none"}`)},
		{name: "ok/sandboxed-under-runsc", path: P, body: create(`{"NetworkMode":"sandnet","Runtime":"runsc","Dns":["8.8.8.8"],"DnsSearch":["corp"]}`), check: func(t *testing.T, d *Decision) {
			// Its resolver is the node's, at the gateway, whatever was asked.
			if hc := approvedCreate(t, d).HostConfig; !slices.Equal(hc.DNS, []string{"10.213.0.17"}) || len(hc.DNSSearch) > 0 {
				t.Errorf("DNS %q search %q, want the gateway 10.213.0.17 and no search domains", hc.DNS, hc.DNSSearch)
			}
		}},
		{name: "fail/image-runs-as-root", path: P, body: img("airlock/rootimg", "", std), want: 403, rule: "user"},
		{name: "fail/root-uid", path: P, body: img("airlock/test:latest", "0", std), want: 403, rule: "user"},
		{name: "fail/root-name", path: P, body: img("airlock/test:latest", "root", std), want: 403, rule: "user"},
		{name: "fail/root-gid", path: P, body: img("airlock/test:latest", "1000:0", std), want: 403, rule: "user"},
		{name: "fail/user-name", path: P, body: img("airlock/test:latest", "chrome", std), want: 403, rule: "user"},
		{name: "fail/uid-overflow", path: P, body: img("airlock/test:latest", "4294967296", std), want: 403, rule: "user"},
		{name: "fail/default-bridge", path: P, body: create(`{"NetworkMode":"bridge"}`), want: 403, rule: "network"},
		{name: "fail/default-network", path: P, body: create(`{"NetworkMode":"default"}`), want: 403, rule: "network"},
		{name: "fail/no-network-mode", path: P, body: `{"Image":"airlock/test:latest"}`, want: 403, rule: "network"},
		{name: "fail/second-network", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"sessnet"},"NetworkingConfig":{"EndpointsConfig":{"busynet":{}}}}`, want: 403, rule: "network"},
		{name: "fail/none-with-endpoint", path: P, body: `{"Image":"airlock/test:latest","HostConfig":{"NetworkMode":"none"},"NetworkingConfig":{"EndpointsConfig":{"sessnet":{}}}}`, want: 403, rule: "network"},
		{name: "fail/network-taken", path: P, body: create(`{"NetworkMode":"busynet"}`), want: 403, rule: "network"},
		{name: "fail/sandboxed-under-runc", path: P, body: create(`{"NetworkMode":"sandnet"}`), want: 403, rule: "runtime"},
	})
}
