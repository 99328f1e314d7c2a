package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/airlock-rbi/airlock/internal/apiclient"
)

// Login is `airlock login`: it signs in with a password (AIRLOCK_PASSWORD,
// else asked on the terminal) and saves the server, its CA and a new API
// token in the config.
func Login(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("login", stderr)
	server := fs.String("server", "https://127.0.0.1:8443", "server URL")
	user := fs.String("user", "", "user name")
	caFile := fs.String("ca-cert", "", "the deployment CA certificate (DATA/ca.pem); default: the system's roots")
	if err := ParseFlags(fs, args); err != nil {
		return err
	}
	if *user == "" {
		return usage(stderr, "airlock login: --user is required")
	}
	cfg := Config{Server: strings.TrimSuffix(*server, "/"), User: *user}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return err
		}
		cfg.CAPEM = string(pem)
	}
	password := os.Getenv("AIRLOCK_PASSWORD")
	if password == "" {
		if !term.IsTerminal(int(os.Stdin.Fd())) {
			return fmt.Errorf("no terminal to ask the password on: set AIRLOCK_PASSWORD")
		}
		fmt.Fprintf(stderr, "Password for %s: ", *user)
		pw, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return err
		}
		password = string(pw)
	}
	c, err := New(cfg)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	ans, err := c.Login(ctx, apiclient.LoginRequest{User: *user, Password: password, Token: true, TokenName: "cli-" + sanitize(host)})
	if err != nil {
		return err
	}
	cfg.Token = ans.Token
	if err := cfg.Save(); err != nil {
		return err
	}
	p, _ := ConfigPath()
	fmt.Fprintf(stdout, "logged in to %s as %s (token saved in %s)\n", cfg.Server, *user, p)
	return nil
}

// sanitize keeps a host name within the token name rules.
func sanitize(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			b.WriteRune(r)
		}
	}
	out := b.String()
	if len(out) > 50 {
		out = out[:50]
	}
	return out
}
