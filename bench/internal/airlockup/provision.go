package airlockup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// NodeOptions describe an extra provision node of a deployment.
type NodeOptions struct {
	// Name is the node's name in the deployment; Listen its loopback
	// address, 127.0.0.1:PORT (also what it advertises).
	Name, Listen string
	// Token is a join token of the deployment (JoinToken).
	Token string
	// Policy is the node's provision.yaml.
	Policy string
	// Capacity is the sessions the node advertises it runs at most.
	Capacity int
	// Extra are further flags of `airlock provision`.
	Extra []string
}

// JoinToken asks the api for a join token that enrolls uses nodes of at
// most capacity sessions, offering standard isolation.
func (c *Client) JoinToken(ctx context.Context, uses, capacity int) (string, error) {
	var t struct {
		Token string `json:"token"`
	}
	body := map[string]any{"ttl": "1h", "uses": uses, "capacity": capacity, "isolation": []string{"standard"}}
	if err := c.Do(ctx, http.MethodPost, "/api/v1/nodes/join-tokens", body, &t); err != nil {
		return "", fmt.Errorf("join token: %w", err)
	}
	if t.Token == "" {
		return "", errors.New("join token: the answer has no token")
	}
	return t.Token, nil
}

// StartNode runs `bin provision` in front of the local dockerd, enrolled
// with the deployment at server, with its files under dir/Name (the join
// token in a file, as the README says: never on the command line), and
// waits until it listens. The egress proxy is off (it would need a port
// of its own on this host): the node offers standard isolation. Its
// output goes to dir/Name/node.log. Like Start, it runs in a process
// group of its own; the caller stops it.
func StartNode(ctx context.Context, bin, dir, server string, o NodeOptions) (_ *Proc, err error) {
	home := filepath.Join(dir, o.Name)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	policy := filepath.Join(home, "provision.yaml")
	token := filepath.Join(home, "join-token")
	if err := os.WriteFile(policy, []byte(o.Policy), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(token, []byte(o.Token+"\n"), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(home, "node.log"))
	if err != nil {
		return nil, err
	}
	args := append([]string{"provision", "--tls-dir", filepath.Join(home, "tls"), "--config", policy,
		"--server", server, "--token-file", token, "--name", o.Name, "--advertise", "https://" + o.Listen,
		"--listen", o.Listen, "--metrics-listen", "", "--docker-socket", dockertest.Socket(),
		"--egress-proxy-port", "-1", "--capacity", fmt.Sprint(o.Capacity)}, o.Extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start airlock provision %s: %w", o.Name, err)
	}
	p := &Proc{cmd: cmd, log: logf, exited: make(chan struct{})}
	listening := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if strings.Contains(line, "provision node listening") {
				select {
				case listening <- struct{}{}:
				default:
				}
			}
		}
		_, _ = io.Copy(logf, stderr)
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	defer func() {
		if err != nil {
			err = errors.Join(err, p.Stop())
		}
	}()
	select {
	case <-listening:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("airlock provision %s exited before it listened (%v):\n%s", o.Name, p.waitErr, p.Tail())
	case <-time.After(time.Minute):
		return nil, fmt.Errorf("airlock provision %s did not listen within a minute:\n%s", o.Name, p.Tail())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
