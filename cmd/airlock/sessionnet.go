package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sys/unix"

	"github.com/airlock-rbi/airlock/internal/dockerpolicy"
	"github.com/airlock-rbi/airlock/internal/egress"
	"github.com/airlock-rbi/airlock/internal/netpolicy"
	"github.com/airlock-rbi/airlock/internal/provision"
)

// Default ports of the egress proxy and resolver on every address of a
// node's host. Nodes sharing a host share them (SO_REUSEPORT): the host
// rules hand all hardened sessions' DNS to one port, and each node finds
// any session of the Docker engine it is in front of.
const (
	defaultEgressProxyPort = 3130
	defaultEgressDNSPort   = 5300
)

// sessionNet is what a node gives its sessions on this host: the host
// rules for every level and, for hardened ones, the egress proxy and the
// resolver.
type sessionNet struct {
	rules *netpolicy.Rules
	reg   *prometheus.Registry
	// hardened is nil when the rules are installed and the egress proxy
	// and resolver listen; otherwise it says why this node cannot deliver
	// hardened sessions.
	hardened error
	wg       sync.WaitGroup
}

// startSessionNet installs and keeps the host rules and starts the egress
// proxy and resolver, until ctx ends (wait then returns once all stopped).
// A node that cannot install the rules cannot run sessions at all; one
// whose proxy cannot listen runs standard sessions only.
func startSessionNet(ctx context.Context, f provisionFlags, policy *dockerpolicy.Config, log *slog.Logger) (*sessionNet, error) {
	rules, err := hostRules(f, policy)
	if err != nil {
		return nil, err
	}
	sn := &sessionNet{rules: rules, reg: prometheus.NewRegistry()}
	sn.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	elog := log.With("component", "egress")
	var proxyLn, dnsLn net.Listener
	var dnsPC net.PacketConn
	if f.egressProxyPort < 0 {
		sn.hardened = errors.New("the egress proxy is off (--egress-proxy-port -1)")
	} else {
		proxyLn, dnsPC, dnsLn, err = egressListeners(ctx, f.egressProxyPort, f.egressDNSPort)
		if err != nil {
			sn.hardened = err
			log.Error("hardened sessions are off: the egress proxy or resolver cannot listen", "err", err)
		} else {
			rules.ProxyPort = portOf(proxyLn.Addr())
			rules.DNSPort = portOf(dnsLn.Addr())
			policy.ProxyPort = rules.ProxyPort
		}
	}
	closeAll := func() {
		for _, c := range []interface{ Close() error }{proxyLn, dnsPC, dnsLn} {
			if c != nil {
				c.Close()
			}
		}
	}
	kept, err := rules.Keep(ctx, nil, 10*time.Second, log.With("component", "netpolicy"))
	if err != nil {
		closeAll()
		return nil, err
	}
	sn.wg.Go(func() { <-kept })
	log.Info("session network rules installed", "pool", rules.Pool, "host_tcp", fmt.Sprint(rules.HostTCP), "host_udp", fmt.Sprint(rules.HostUDP),
		"egress_proxy_port", rules.ProxyPort, "egress_dns_port", rules.DNSPort)
	if sn.hardened != nil {
		closeAll()
		return sn, nil
	}
	docker, err := client.NewClientWithOpts(client.WithHost("unix://"+f.socket), client.WithAPIVersionNegotiation())
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("docker client for the egress proxy: %w", err)
	}
	deny, err := hostDeny(policy.Pool().Prefix())
	if err != nil {
		closeAll()
		return nil, err
	}
	sessions := provision.NewEgressSessions(docker, deny, elog)
	opts := egress.Options{Sessions: sessions, Logger: elog, Registerer: sn.reg, Dial: dialNotLocal, OnRefused: f.report}
	if f.egressUpstream != "" {
		opts.Resolver = upstreamResolver(f.egressUpstream)
	}
	proxy, err := egress.NewProxy(opts)
	if err != nil {
		closeAll()
		return nil, err
	}
	dns, err := egress.NewDNS(opts)
	if err != nil {
		closeAll()
		return nil, err
	}
	sn.wg.Go(func() { sessions.Watch(ctx) })
	sn.wg.Go(func() {
		if err := proxy.Serve(ctx, proxyLn); err != nil && ctx.Err() == nil {
			log.Error("egress proxy stopped", "err", err)
		}
	})
	sn.wg.Go(func() {
		if err := dns.Serve(ctx, dnsPC, dnsLn); err != nil && ctx.Err() == nil {
			log.Error("egress resolver stopped", "err", err)
		}
	})
	sn.wg.Go(func() { <-ctx.Done(); docker.Close() })
	log.Info("egress proxy and resolver listening", "proxy", proxyLn.Addr().String(), "dns", dnsLn.Addr().String())
	return sn, nil
}

// wait returns once everything startSessionNet started has stopped.
func (sn *sessionNet) wait() { sn.wg.Wait() }

// egressListeners opens the proxy's TCP listener and the resolver's UDP
// and TCP ones (on one port) on every address; port 0 picks one.
func egressListeners(ctx context.Context, proxyPort, dnsPort int) (proxy net.Listener, pc net.PacketConn, dns net.Listener, err error) {
	lc := net.ListenConfig{Control: reusePort}
	if proxy, err = lc.Listen(ctx, "tcp4", ":"+strconv.Itoa(proxyPort)); err != nil {
		return nil, nil, nil, fmt.Errorf("egress proxy listener: %w", err)
	}
	if pc, err = lc.ListenPacket(ctx, "udp4", ":"+strconv.Itoa(dnsPort)); err != nil {
		proxy.Close()
		return nil, nil, nil, fmt.Errorf("egress resolver (udp): %w", err)
	}
	if dns, err = lc.Listen(ctx, "tcp4", ":"+strconv.Itoa(int(portOf(pc.LocalAddr())))); err != nil {
		proxy.Close()
		pc.Close()
		return nil, nil, nil, fmt.Errorf("egress resolver (tcp): %w", err)
	}
	return proxy, pc, dns, nil
}

func reusePort(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	return errors.Join(err, serr)
}

func portOf(a net.Addr) uint16 {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return 0
	}
	return ap.Port()
}

// hostDeny is what the egress proxy, which runs on the host, must never
// connect a session to beyond the policy's always-denied set: other
// sessions, and every address of this host (its services are closed to
// sessions by the host rules; the proxy must not open them).
func hostDeny(pool netip.Prefix) ([]netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("this host's addresses, which sessions must not reach through the egress proxy: %w", err)
	}
	deny := []netip.Prefix{pool}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			deny = append(deny, netip.PrefixFrom(p.Addr().Unmap(), p.Addr().Unmap().BitLen()))
		}
	}
	return deny, nil
}

// dialNotLocal connects the egress proxy to an address the policy
// checked, unless it has become an address of this host since the node
// started (a new bridge, say): hostDeny only knew the addresses then.
func dialNotLocal(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("check %s is not this host's: %w", addr, err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Unmap() == addr.Addr().Unmap() {
			return nil, fmt.Errorf("%s is an address of this host, which sessions do not reach", addr)
		}
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	return d.DialContext(ctx, network, addr.String())
}

// upstreamResolver asks the DNS server at addr (host:port) for every name.
func upstreamResolver(addr string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}
