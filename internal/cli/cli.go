// Package cli is the command-line client of the api: it keeps the server
// URL, the deployment CA and an API token in a config file (mode 0600) and
// makes authenticated JSON calls.
package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is what `airlock login` saves.
type Config struct {
	Server string `json:"server"`
	Token  string `json:"token"`
	// CAPEM is the deployment CA the server's certificate chains to.
	CAPEM string `json:"ca_pem,omitempty"`
	User  string `json:"user,omitempty"`
}

// ConfigPath is $AIRLOCK_CONFIG or ~/.config/airlock/config.json.
func ConfigPath() (string, error) {
	if p := os.Getenv("AIRLOCK_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find config directory (set AIRLOCK_CONFIG): %w", err)
	}
	return filepath.Join(dir, "airlock", "config.json"), nil
}

// Load reads the config, saying how to make one when there is none.
func Load() (*Config, error) {
	p, err := ConfigPath()
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("not logged in (no %s): run `airlock login --server URL --user NAME` first", p)
	}
	if err != nil {
		return nil, err
	}
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("config %s: %w", p, err)
	}
	return &c, nil
}

// Save writes the config with mode 0600: it holds a bearer token.
func (c *Config) Save() error {
	p, err := ConfigPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// Client calls the api.
type Client struct {
	cfg  Config
	http *http.Client
}

// New builds a client for cfg; see serverTLS for whom it accepts as the
// server.
func New(cfg Config) (*Client, error) {
	tc, err := serverTLS(cfg.Server, cfg.CAPEM)
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, http: &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{TLSClientConfig: tc}}}, nil
}

// APIError is an error answer of the api.
type APIError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *APIError) Error() string { return e.Message }

// Stream calls GET path and copies a successful answer's body to w as it
// arrives (an export); an error answer is an *APIError as with Do.
func (c *Client) Stream(ctx context.Context, path string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.cfg.Server, "/")+path, nil)
	if err != nil {
		return err
	}
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		e := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(raw, e) != nil || e.Message == "" {
			e.Message = fmt.Sprintf("GET %s: %s", path, resp.Status)
		}
		return e
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		// The server cuts an export off when it fails midway: say so
		// rather than leave a short file that looks whole.
		return fmt.Errorf("GET %s: the answer was cut off: %w", path, err)
	}
	return nil
}

// Do calls method path with body (JSON-encoded if not nil) and decodes the
// answer into out (if not nil).
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.cfg.Server, "/")+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(raw, e) != nil || e.Message == "" {
			e.Message = fmt.Sprintf("%s %s: %s", method, path, resp.Status)
		}
		return e
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}
