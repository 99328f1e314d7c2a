package dockerpolicy

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/netpolicy"
)

// Labels of session networks. The client names the level and, for
// hardened and sandboxed, the egress policy; the node adds the address of
// its egress proxy on the network.
const (
	LabelIsolation = "airlock.isolation"
	LabelEgress    = "airlock.egress"
	LabelProxy     = "airlock.egress-proxy"
)

// maxEgressLabel bounds the egress policy a network carries.
const maxEgressLabel = airlock.MaxWorkspaceEgressSize

// reservations are session subnets handed out recently: a subnet stays
// reserved for a minute after the decision, whether or not dockerd lists
// it by then. Dropping it as soon as one list showed it let a create
// whose list was taken before that network existed pick the same subnet
// (dockerd: "Pool overlaps with other one on this address space"), as
// 50 launches at once did.
type reservations struct {
	mu   sync.Mutex
	held map[netip.Prefix]time.Time
}

const reserveFor = time.Minute

func (r *reservations) pick(pool *netpolicy.Pool, used []netip.Prefix, now time.Time) (netip.Prefix, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held == nil {
		r.held = map[netip.Prefix]time.Time{}
	}
	for p, at := range r.held {
		if now.Sub(at) > reserveFor {
			delete(r.held, p)
			continue
		}
		used = append(used, p)
	}
	p, err := pool.Free(used)
	if err != nil {
		return netip.Prefix{}, err
	}
	r.held[p] = now
	return p, nil
}

// sessionNetwork makes every network created through the node a session
// network: a bridge of its own, with a subnet from the node's pool and a
// device name the host rules match, so what the network may reach is
// decided by the host and not by the request.
func (e *Engine) sessionNetwork(ctx context.Context, req *network.CreateRequest) error {
	if _, ok := req.Options["com.docker.network.bridge.name"]; ok {
		return refuse("network", "network option com.docker.network.bridge.name is not allowed: the node names session bridges")
	}
	if req.IPAM != nil && (len(req.IPAM.Config) > 0 || len(req.IPAM.Options) > 0) {
		return refuse("network", "IPAM configuration is not allowed: the node gives each session network a subnet of its pool %s", e.cfg.pool.Prefix())
	}
	if req.EnableIPv6 != nil && *req.EnableIPv6 {
		return refuse("network", "IPv6 is not allowed on session networks")
	}
	level, err := netpolicy.ParseLevel(req.Labels[LabelIsolation])
	if err != nil {
		return refuse("network", "label %s: %v", LabelIsolation, err)
	}
	if eg, ok := req.Labels[LabelEgress]; ok {
		if level == netpolicy.Standard {
			return refuse("network", "label %s is for hardened and sandboxed networks; a standard session has no egress policy", LabelEgress)
		}
		if len(eg) > maxEgressLabel {
			return refuse("network", "label %s is %d bytes; at most %d", LabelEgress, len(eg), maxEgressLabel)
		}
	}
	if _, ok := req.Labels[LabelProxy]; ok {
		return refuse("network", "label %s is the node's to set", LabelProxy)
	}
	used, err := e.lookup.Subnets(ctx)
	if err != nil {
		return fmt.Errorf("list the daemon's subnets: %w", err)
	}
	subnet, err := e.subnets.pick(e.cfg.pool, used, time.Now())
	if err != nil {
		return refuse("network", "no session subnet is free: %v; end sessions or give the node a larger session_pool", err)
	}
	bridge, err := netpolicy.BridgeName(level)
	if err != nil {
		return err
	}
	gw := netpolicy.Gateway(subnet)
	if req.Options == nil {
		req.Options = map[string]string{}
	}
	req.Options["com.docker.network.bridge.name"] = bridge
	// One container per network: nothing for inter-container traffic to
	// carry, so none is allowed.
	req.Options["com.docker.network.bridge.enable_icc"] = "false"
	req.IPAM = &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: subnet.String(), Gateway: gw.String()}}}
	req.Labels[LabelIsolation] = string(level)
	if level != netpolicy.Standard && e.cfg.ProxyPort != 0 {
		req.Labels[LabelProxy] = netip.AddrPortFrom(gw, e.cfg.ProxyPort).String()
	}
	return nil
}

