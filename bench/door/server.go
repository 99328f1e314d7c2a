package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/proc"
)

// server is `airlock server` running as a subprocess on loopback.
type server struct {
	cmd    *exec.Cmd
	addr   string
	pool   *x509.CertPool
	log    *os.File
	exited chan struct{}
}

var listening = regexp.MustCompile(`msg="infra server listening".* addr=(\S+)`)

// startServer runs `bin server` with its data directory under dir and its
// log in dir/up.log (where airlockup.WorkDir keeps it), and waits until it
// listens. No Docker is needed: nothing here launches a session.
func startServer(ctx context.Context, bin, dir, password string) (_ *server, err error) {
	logf, err := os.Create(filepath.Join(dir, "up.log"))
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(bin, "server", "--data", data, "--listen", "127.0.0.1:0", "--metrics-listen", "",
		// No session is launched: the agents' URL is never used, but a
		// loopback listener needs one.
		"--agent-url", "https://127.0.0.1:9")
	cmd.Env = append(os.Environ(), "AIRLOCK_ADMIN_PASSWORD="+password)
	cmd.Stdout = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start airlock server: %w", err)
	}
	s := &server{cmd: cmd, log: logf, exited: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(logf, stderr)
		_ = cmd.Wait()
		close(s.exited)
	}()
	defer func() {
		if err != nil {
			err = errors.Join(err, s.stop())
		}
	}()
	select {
	case s.addr = <-found:
	case <-s.exited:
		return nil, fmt.Errorf("airlock server exited before it listened; see %s", logf.Name())
	case <-time.After(time.Minute):
		return nil, errors.New("airlock server did not listen within a minute")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	pem, err := os.ReadFile(filepath.Join(data, "ca.pem"))
	if err != nil {
		return nil, err
	}
	s.pool = x509.NewCertPool()
	if !s.pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("ca.pem holds no certificate")
	}
	return s, nil
}

// stop sends SIGTERM, and SIGKILL to the group after 20 s.
func (s *server) stop() error {
	defer s.log.Close()
	select {
	case <-s.exited:
		return nil
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal airlock server: %w", err)
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
		return errors.New("airlock server did not stop within 20s of SIGTERM; killed")
	}
}

// client is an HTTP/2 client (as browsers are) whose connections come from
// the loopback address from: every address of 127/8 is this host, so the
// server sees the attacker and the legitimate user as different clients.
func (s *server) client(from string, conns int) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.pool}, ForceAttemptHTTP2: true,
		DialContext: d.DialContext, MaxConnsPerHost: conns}
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// call sends a JSON request and returns the status; out (if not nil) gets
// the decoded answer of a 2xx.
func (s *server) call(ctx context.Context, c *http.Client, method, path, token string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, "https://"+s.addr+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// peakRSS is the subprocess's VmHWM (peak resident set), in bytes.
func (s *server) peakRSS() (int64, error) { return proc.PeakRSS(s.cmd.Process.Pid) }
