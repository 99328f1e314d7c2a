package provision

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/dockerpolicy"
	"github.com/airlock-rbi/airlock/internal/egress"
	"github.com/airlock-rbi/airlock/internal/netpolicy"
)

// EgressSessions tells the egress proxy and resolver which hardened
// session a source address is, from the session networks on the local
// daemon: each has one container, on a subnet of its own, and carries its
// session and egress policy as labels. A session's traffic to the host
// is not translated, so its source address is its container's.
//
// The networks are listed once and kept until the daemon reports a
// network created or destroyed (Watch), since a freed subnet can be given
// to the next session at once, with another policy. Until Watch runs, or
// when its event stream fails, every lookup lists them again.
type EgressSessions struct {
	docker *client.Client
	deny   []netip.Prefix
	log    *slog.Logger

	mu       sync.Mutex
	nets     []sessionNet
	listed   bool // nets reflects the daemon as of the last event
	listedAt time.Time
	watching bool
}

// relistAfter bounds how often an unknown source makes the list be read
// again: an event can be missed while the stream (re)connects, and a
// stranger must not make every connection cost a daemon request.
const relistAfter = 250 * time.Millisecond

type sessionNet struct {
	subnet  netip.Prefix
	session egress.Session
}

// NewEgressSessions looks sessions up on docker; deny is added to every
// policy's always-denied set (the session pool, this host's addresses).
func NewEgressSessions(docker *client.Client, deny []netip.Prefix, log *slog.Logger) *EgressSessions {
	return &EgressSessions{docker: docker, deny: deny, log: log}
}

// Lookup implements egress.Sessions.
func (s *EgressSessions) Lookup(ctx context.Context, src netip.Addr) (egress.Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.listed || !s.watching {
		if !s.relist(ctx) {
			return egress.Session{}, false
		}
	} else if _, ok := s.find(src); !ok && time.Since(s.listedAt) > relistAfter {
		s.relist(ctx)
	}
	return s.find(src)
}

func (s *EgressSessions) relist(ctx context.Context) bool {
	nets, err := s.list(ctx)
	if err != nil {
		s.log.Error("egress: list the session networks", "err", err)
		return false
	}
	s.nets, s.listed, s.listedAt = nets, true, time.Now()
	return true
}

func (s *EgressSessions) find(src netip.Addr) (egress.Session, bool) {
	for _, n := range s.nets {
		if n.subnet.Contains(src) && src != n.subnet.Addr() && src != netpolicy.Gateway(n.subnet) {
			return n.session, true
		}
	}
	return egress.Session{}, false
}

// list reads the hardened and sandboxed session networks of this daemon.
func (s *EgressSessions) list(ctx context.Context) ([]sessionNet, error) {
	list, err := s.docker.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", dockerpolicy.LabelManaged+"=true"))})
	if err != nil {
		return nil, err
	}
	var out []sessionNet
	for _, n := range list {
		if l := netpolicy.Level(n.Labels[dockerpolicy.LabelIsolation]); l != netpolicy.Hardened && l != netpolicy.Sandboxed {
			continue
		}
		var subnet netip.Prefix
		for _, c := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil && p.Addr().Is4() {
				subnet = p.Masked()
				break
			}
		}
		if !subnet.IsValid() {
			continue
		}
		id := n.Labels[airlock.LabelSession]
		if id == "" {
			id = "network " + n.Name
		}
		sess := egress.Session{ID: id}
		pol, err := s.policy(n.Labels[dockerpolicy.LabelEgress])
		if err != nil {
			// Attributed, so its refusals name it; a nil policy refuses all.
			s.log.Error("egress: session policy does not compile; everything it asks for is refused", "session", id, "network", n.Name, "err", err)
		} else {
			sess.Policy = pol
		}
		out = append(out, sessionNet{subnet: subnet, session: sess})
	}
	return out, nil
}

// policy compiles a network's egress label; none is the default policy
// (private and special-purpose ranges refused, everything else allowed).
func (s *EgressSessions) policy(label string) (*egress.Policy, error) {
	var p airlock.EgressPolicy
	if label != "" {
		var err error
		if p, err = airlock.ParseEgressPolicy([]byte(label)); err != nil {
			return nil, err
		}
	}
	return egress.Compile(p, s.deny)
}

// Watch keeps the lookups' list current from the daemon's network events
// until ctx ends. Each event, and each break of the stream, drops the
// list, so the next lookup reads it afresh.
func (s *EgressSessions) Watch(ctx context.Context) {
	for ctx.Err() == nil {
		msgs, errs := s.docker.Events(ctx, events.ListOptions{Filters: filters.NewArgs(filters.Arg("type", string(events.NetworkEventType)))})
		s.mu.Lock()
		s.watching, s.listed = true, false
		s.mu.Unlock()
		err := s.follow(ctx, msgs, errs)
		s.mu.Lock()
		s.watching = false
		s.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("egress: the daemon's network events stopped; looking sessions up on every connection until they resume", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (s *EgressSessions) follow(ctx context.Context, msgs <-chan events.Message, errs <-chan error) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return fmt.Errorf("network events: %w", err)
		case m := <-msgs:
			if m.Action == events.ActionCreate || m.Action == events.ActionDestroy {
				s.mu.Lock()
				s.listed = false
				s.mu.Unlock()
			}
		}
	}
}