// checkSessionNetwork (after checkNetworking) requires a container to join one session network of
// its own (or none): it is the only network it may name, no other
// container is on it, and a sandboxed network's container runs under the
// sandbox runtime.
func (e *Engine) checkSessionNetwork(ctx context.Context, req *container.CreateRequest) error {
	hc := req.HostConfig
	nm := string(hc.NetworkMode)
	if nm == "none" {
		if req.NetworkingConfig != nil && len(req.NetworkingConfig.EndpointsConfig) > 0 {
			return refuse("network", "a container with network mode none joins no network")
		}
		return nil
	}
	if builtinNetwork(nm) {
		return refuse("network", "network mode %q is not allowed: a session container joins a session network of its own, created through this node first (or none)", nm)
	}
	// checkNetworking has resolved every name to the ID of a network of
	// this node's.
	info, err := e.lookup.Network(ctx, nm)
	if err == ErrNotFound {
		return notFound("network", nm)
	}
	if err != nil {
		return fmt.Errorf("resolve network %q: %w", short(nm), err)
	}
	if req.NetworkingConfig != nil {
		for id := range req.NetworkingConfig.EndpointsConfig {
			if id != info.ID {
				return refuse("network", "a session container joins one network, %s; EndpointsConfig names %s too", short(nm), short(id))
			}
		}
	}
	if info.Containers > 0 {
		return refuse("network", "network %s already has a container: each session has a network of its own", short(nm))
	}
	level := netpolicy.Level(info.Labels[LabelIsolation])
	if level == netpolicy.Sandboxed && hc.Runtime != e.cfg.SandboxRuntime {
		return refuse("runtime", "a container on sandboxed network %s runs under runtime %q, not %q", short(nm), e.cfg.SandboxRuntime, hc.Runtime)
	}
	if level != netpolicy.Standard {
		// Docker's embedded resolver forwards to these servers from the
		// container's namespace, so the host rules send its queries to
		// the node's resolver; any other server would be refused
		// anyway, and the session would wait for it.
		if !info.Subnet.IsValid() {
			return refuse("network", "hardened network %s has no IPv4 subnet to find its gateway, the session's resolver, in", short(nm))
		}
		hc.DNS = []string{netpolicy.Gateway(info.Subnet).String()}
		hc.DNSSearch, hc.DNSOptions = nil, nil
	}
	return nil
}

// checkUser requires a numeric, non-root user and group: the one the
// request names, or else the image's. A user name is resolved from the
// image's /etc/passwd, which the node cannot read before the container
// starts, so "chrome" could be uid 0; a number cannot.
func (e *Engine) checkUser(ctx context.Context, cfg *container.Config, imageID string) error {
	user := cfg.User
	from := "the request's User"
	if user == "" {
		u, err := e.lookup.ImageUser(ctx, imageID)
		if err != nil {
			return fmt.Errorf("read the image's user: %w", err)
		}
		user, from = u, "the image's USER"
	}
	if user == "" {
		return refuse("user", "the container would run as root: set User to a numeric non-root uid:gid (the image sets no USER)")
	}
	uid, gid, hasGid := strings.Cut(user, ":")
	if !positiveNumber(uid) || hasGid && !positiveNumber(gid) {
		return refuse("user", "%s is %q: give a numeric non-root uid[:gid] such as 1000:1000 (names are resolved inside the image, and root is not allowed)", from, user)
	}
	cfg.User = user
	return nil
}

// positiveNumber: decimal digits, not zero, within uint32.
func positiveNumber(s string) bool {
	if s == "" || len(s) > 10 {
		return false
	}
	var n uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + uint64(c-'0')
	}
	return n > 0 && n < 1<<32-1
}
