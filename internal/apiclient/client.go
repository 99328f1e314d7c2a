// Package apiclient is the one client of Airlock's api under /api/v1: the
// CLI, the session agent, a provision node's enrollment and reports, and
// the benchmarks call the api through it, so that every caller encodes
// requests and reads the api's answers, and its refusals
// ({"code","message"}), the same way.
//
// Each route has a typed method (auth.go, sessions.go, nodes.go, …) whose
// request and answer types are the wire contract: they repeat the JSON
// of internal/api's handlers rather than import them, so that the agent,
// which runs inside session containers, can use this package without
// reaching the server's code. What the api sends as a domain type of
// internal/airlock (audit lines, egress rules, a node's event batch) is
// read into that type. Do remains for a call no method covers.
package apiclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Options configure a Client.
type Options struct {
	// Server is the api's base URL, e.g. https://airlock.example:8443.
	Server string
	// TLS is whom the client trusts as the server, and its own
	// certificate for mutual TLS (a provision node). Nil: the system's
	// roots.
	TLS *tls.Config
	// Token, if set, is sent as the bearer of every call.
	Token string
	// Timeout bounds a whole call (default 1 min).
	Timeout time.Duration
	// MaxAnswer bounds an answer's body (default 16 MiB).
	MaxAnswer int64
	// Transport, if set, carries the calls instead of a pool of the
	// client's own (TLS is then the transport's business).
	Transport http.RoundTripper
}

// Client calls the api.
type Client struct {
	base      string
	token     string
	maxAnswer int64
	http      *http.Client
	transport http.RoundTripper
}

// New builds a Client.
func New(o Options) (*Client, error) {
	if o.Server == "" {
		return nil, errors.New("api client: no server URL")
	}
	if !strings.HasPrefix(o.Server, "https://") && !strings.HasPrefix(o.Server, "http://") {
		return nil, fmt.Errorf("api client: server URL %q must start with https://", o.Server)
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	if o.MaxAnswer <= 0 {
		o.MaxAnswer = 16 << 20
	}
	tr := o.Transport
	if tr == nil {
		tr = &http.Transport{TLSClientConfig: o.TLS, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second}
	}
	return &Client{base: strings.TrimSuffix(o.Server, "/"), token: o.Token, maxAnswer: o.MaxAnswer,
		http: &http.Client{Transport: tr, Timeout: o.Timeout}, transport: tr}, nil
}

// Server is the api's base URL.
func (c *Client) Server() string { return c.base }

// Transport is the client's connection pool, for what is not a JSON call
// (the signal relay's WebSocket).
func (c *Client) Transport() http.RoundTripper { return c.transport }

// Do calls method path with body (JSON-encoded if not nil) and decodes a
// successful answer into out (if not nil). A refusal is an *Error.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	return c.DoAs(ctx, c.token, method, path, body, out)
}

// DoAs is Do with another bearer ("" for none) than the client's own: an
// agent's registration token, then its credential.
func (c *Client) DoAs(ctx context.Context, bearer, method, path string, body, out any) error {
	raw, err := c.read(ctx, bearer, method, path, body)
	if err != nil {
		return err
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// WithToken is a client like c that sends token as its bearer, over c's
// connections: a sign-in's API token, used at once.
func (c *Client) WithToken(token string) *Client {
	n := *c
	n.token = token
	return &n
}

// read calls method path and returns a successful answer's body, at most
// MaxAnswer bytes of it. A refusal is an *Error.
func (c *Client) read(ctx context.Context, bearer, method, path string, body any) ([]byte, error) {
	resp, err := c.send(ctx, bearer, method, path, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, c.maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if int64(len(raw)) > c.maxAnswer {
		return nil, fmt.Errorf("%s %s: answer larger than %d bytes", method, path, c.maxAnswer)
	}
	if resp.StatusCode/100 != 2 {
		return nil, refusal(method, path, resp, raw)
	}
	return raw, nil
}

// Stream calls GET path and copies a successful answer's body to w as it
// arrives (an export). A refusal is an *Error; an answer cut off midway
// is an error too, so a short copy never passes for a whole one.
func (c *Client) Stream(ctx context.Context, path string, w io.Writer) error {
	resp, err := c.send(ctx, c.token, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return refusal(http.MethodGet, path, resp, raw)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("GET %s: the answer was cut off: %w", path, err)
	}
	return nil
}

// route is the path of an api route under /api/v1, each part escaped so
// that a name with a slash or a '?' stays one segment of its own route:
// route("sessions", id, "extend").
func route(parts ...string) string {
	var b strings.Builder
	b.WriteString("/api/v1")
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}

func (c *Client) send(ctx context.Context, bearer, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return resp, nil
}

// get, list, call and callAs are Do for the typed methods, which add no
// words of their own to an error: a refusal's message is the api's, meant
// for the user as it is, and any other error already names the call.
func get[T any](ctx context.Context, c *Client, path string) (*T, error) {
	return call[T](ctx, c, http.MethodGet, path, nil)
}

// list is get of a JSON array; an empty list is an empty slice.
func list[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	out := []T{}
	if err := c.Do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func call[T any](ctx context.Context, c *Client, method, path string, body any) (*T, error) {
	return callAs[T](ctx, c, c.token, method, path, body)
}

func callAs[T any](ctx context.Context, c *Client, bearer, method, path string, body any) (*T, error) {
	var out T
	if err := c.DoAs(ctx, bearer, method, path, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
