package dockerpolicy

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
)

// route is one allowed operation. Everything not in routes is refused.
type route struct {
	method  string
	pattern string
	op      string
	// query lists the allowed query parameters and how to check each value.
	query map[string]paramKind
	// body says the operation takes a JSON body.
	body   bool
	filter Filter
	stream bool
	handle handler
}

type paramKind int

const (
	pBool paramKind = iota
	pInt
	pSignal
	pTime
	pFilters
	pName
	pPlatform
	pCondition
	pTail
	pDetachKeys
)

var (
	nameRE      = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	signalRE    = regexp.MustCompile(`^(SIG)?[A-Z0-9+-]{1,16}$|^[0-9]{1,3}$`)
	timeRE      = regexp.MustCompile(`^[0-9A-Za-z.:+-]{1,64}$`)
	platformRE  = regexp.MustCompile(`^[a-z0-9_]+(/[a-zA-Z0-9_.-]+){0,2}$`)
	detachRE    = regexp.MustCompile(`^[a-zA-Z0-9@\[\]\\^_,-]{1,32}$`)
	bools       = map[string]bool{"": true, "0": true, "1": true, "true": true, "false": true, "True": true, "False": true, "TRUE": true, "FALSE": true, "t": true, "f": true, "T": true, "F": true}
	waitConds   = map[string]bool{"not-running": true, "next-exit": true, "removed": true}
	containerLs = map[string]paramKind{"all": pBool, "limit": pInt, "size": pBool, "filters": pFilters, "before": pName, "since": pName}
	logsQ       = map[string]paramKind{"follow": pBool, "stdout": pBool, "stderr": pBool, "since": pTime, "until": pTime, "timestamps": pBool, "tail": pTail, "details": pBool}
)

func checkParam(op, key string, kind paramKind, v string) error {
	ok := true
	switch kind {
	case pBool:
		ok = bools[v]
	case pInt:
		_, err := strconv.ParseInt(v, 10, 64)
		ok = err == nil
	case pSignal:
		ok = v == "" || signalRE.MatchString(v)
	case pTime:
		ok = v == "" || timeRE.MatchString(v)
	case pFilters:
		ok = len(v) <= 64<<10
	case pName:
		ok = v == "" || nameRE.MatchString(v) && len(v) <= 256
	case pPlatform:
		ok = v == "" || platformRE.MatchString(v)
	case pCondition:
		ok = v == "" || waitConds[v]
	case pTail:
		if v != "" && v != "all" {
			_, err := strconv.ParseUint(v, 10, 32)
			ok = err == nil
		}
	case pDetachKeys:
		ok = v == "" || detachRE.MatchString(v)
	}
	if !ok {
		return badRequest("query", "invalid value %q for query parameter %q of %s", v, key, op)
	}
	return nil
}

// rebuildQuery keeps only the parameters the route allows and refuses the
// rest, so that no parameter the policy did not read reaches dockerd.
func (rt *route) rebuildQuery(raw string) (url.Values, error) {
	in, err := url.ParseQuery(raw)
	if err != nil {
		return nil, badRequest("query", "malformed query string: %v", err)
	}
	out := url.Values{}
	for k, vs := range in {
		kind, ok := rt.query[k]
		if !ok {
			return nil, refuse("query", "query parameter %q is not allowed on %s", k, rt.op)
		}
		if len(vs) != 1 {
			return nil, badRequest("query", "query parameter %q is given %d times", k, len(vs))
		}
		if err := checkParam(rt.op, k, kind, vs[0]); err != nil {
			return nil, err
		}
		out.Set(k, vs[0])
	}
	return out, nil
}

