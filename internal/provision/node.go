// Package provision is a provision node: an HTTPS listener with mutual TLS
// that forwards a policed subset of the Docker Engine API to the local
// Docker socket. It replaces the seed design's NGINX in front of the socket.
//
// The decision of what may pass is internal/dockerpolicy's; this package
// owns the sockets and the plumbing around it: reading bodies within bounds,
// forwarding the rewritten request under one pinned API version, filtering
// list and event responses again, Docker-format errors, logs and metrics.
// It holds no state of its own beyond caches of facts that cannot change.
//
// Sensitive: every change here is a change to the host's security boundary.
package provision

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/docker/docker/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/dockerpolicy"
	"github.com/airlock-rbi/airlock/internal/pki"
)

// Options configure a Node. The zero value of every optional field works.
type Options struct {
	// Policy is the node's config (required).
	Policy *dockerpolicy.Config
	// DockerSocket is the path of the local Docker socket. Default
	// /var/run/docker.sock.
	DockerSocket string
	// Logger receives one line per refused or failed request. Default: discard.
	Logger *slog.Logger
	// Registerer receives the node's metrics. Default: none registered.
	Registerer prometheus.Registerer
	// OnRefused is given each refused request, besides the log, for the
	// node to report to the audit log; it must not block. Optional.
	OnRefused func(airlock.NodeEvent)
}

// Node is the policing proxy. Build it with New; serve it with Serve or use
// it as an http.Handler behind your own TLS listener.
type Node struct {
	engine  *dockerpolicy.Engine
	lookup  *socketLookup
	docker  *client.Client
	proxy   *httputil.ReverseProxy
	log     *slog.Logger
	metrics *metrics
	// onRefused: see Options.OnRefused.
	onRefused func(airlock.NodeEvent)
	// version is the API version every request is forwarded under.
	version string
}

type ctxKey struct{}

// New connects to the Docker socket, learns the daemon's API version (the
// one every request will be pinned to) and builds the node.
func New(ctx context.Context, opts Options) (*Node, error) {
	if opts.DockerSocket == "" {
		opts.DockerSocket = "/var/run/docker.sock"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", opts.DockerSocket)
		},
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	docker, err := client.NewClientWithOpts(
		client.WithHost("unix://"+opts.DockerSocket),
		client.WithHTTPClient(&http.Client{Transport: transport}),
		client.WithAPIVersionNegotiation(),
	)
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", opts.DockerSocket, err)
	}
	v, err := docker.ServerVersion(ctx)
	if err != nil {
		docker.Close()
		return nil, fmt.Errorf("ask dockerd at %s for its version: %w", opts.DockerSocket, err)
	}
	lookup := newSocketLookup(docker)
	engine, err := dockerpolicy.New(opts.Policy, lookup)
	if err != nil {
		docker.Close()
		return nil, fmt.Errorf("provision policy: %w", err)
	}
	n := &Node{
		engine:  engine,
		lookup:  lookup,
		docker:  docker,
		log:     opts.Logger,
		metrics: newMetrics(opts.Registerer),
		version: v.APIVersion,

		onRefused: opts.OnRefused,
	}
	n.proxy = &httputil.ReverseProxy{
		Rewrite:        n.rewrite,
		Transport:      timedTransport{next: transport, m: n.metrics},
		ModifyResponse: n.modifyResponse,
		ErrorHandler:   n.proxyError,
	}
	return n, nil
}

// APIVersion is the version requests are forwarded under.
func (n *Node) APIVersion() string { return n.version }

// Close releases the Docker client.
func (n *Node) Close() error { return n.docker.Close() }

// ServeHTTP judges one request and forwards it if the policy approves.
func (n *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, refusal := readBody(w, r)
	if refusal != nil {
		n.refused(w, r, refusal)
		return
	}
	d, err := n.engine.Check(r.Context(), &dockerpolicy.Request{
		Method:     r.Method,
		ProtoMajor: r.ProtoMajor,
		Path:       r.URL.Path,
		RawQuery:   r.URL.RawQuery,
		Header:     r.Header,
		Body:       body,
	})
	var ref *dockerpolicy.Refusal
	if errors.As(err, &ref) {
		n.refused(w, r, ref)
		return
	}
	if err != nil {
		n.metrics.errors.Inc()
		n.log.Error("policy lookup failed", "method", r.Method, "path", r.URL.Path, "client", clientName(r), "err", err)
		writeError(w, http.StatusBadGateway, "provision node could not reach the Docker daemon")
		return
	}
	n.metrics.allowed.WithLabelValues(d.Op).Inc()
	ctx := context.WithValue(r.Context(), ctxKey{}, d)
	n.proxy.ServeHTTP(w, r.WithContext(ctx))
	if d.Op == "container.remove" {
		n.lookup.forget(strings.TrimPrefix(d.Path, "/containers/"))
	}
}

