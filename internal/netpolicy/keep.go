package netpolicy

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Keep installs the rules and puts them back whenever they are found
// missing (a firewall reload flushes every table, "nft flush ruleset"),
// checking every interval until ctx ends. The first install's error is
// returned at once: a node that cannot isolate sessions must not run them.
func (r *Rules) Keep(ctx context.Context, run Runner, interval time.Duration, log *slog.Logger) (<-chan struct{}, error) {
	if run == nil {
		run = ExecNft
	}
	if err := r.Apply(ctx, run); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := run(ctx, "", "list", "table", "inet", Table); err == nil || ctx.Err() != nil {
				continue
			}
			log.Warn("the session network rules were gone from the host: putting them back", "table", "inet "+Table)
			if err := r.Apply(ctx, run); err != nil {
				log.Error("put the session network rules back", "err", err)
			}
		}
	}()
	return done, nil
}

// ParsePorts reads "tcp:8443,udp:3478,udp:49152-65535" into TCP and UDP
// port ranges.
func ParsePorts(s string) (tcp, udp []PortRange, err error) {
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		proto, ports, ok := strings.Cut(item, ":")
		pr, perr := parseRange(ports)
		if !ok || perr != nil {
			return nil, nil, fmt.Errorf("%q is not PROTO:PORT or PROTO:FIRST-LAST (e.g. tcp:8443, udp:49152-65535)", item)
		}
		switch proto {
		case "tcp":
			tcp = append(tcp, pr)
		case "udp":
			udp = append(udp, pr)
		default:
			return nil, nil, fmt.Errorf("%q: protocol %q is not tcp or udp", item, proto)
		}
	}
	return tcp, udp, nil
}

// ParseEndpoints reads "tcp:203.0.113.5:8443,udp:203.0.113.5:3478" (an
// address or prefix, then a port or range) into endpoints.
func ParseEndpoints(s string) ([]Endpoint, error) {
	var out []Endpoint
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		proto, rest, ok1 := strings.Cut(item, ":")
		addr, ports, ok2 := cutLast(rest, ":")
		pr, perr := parseRange(ports)
		if !ok1 || !ok2 || perr != nil || proto != "tcp" && proto != "udp" {
			return nil, fmt.Errorf("%q is not PROTO:ADDRESS:PORT (e.g. udp:203.0.113.5:3478)", item)
		}
		p, err := netip.ParsePrefix(addr)
		if err != nil {
			a, aerr := netip.ParseAddr(addr)
			if aerr != nil || !a.Is4() {
				return nil, fmt.Errorf("%q: %q is not an IPv4 address or prefix", item, addr)
			}
			p = netip.PrefixFrom(a, 32)
		}
		out = append(out, Endpoint{Proto: proto, Prefix: p, Ports: pr})
	}
	return out, nil
}

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func parseRange(s string) (PortRange, error) {
	first, last, isRange := strings.Cut(s, "-")
	a, err := strconv.ParseUint(first, 10, 16)
	if err != nil || a == 0 {
		return PortRange{}, fmt.Errorf("port %q", first)
	}
	b := a
	if isRange {
		if b, err = strconv.ParseUint(last, 10, 16); err != nil || b < a {
			return PortRange{}, fmt.Errorf("port range %q", s)
		}
	}
	return PortRange{uint16(a), uint16(b)}, nil
}
