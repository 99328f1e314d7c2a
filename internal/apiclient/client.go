// Package apiclient is the one client of Airlock's api under /api/v1: the
// CLI, the session agent, a provision node's enrollment and reports, and
// the benchmarks call the api through it, so that every caller encodes
// requests and reads the api's answers, and its refusals
// ({"code","message"}), the same way.
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
	resp, err := c.send(ctx, bearer, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, c.maxAnswer+1))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if int64(len(raw)) > c.maxAnswer {
		return fmt.Errorf("%s %s: answer larger than %d bytes", method, path, c.maxAnswer)
	}
	if resp.StatusCode/100 != 2 {
		return refusal(method, path, resp, raw)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
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