// routes is the allow-list. Order does not matter: patterns do not overlap
// for the same method.
var routes = []route{
	{method: http.MethodGet, pattern: "/_ping", op: "ping", handle: fixedPath("/_ping")},
	{method: http.MethodGet, pattern: "/version", op: "version", handle: fixedPath("/version")},
	{method: http.MethodGet, pattern: "/info", op: "info", handle: fixedPath("/info")},

	{method: http.MethodPost, pattern: "/containers/create", op: "container.create", body: true,
		query: map[string]paramKind{"name": pName, "platform": pPlatform}, handle: handleContainerCreate},
	{method: http.MethodGet, pattern: "/containers/json", op: "container.list", query: containerLs,
		filter: FilterContainers, handle: handleContainerList},
	{method: http.MethodGet, pattern: "/containers/{id}/json", op: "container.inspect",
		query: map[string]paramKind{"size": pBool}, handle: containerPath("/json")},
	{method: http.MethodPost, pattern: "/containers/{id}/start", op: "container.start",
		query: map[string]paramKind{"detachKeys": pDetachKeys}, handle: containerPath("/start")},
	{method: http.MethodPost, pattern: "/containers/{id}/stop", op: "container.stop",
		query: map[string]paramKind{"t": pInt, "signal": pSignal}, handle: containerPath("/stop")},
	{method: http.MethodPost, pattern: "/containers/{id}/restart", op: "container.restart",
		query: map[string]paramKind{"t": pInt, "signal": pSignal}, handle: containerPath("/restart")},
	{method: http.MethodPost, pattern: "/containers/{id}/kill", op: "container.kill",
		query: map[string]paramKind{"signal": pSignal}, handle: containerPath("/kill")},
	{method: http.MethodPost, pattern: "/containers/{id}/wait", op: "container.wait", stream: true,
		query: map[string]paramKind{"condition": pCondition}, handle: containerPath("/wait")},
	{method: http.MethodDelete, pattern: "/containers/{id}", op: "container.remove",
		query: map[string]paramKind{"v": pBool, "force": pBool}, handle: containerPath("")},
	{method: http.MethodGet, pattern: "/containers/{id}/logs", op: "container.logs", stream: true,
		query: logsQ, handle: containerPath("/logs")},
	{method: http.MethodGet, pattern: "/events", op: "events", stream: true, filter: FilterEvents,
		query: map[string]paramKind{"since": pTime, "until": pTime, "filters": pFilters}, handle: handleEvents},

	{method: http.MethodGet, pattern: "/networks", op: "network.list", filter: FilterNetworks,
		query: map[string]paramKind{"filters": pFilters}, handle: handleNetworkList},
	{method: http.MethodGet, pattern: "/networks/{id}", op: "network.inspect",
		query: map[string]paramKind{"verbose": pBool, "scope": pName}, handle: networkPath("")},
	{method: http.MethodPost, pattern: "/networks/create", op: "network.create", body: true, handle: handleNetworkCreate},
	{method: http.MethodDelete, pattern: "/networks/{id}", op: "network.remove", handle: networkPath("")},
	{method: http.MethodPost, pattern: "/networks/{id}/connect", op: "network.connect", body: true, handle: handleNetworkConnect},
	{method: http.MethodPost, pattern: "/networks/{id}/disconnect", op: "network.disconnect", body: true, handle: handleNetworkDisconnect},

	{method: http.MethodGet, pattern: "/images/json", op: "image.list", filter: FilterImages,
		query:  map[string]paramKind{"all": pBool, "filters": pFilters, "digests": pBool, "shared-size": pBool, "manifests": pBool},
		handle: handleImageList},
	{method: http.MethodGet, pattern: "/images/{name*}/json", op: "image.inspect",
		query: map[string]paramKind{"manifests": pBool}, handle: handleImageInspect},
}

// handler completes a Decision for a matched route.
type handler func(ctx context.Context, e *Engine, d *Decision, params map[string]string, body []byte) error

func fixedPath(p string) handler {
	return func(_ context.Context, _ *Engine, d *Decision, _ map[string]string, _ []byte) error {
		d.Path = p
		return nil
	}
}

// containerPath resolves the {id} of a container route to the full ID of a
// labelled container; anything else is answered as if it did not exist.
func containerPath(suffix string) handler {
	return objectPath("/containers/", suffix, (*Engine).container)
}

func networkPath(suffix string) handler {
	return objectPath("/networks/", suffix, (*Engine).network)
}

func objectPath(prefix, suffix string, resolve func(*Engine, context.Context, string) (string, error)) handler {
	return func(ctx context.Context, e *Engine, d *Decision, params map[string]string, _ []byte) error {
		id, err := resolve(e, ctx, params["id"])
		if err != nil {
			return err
		}
		d.Path = prefix + id + suffix
		return nil
	}
}
