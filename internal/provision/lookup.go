package provision

import (
	"context"
	"net/netip"
	"regexp"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/internal/dockerpolicy"
)

// socketLookup answers the policy's questions from the local daemon.
type socketLookup struct {
	docker *client.Client

	// mu guards owned: full container IDs already seen to carry the managed
	// label. Labels are immutable and IDs never reused, so a positive answer
	// for a full ID stays true; names are always asked again, since a name
	// can be taken by another container once its owner is removed.
	mu    sync.Mutex
	owned map[string]bool
}

var _ dockerpolicy.Lookup = (*socketLookup)(nil)

var fullID = regexp.MustCompile(`^[0-9a-f]{64}$`)

const maxOwnedCache = 65536

func newSocketLookup(docker *client.Client) *socketLookup {
	return &socketLookup{docker: docker, owned: map[string]bool{}}
}

func (l *socketLookup) ImageID(ctx context.Context, ref string) (string, error) {
	img, err := l.docker.ImageInspect(ctx, ref)
	if errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) {
		return "", dockerpolicy.ErrNotFound
	}
	if err != nil {
		return "", err
	}
	return img.ID, nil
}

func (l *socketLookup) ContainerID(ctx context.Context, ref string) (string, error) {
	if fullID.MatchString(ref) {
		l.mu.Lock()
		ok := l.owned[ref]
		l.mu.Unlock()
		if ok {
			return ref, nil
		}
	}
	c, err := l.docker.ContainerInspect(ctx, ref)
	if errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) {
		return "", dockerpolicy.ErrNotFound
	}
	if err != nil {
		return "", err
	}
	if c.Config == nil || c.Config.Labels[dockerpolicy.LabelManaged] != "true" {
		return "", dockerpolicy.ErrNotFound
	}
	l.remember(c.ID)
	return c.ID, nil
}

// remember records a full ID as a labelled container.
func (l *socketLookup) remember(id string) {
	if !fullID.MatchString(id) {
		return
	}
	l.mu.Lock()
	if len(l.owned) >= maxOwnedCache {
		clear(l.owned)
	}
	l.owned[id] = true
	l.mu.Unlock()
}

// forget drops a removed container from the cache.
func (l *socketLookup) forget(id string) {
	l.mu.Lock()
	delete(l.owned, id)
	l.mu.Unlock()
}

func (l *socketLookup) NetworkID(ctx context.Context, ref string) (string, error) {
	n, err := l.docker.NetworkInspect(ctx, ref, network.InspectOptions{})
	if errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) {
		return "", dockerpolicy.ErrNotFound
	}
	if err != nil {
		return "", err
	}
	if n.Labels[dockerpolicy.LabelManaged] != "true" {
		return "", dockerpolicy.ErrNotFound
	}
	return n.ID, nil
}

func (l *socketLookup) Network(ctx context.Context, ref string) (dockerpolicy.NetworkInfo, error) {
	n, err := l.docker.NetworkInspect(ctx, ref, network.InspectOptions{})
	if errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) {
		return dockerpolicy.NetworkInfo{}, dockerpolicy.ErrNotFound
	}
	if err != nil {
		return dockerpolicy.NetworkInfo{}, err
	}
	if n.Labels[dockerpolicy.LabelManaged] != "true" {
		return dockerpolicy.NetworkInfo{}, dockerpolicy.ErrNotFound
	}
	// Endpoints exist only for started containers; the list also counts
	// those created on the network and not started yet, which dockerd
	// files under the network's name.
	list, err := l.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("network", n.ID), filters.Arg("network", n.Name))})
	if err != nil {
		return dockerpolicy.NetworkInfo{}, err
	}
	info := dockerpolicy.NetworkInfo{ID: n.ID, Labels: n.Labels, Containers: max(len(list), len(n.Containers))}
	for _, c := range n.IPAM.Config {
		if p, err := netip.ParsePrefix(c.Subnet); err == nil && p.Addr().Is4() {
			info.Subnet = p.Masked()
			break
		}
	}
	return info, nil
}

func (l *socketLookup) Subnets(ctx context.Context) ([]netip.Prefix, error) {
	list, err := l.docker.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, n := range list {
		for _, c := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil {
				out = append(out, p.Masked())
			}
		}
	}
	return out, nil
}

func (l *socketLookup) ImageUser(ctx context.Context, id string) (string, error) {
	img, err := l.docker.ImageInspect(ctx, id)
	if err != nil {
		return "", err
	}
	if img.Config == nil {
		return "", nil
	}
	return img.Config.User, nil
}