// readBody reads the whole body within MaxBodyBytes, whatever its framing:
// a chunked body or one without Content-Length is judged like any other
// (the hole of CVE-2024-41110 was a body the policy never saw).
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *dockerpolicy.Refusal) {
	tooLarge := &dockerpolicy.Refusal{Status: http.StatusRequestEntityTooLarge, Rule: "body-size", Msg: "request body is larger than 1 MiB"}
	if r.ContentLength > dockerpolicy.MaxBodyBytes {
		return nil, tooLarge
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer rc.SetReadDeadline(time.Time{})
	body, err := io.ReadAll(io.LimitReader(r.Body, dockerpolicy.MaxBodyBytes+1))
	if err != nil {
		return nil, &dockerpolicy.Refusal{Status: http.StatusBadRequest, Rule: "body", Msg: "could not read the request body"}
	}
	if len(body) > dockerpolicy.MaxBodyBytes {
		return nil, tooLarge
	}
	return body, nil
}

func (n *Node) refused(w http.ResponseWriter, r *http.Request, ref *dockerpolicy.Refusal) {
	n.metrics.refused.WithLabelValues(ref.Rule).Inc()
	n.log.Warn("refused", "method", r.Method, "path", r.URL.Path, "client", clientName(r), "rule", ref.Rule, "status", ref.Status, "reason", ref.Msg)
	if n.onRefused != nil {
		n.onRefused(airlock.NodeEvent{Time: time.Now(), Action: airlock.NodeProvisionRefused, Target: r.Method + " " + r.URL.Path,
			Client: clientName(r), Detail: fmt.Sprintf("rule %s, status %d: %s", ref.Rule, ref.Status, ref.Msg)})
	}
	msg := ref.Msg
	if ref.Status != http.StatusNotFound {
		msg = ref.Error()
	}
	writeError(w, ref.Status, msg)
}

// rewrite builds the outbound request from the decision alone: path, query
// and body are the ones the policy approved, and no client header passes.
func (n *Node) rewrite(pr *httputil.ProxyRequest) {
	d := pr.In.Context().Value(ctxKey{}).(*dockerpolicy.Decision)
	pr.Out.URL = &url.URL{Scheme: "http", Host: "docker", Path: "/v" + n.version + d.Path, RawQuery: d.Query.Encode()}
	pr.Out.Host = "docker"
	pr.Out.Header = http.Header{"User-Agent": {"airlock-provision"}}
	if d.Body != nil {
		pr.Out.Header.Set("Content-Type", "application/json")
		pr.Out.Body = io.NopCloser(strings.NewReader(string(d.Body)))
		pr.Out.ContentLength = int64(len(d.Body))
		pr.Out.GetBody = nil
	} else {
		pr.Out.Body = http.NoBody
		pr.Out.ContentLength = 0
	}
	pr.Out.TransferEncoding = nil
}

func (n *Node) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	n.metrics.errors.Inc()
	n.log.Error("forward to dockerd failed", "method", r.Method, "path", r.URL.Path, "client", clientName(r), "err", err)
	writeError(w, http.StatusBadGateway, "provision node could not reach the Docker daemon")
}

// writeError answers in Docker's error format, so the docker CLI and SDK
// show the message as they show dockerd's own.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func clientName(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	c := r.TLS.PeerCertificates[0]
	role, _ := pki.RoleOf(c)
	return string(role) + ":" + c.Subject.CommonName
}

// TLSConfig is the node's listener config: TLS 1.3, a client certificate
// from this deployment's CA with the infra or admin role, HTTP/1.1 only.
func TLSConfig(tlsDir string) (*tls.Config, error) {
	return pki.ServerTLSConfig(tlsDir, pki.RoleInfra, pki.RoleAdmin)
}
