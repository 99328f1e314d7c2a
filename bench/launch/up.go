package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/airlock-rbi/airlock/internal/dockertest"

	"github.com/airlock-rbi/airlock/internal/cli"
)

// upProc is a running `airlock up` subprocess.
type upProc struct {
	cmd    *exec.Cmd
	server string // the api's base URL, https://127.0.0.1:PORT
	data   string
	log    *os.File // its stderr and stdout
	exited chan struct{}
	// waitErr is cmd.Wait's answer, set before exited is closed.
	waitErr error
}

// buildAirlock builds the static airlock binary into dir, from the module
// this program belongs to, and returns its path.
func buildAirlock(ctx context.Context, dir string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	bin := filepath.Join(dir, "airlock")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/airlock")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build airlock: %w\n%s", err, out)
	}
	return bin, nil
}

// loginLine is what `airlock up` prints once the api and the local node
// are up.
var loginLine = regexp.MustCompile(`login --server (https://\S+)`)

// startUp runs `bin up` with its data directory in dir, the api on every
// interface (session containers reach it through the Docker gateway as
// host.docker.internal) and the provision node on loopback, and waits for
// it to print its login line. Its output goes to dir/up.log. The process
// runs in its own process group so a terminal's Ctrl-C reaches only this
// program, which then stops it in order.
func startUp(ctx context.Context, bin, dir, password string) (_ *upProc, err error) {
	data := filepath.Join(dir, "data")
	logf, err := os.Create(filepath.Join(dir, "up.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "up", "--data", data, "--listen", ":0", "--provision-listen", "127.0.0.1:0",
		"--metrics-listen", "", "--docker-socket", dockertest.Socket())
	cmd.Env = append(os.Environ(), "AIRLOCK_ADMIN_PASSWORD="+password)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start airlock up: %w", err)
	}
	p := &upProc{cmd: cmd, data: data, log: logf, exited: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		// Copy stdout to the log, watching for the login line; the pipe
		// must be drained to the end before Wait.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if m := loginLine.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(logf, stdout)
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	defer func() {
		if err != nil {
			err = errors.Join(err, p.stop())
		}
	}()
	select {
	case p.server = <-found:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("airlock up exited before it was up (%v):\n%s", p.waitErr, p.tail())
	case <-time.After(3 * time.Minute):
		return nil, fmt.Errorf("airlock up printed no login line within 3 minutes:\n%s", p.tail())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// stop sends SIGTERM and waits for the process to exit, killing it after
// 30 seconds. A clean exit after SIGTERM is status 0.
func (p *upProc) stop() error {
	defer p.log.Close()
	select {
	case <-p.exited:
	default:
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("signal airlock up: %w", err)
		}
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
			return fmt.Errorf("airlock up did not stop within 30s of SIGTERM; killed:\n%s", p.tail())
		}
	}
	if p.waitErr != nil {
		return fmt.Errorf("airlock up: %w:\n%s", p.waitErr, p.tail())
	}
	return nil
}

// tail is the end of the subprocess's log, for error messages.
func (p *upProc) tail() string {
	raw, err := os.ReadFile(p.log.Name())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const max = 4000
	if len(raw) > max {
		raw = raw[len(raw)-max:]
	}
	return string(raw)
}

// The client is the CLI's own (internal/cli): one kept-alive connection,
// the deployment CA trusted, errors as the api words them.
type apiClient struct {
	cfg cli.Config
	c   *cli.Client
}

func newAPIClient(server, caFile string) (*apiClient, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	cfg := cli.Config{Server: strings.TrimSuffix(server, "/"), CAPEM: string(pem)}
	c, err := cli.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", caFile, err)
	}
	return &apiClient{cfg: cfg, c: c}, nil
}

// apiError is an error answer of the api.
type apiError = cli.APIError

func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	return c.c.Do(ctx, method, path, body, out)
}

// login exchanges the admin's password for an API token and returns the
// admin's user ID, which labels every container of its sessions.
func (c *apiClient) login(ctx context.Context, user, password string) (string, error) {
	var resp struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		Token string `json:"token"`
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/auth/login",
		map[string]any{"user": user, "password": password, "token": true, "token_name": "bench-launch"}, &resp)
	if err != nil {
		return "", fmt.Errorf("log in: %w", err)
	}
	if resp.Token == "" || resp.User.ID == "" {
		return "", errors.New("log in: the answer has no token or user ID")
	}
	c.cfg.Token = resp.Token
	authed, err := cli.New(c.cfg)
	if err != nil {
		return "", err
	}
	c.c = authed
	return resp.User.ID, nil
}

// session is the part of the api's session view this program reads.
type session struct {
	ID        string     `json:"id"`
	Container string     `json:"container"`
	State     string     `json:"state"`
	Reason    string     `json:"reason"`
	CreatedAt time.Time  `json:"created_at"`
	StartedAt *time.Time `json:"started_at"`
	ReadyAt   *time.Time `json:"ready_at"`
}

// randomPassword is the throwaway deployment's admin password.
func randomPassword() string { return rand.Text() }
