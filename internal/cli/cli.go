// Package cli is the command-line client of the api: the client
// commands of `airlock` (login, session, workspace, node, pool, user,
// group, token, audit), their flags, tables and JSON output, on top of
// internal/apiclient. It keeps the server URL, the deployment CA and an
// API token in a config file (mode 0600). Each command is a function of
// its arguments and writers, which cmd/airlock only dispatches to; an
// error wrapping ErrUsage means the usage was printed (exit status 2).
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/airlock-rbi/airlock/internal/apiclient"
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

// Client is the api client the commands call: apiclient's, built by New
// with the config's server, CA and token.
type Client = apiclient.Client

// New builds a client for cfg; see serverTLS for whom it accepts as the
// server.
func New(cfg Config) (*Client, error) {
	tc, err := serverTLS(cfg.Server, cfg.CAPEM)
	if err != nil {
		return nil, err
	}
	return apiclient.New(apiclient.Options{Server: cfg.Server, TLS: tc, Token: cfg.Token, Timeout: 5 * time.Minute})
}

// LoadClient is the client of the saved config, and the config.
func LoadClient() (*Client, *Config, error) {
	cfg, err := Load()
	if err != nil {
		return nil, nil, err
	}
	c, err := New(*cfg)
	return c, cfg, err
}

// Connect gives a command its api client when it first needs one, so
// that a command given wrong arguments says so, and one that works
// offline (audit verify --file) works, without a saved config.
type Connect func() (*Client, error)
