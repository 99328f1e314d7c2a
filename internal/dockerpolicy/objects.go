package dockerpolicy

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
)

// refRE is what a container or network reference may look like: a name or
// a (partial) hex ID. Anything else cannot name an object and is refused
// before a lookup.
var refRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$`)

func (e *Engine) container(ctx context.Context, ref string) (string, error) {
	return e.resolve(ctx, "container", strings.TrimPrefix(ref, "/"), e.lookup.ContainerID)
}

func (e *Engine) network(ctx context.Context, ref string) (string, error) {
	return e.resolve(ctx, "network", ref, e.lookup.NetworkID)
}

func (e *Engine) resolve(ctx context.Context, kind, ref string, look func(context.Context, string) (string, error)) (string, error) {
	if !refRE.MatchString(ref) {
		return "", notFound(kind, ref)
	}
	id, err := look(ctx, ref)
	if err == ErrNotFound {
		return "", notFound(kind, ref)
	}
	if err != nil {
		return "", fmt.Errorf("resolve %s %q: %w", kind, ref, err)
	}
	return id, nil
}

// Filter keys each listing accepts; the node rebuilds the filter from these
// and its own label, never forwarding the client's filter text.
var (
	containerFilterKeys = map[string]bool{"ancestor": true, "before": true, "expose": true, "exited": true, "health": true,
		"id": true, "isolation": true, "is-task": true, "label": true, "name": true, "network": true, "publish": true,
		"since": true, "status": true, "volume": true}
	eventFilterKeys   = map[string]bool{"container": true, "event": true, "label": true, "type": true, "image": true, "network": true}
	networkFilterKeys = map[string]bool{"dangling": true, "driver": true, "id": true, "label": true, "name": true, "scope": true, "type": true}
	imageFilterKeys   = map[string]bool{"before": true, "dangling": true, "label": true, "reference": true, "since": true, "until": true}
)

// rebuildFilters parses the client's filters, checks their keys and returns
// a new filter that also demands the managed label.
func rebuildFilters(d *Decision, allowed map[string]bool, force map[string][]string) error {
	raw := d.Query.Get("filters")
	in, err := filters.FromJSON(raw)
	if err != nil {
		return badRequest("filters", "malformed filters: %v", err)
	}
	out := filters.NewArgs()
	for _, k := range in.Keys() {
		if !allowed[k] {
			return badRequest("filters", "filter %q is not supported here", k)
		}
		if _, forced := force[k]; forced && k != "label" {
			continue
		}
		for _, v := range in.Get(k) {
			out.Add(k, v)
		}
	}
	for k, vs := range force {
		for _, v := range vs {
			out.Add(k, v)
		}
	}
	enc, err := filters.ToJSON(out)
	if err != nil {
		return fmt.Errorf("encode filters: %w", err)
	}
	d.Query.Set("filters", enc)
	return nil
}

var managedFilter = map[string][]string{"label": {LabelManaged + "=true"}}

func handleContainerList(_ context.Context, _ *Engine, d *Decision, _ map[string]string, _ []byte) error {
	d.Path = "/containers/json"
	return rebuildFilters(d, containerFilterKeys, managedFilter)
}

func handleEvents(_ context.Context, _ *Engine, d *Decision, _ map[string]string, _ []byte) error {
	d.Path = "/events"
	return rebuildFilters(d, eventFilterKeys, map[string][]string{"type": {"container"}, "label": {LabelManaged + "=true"}})
}

func handleNetworkList(_ context.Context, _ *Engine, d *Decision, _ map[string]string, _ []byte) error {
	d.Path = "/networks"
	return rebuildFilters(d, networkFilterKeys, managedFilter)
}

func handleImageList(ctx context.Context, e *Engine, d *Decision, _ map[string]string, _ []byte) error {
	d.Path = "/images/json"
	if err := rebuildFilters(d, imageFilterKeys, nil); err != nil {
		return err
	}
	ids, err := e.allowedImageIDs(ctx)
	if err != nil {
		return err
	}
	d.AllowedImages = map[string]bool{}
	for id := range ids {
		d.AllowedImages[id] = true
	}
	return nil
}

func handleImageInspect(ctx context.Context, e *Engine, d *Decision, params map[string]string, _ []byte) error {
	ref := params["name"]
	id, err := e.lookup.ImageID(ctx, ref)
	if err != nil && err != ErrNotFound {
		return fmt.Errorf("resolve image %q: %w", ref, err)
	}
	allowed, aerr := e.allowedImageIDs(ctx)
	if aerr != nil {
		return aerr
	}
	if _, ok := allowed[id]; err == ErrNotFound || !ok {
		return &Refusal{Status: 404, Rule: "image", Msg: "No such image: " + short(ref)}
	}
	d.Path = "/images/" + id + "/json"
	return nil
}

// networkOptions are the bridge driver options a session network may set.
// Naming the bridge device would let a network reuse a host bridge.
var networkOptions = map[string]bool{
	"com.docker.network.bridge.enable_icc":           true,
	"com.docker.network.bridge.enable_ip_masquerade": true,
	"com.docker.network.driver.mtu":                  true,
}

func handleNetworkCreate(ctx context.Context, e *Engine, d *Decision, _ map[string]string, body []byte) error {
	var req network.CreateRequest
	if err := decodeStrict(body, &req, nil); err != nil {
		return err
	}
	if !refRE.MatchString(req.Name) {
		return badRequest("network", "network name %q is not valid", short(req.Name))
	}
	switch {
	case req.Driver != "" && req.Driver != "bridge":
		return refuse("network", "network driver %q is not allowed; only bridge", req.Driver)
	case req.Scope != "" && req.Scope != "local":
		return refuse("network", "network scope %q is not allowed", req.Scope)
	case req.Ingress:
		return refuse("network", "ingress networks are not allowed")
	case req.ConfigOnly || req.ConfigFrom != nil:
		return refuse("network", "config-only networks are not allowed")
	}
	for k := range req.Options {
		if !networkOptions[k] {
			return refuse("network", "network option %q is not allowed", k)
		}
	}
	if req.IPAM != nil {
		if req.IPAM.Driver != "" && req.IPAM.Driver != "default" {
			return refuse("network", "IPAM driver %q is not allowed", req.IPAM.Driver)
		}
		if len(req.IPAM.Options) > 0 {
			return refuse("network", "IPAM options are not allowed")
		}
	}
	req.Driver = "bridge"
	if req.Labels == nil {
		req.Labels = map[string]string{}
	}
	req.Labels[LabelManaged] = "true"
	if err := e.sessionNetwork(ctx, &req); err != nil {
		return err
	}
	// Refuse a name clash rather than create a second network of that name:
	// names resolve to IDs in later requests.
	t := true
	//lint:ignore SA1019 daemons before API 1.44 create duplicates unless told not to.
	req.CheckDuplicate = &t
	return setBody(d, "/networks/create", &req)
}

func handleNetworkConnect(ctx context.Context, e *Engine, d *Decision, params map[string]string, body []byte) error {
	nid, err := e.network(ctx, params["id"])
	if err != nil {
		return err
	}
	var req network.ConnectOptions
	if err := decodeStrict(body, &req, nil); err != nil {
		return err
	}
	if req.Container, err = e.container(ctx, req.Container); err != nil {
		return err
	}
	if err := checkEndpoint(req.EndpointConfig); err != nil {
		return err
	}
	return setBody(d, "/networks/"+nid+"/connect", &req)
}

func handleNetworkDisconnect(ctx context.Context, e *Engine, d *Decision, params map[string]string, body []byte) error {
	nid, err := e.network(ctx, params["id"])
	if err != nil {
		return err
	}
	var req network.DisconnectOptions
	if err := decodeStrict(body, &req, nil); err != nil {
		return err
	}
	if req.Container, err = e.container(ctx, req.Container); err != nil {
		return err
	}
	return setBody(d, "/networks/"+nid+"/disconnect", &req)
}

func setBody(d *Decision, path string, v any) error {
	out, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode approved request: %w", err)
	}
	d.Path = path
	d.Body = out
	return nil
}
