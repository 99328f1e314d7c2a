// Package dockerpolicy decides which Docker Engine API requests a provision
// node forwards to its local Docker socket, and rewrites each approved request
// into the exact form that is forwarded.
//
// It is the security boundary of every Docker host that Airlock drives: a
// stolen infra credential must not turn into root on the host. The decision
// is deny by default. A request is matched against an allow-list of
// operations after its path has been normalized, its body is parsed strictly
// into the Docker SDK's types, judged, given a floor of safe settings and
// re-serialized, so what dockerd receives is the object the policy approved
// and never the client's bytes. Container and network references are
// resolved to the full IDs of objects that carry Airlock's label.
//
// The package does no I/O of its own: what it needs to know about the
// daemon (image IDs, which containers and networks are Airlock's) comes
// through the Lookup interface, which the provision node implements against
// the socket and tests implement in memory.
package dockerpolicy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
)

// LabelManaged marks the containers and networks that a provision node
// created. Everything without it is invisible through the node.
const LabelManaged = "airlock.managed"

// MaxBodyBytes bounds every request body. Container create bodies are a few
// KiB; a seccomp profile inlined in SecurityOpt is the largest thing we carry.
const MaxBodyBytes = 1 << 20

// ErrNotFound is returned by a Lookup when the object does not exist or is
// not Airlock's; the policy treats both the same so that a client cannot
// tell them apart.
var ErrNotFound = errors.New("not found")

// Lookup is what the policy needs to know about the daemon.
type Lookup interface {
	// ImageID resolves an image reference (name, tag, digest or ID) to the
	// image's full ID, or ErrNotFound.
	ImageID(ctx context.Context, ref string) (string, error)
	// ContainerID resolves a container name or (partial) ID to the full ID of
	// a container that carries LabelManaged, or ErrNotFound.
	ContainerID(ctx context.Context, ref string) (string, error)
	// NetworkID resolves a network name or (partial) ID to the full ID of a
	// network that carries LabelManaged, or ErrNotFound.
	NetworkID(ctx context.Context, ref string) (string, error)
	// Network describes a network that carries LabelManaged, or returns
	// ErrNotFound.
	Network(ctx context.Context, ref string) (NetworkInfo, error)
	// Subnets lists the IPv4 subnets of every network of the daemon, the
	// node's or not, so a new session subnet overlaps none.
	Subnets(ctx context.Context) ([]netip.Prefix, error)
	// ImageUser is the user an image runs as when a container names none
	// (its USER; empty means root).
	ImageUser(ctx context.Context, imageID string) (string, error)
}

// NetworkInfo is what the policy needs to know of one network.
type NetworkInfo struct {
	ID     string
	Labels map[string]string
	// Containers is how many containers are attached.
	Containers int
	// Subnet is the network's (first) IPv4 subnet, if it has one.
	Subnet netip.Prefix
}

// Request is what the policy judges: an HTTP request whose body the caller
// has already read (at most MaxBodyBytes).
type Request struct {
	Method string
	// ProtoMajor is the HTTP major version (1 for HTTP/1.x).
	ProtoMajor int
	// Path is the decoded URL path as received (url.URL.Path).
	Path string
	// RawQuery is the query string as received.
	RawQuery string
	Header   http.Header
	Body     []byte
}

// Filter names how the node must filter a response before returning it.
type Filter int

const (
	FilterNone Filter = iota
	// FilterContainers keeps only labelled containers of a JSON array.
	FilterContainers
	// FilterNetworks keeps only labelled networks of a JSON array.
	FilterNetworks
	// FilterImages keeps only the allowed images of a JSON array.
	FilterImages
	// FilterEvents keeps only the events of labelled objects of a JSON stream.
	FilterEvents
)

// Decision is an approved request, rewritten into the form to forward.
type Decision struct {
	// Op names the operation, e.g. "container.create"; metrics and logs use it.
	Op string
	// Path is the path to forward, without the API version prefix, with every
	// container or network reference replaced by its full ID.
	Path string
	// Query is the rebuilt query: only the parameters the operation allows.
	Query url.Values
	// Body is the re-serialized approved body, or nil.
	Body []byte
	// Filter says how to filter the response.
	Filter Filter
	// Stream says the response is a stream to flush as it arrives.
	Stream bool
	// AllowedImages holds the IDs of the allowed images when Filter is
	// FilterImages.
	AllowedImages map[string]bool
}

// Refusal is a request the policy will not forward. Msg is safe to show to
// the client; Rule names the rule that refused, for logs and metrics.
type Refusal struct {
	Status int
	Rule   string
	Msg    string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("refused by airlock policy (%s): %s", r.Rule, r.Msg)
}

func refuse(rule, format string, args ...any) *Refusal {
	return &Refusal{Status: http.StatusForbidden, Rule: rule, Msg: fmt.Sprintf(format, args...)}
}

func badRequest(rule, format string, args ...any) *Refusal {
	return &Refusal{Status: http.StatusBadRequest, Rule: rule, Msg: fmt.Sprintf(format, args...)}
}

func notFound(kind, ref string) *Refusal {
	return &Refusal{Status: http.StatusNotFound, Rule: "ownership", Msg: fmt.Sprintf("No such %s: %s", kind, ref)}
}

// Engine judges requests under one node's Config.
type Engine struct {
	cfg    *Config
	lookup Lookup
	// subnets holds the session subnets handed out and not yet seen in
	// the daemon's list, so two creates at once never pick the same one.
	subnets reservations
}

// New returns an Engine for cfg (see Config.Validate) using lookup.
func New(cfg *Config, lookup Lookup) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if lookup == nil {
		return nil, errors.New("dockerpolicy: nil Lookup")
	}
	return &Engine{cfg: cfg, lookup: lookup}, nil
}

// Config returns the engine's validated config.
func (e *Engine) Config() *Config { return e.cfg }

// Check judges req. It returns either an approved Decision or an error; a
// *Refusal when the policy refused, any other error when a lookup failed.
func (e *Engine) Check(ctx context.Context, req *Request) (*Decision, error) {
	if err := checkFraming(req); err != nil {
		return nil, err
	}
	p, err := NormalizePath(req.Path)
	if err != nil {
		return nil, err
	}
	rt, params, err := matchRoute(req.Method, p)
	if err != nil {
		return nil, err
	}
	q, err := rt.rebuildQuery(req.RawQuery)
	if err != nil {
		return nil, err
	}
	if rt.body {
		if err := checkMediaType(req.Header.Get("Content-Type")); err != nil {
			return nil, err
		}
	} else if len(req.Body) > 0 {
		return nil, badRequest("body", "%s takes no request body", rt.op)
	}
	d := &Decision{Op: rt.op, Query: q, Filter: rt.filter, Stream: rt.stream}
	if err := rt.handle(ctx, e, d, params, req.Body); err != nil {
		return nil, err
	}
	return d, nil
}
