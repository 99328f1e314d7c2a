package airlockup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/apiclient"
	"github.com/airlock-rbi/airlock/internal/cli"
	"github.com/airlock-rbi/airlock/internal/pki"
)

// Client is the CLI's own api client (internal/cli over internal/apiclient):
// one kept-alive connection pool, the deployment CA trusted, errors as the
// api words them.
type Client struct {
	c *apiclient.Client
}

// NewClient is a client of server that trusts the CA in caFile.
func NewClient(server, caFile string) (*Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	c, err := cli.New(cli.Config{Server: strings.TrimSuffix(server, "/"), CAPEM: string(pem)})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", caFile, err)
	}
	return &Client{c: c}, nil
}

// APIError is an error answer of the api.
type APIError = apiclient.Error

// Do sends body as JSON (when not nil) and decodes the answer into out
// (when not nil).
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	return c.c.Do(ctx, method, path, body, out)
}

// Login exchanges a user's password for an API token named tokenName,
// which the client then sends, and returns the user's ID (the admin's
// labels every container of its sessions).
func (c *Client) Login(ctx context.Context, user, password, tokenName string) (string, error) {
	resp, err := c.c.Login(ctx, apiclient.LoginRequest{User: user, Password: password, Token: true, TokenName: tokenName})
	if err != nil {
		return "", fmt.Errorf("log in: %w", err)
	}
	if resp.Token == "" || resp.User.ID == "" {
		return "", errors.New("log in: the answer has no token or user ID")
	}
	c.c = c.c.WithToken(resp.Token)
	return resp.User.ID, nil
}

// Session is the api's session view, which the benchmarks read.
type Session = apiclient.Session

// DeleteSession ends a session; the api stops and removes its container.
// It uses its own deadline: it may run after the run's context was
// cancelled. The api answers 503 when removing the container failed, e.g.
// because another Airlock deployment on the daemon is removing it as an
// orphan at the same moment ("removal … is already in progress"); the
// session then stays stopping, so the call is repeated a few times.
func (c *Client) DeleteSession(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	for range 5 {
		_, err = c.c.DeleteSession(ctx, id)
		if apiclient.StatusOf(err) != http.StatusServiceUnavailable {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
	return err
}

// Admin is a running deployment with the admin logged in.
type Admin struct {
	*Proc
	API    *Client
	UserID string // the admin's, which labels every container of its sessions
	// Deployment is the deployment's ID, which labels every container and
	// network of its sessions, a pool's too.
	Deployment string
	Password   string // the admin's, for a browser's login
}

// StartAdmin starts `bin up` (see Start) with a random admin password and
// logs in as the admin with an API token named tokenName. The caller stops
// it; on an error it is already stopped.
func StartAdmin(ctx context.Context, bin, dir, tokenName string, extra ...string) (_ *Admin, err error) {
	a := &Admin{Password: RandomPassword()}
	if a.Proc, err = Start(ctx, bin, dir, a.Password, extra...); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, a.Stop())
		}
	}()
	if a.API, err = NewClient(a.Server, filepath.Join(a.Data, "ca.pem")); err != nil {
		return nil, err
	}
	if a.UserID, err = a.API.Login(ctx, "admin", a.Password, tokenName); err != nil {
		return nil, err
	}
	ca, err := pki.LoadCA(a.Data)
	if err != nil {
		return nil, fmt.Errorf("the deployment's CA: %w", err)
	}
	a.Deployment = ca.DeploymentID()
	return a, nil
}
