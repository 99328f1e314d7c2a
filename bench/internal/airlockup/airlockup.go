// Package airlockup runs a throwaway Airlock deployment for the
// benchmarks in bench/: it builds the static airlock binary from this
// module, runs `airlock up` as a subprocess with a data directory of its
// own, and talks to its api with the CLI's client.
package airlockup

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// Proc is a running `airlock up` subprocess.
type Proc struct {
	// Server is the api's base URL, https://127.0.0.1:PORT; Data its data
	// directory (ca.pem is there).
	Server string
	Data   string
	cmd    *exec.Cmd
	log    *os.File // its stderr and stdout
	exited chan struct{}
	// waitErr is cmd.Wait's answer, set before exited is closed.
	waitErr error
}

// ModuleRoot is the directory of this module's go.mod.
func ModuleRoot(ctx context.Context) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	if strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		return "", errors.New("go env GOMOD: not inside the airlock module")
	}
	return filepath.Dir(strings.TrimSpace(string(gomod))), nil
}

// Build builds the static airlock binary into dir, from the module this
// program belongs to, and returns its path.
func Build(ctx context.Context, dir string) (string, error) {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
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

// Start runs `bin up` with its data directory in dir, the api on every
// interface (session containers reach it through the Docker gateway as
// host.docker.internal) and the provision node on loopback, and waits for
// it to print its login line. Its output goes to dir/up.log. The process
// runs in its own process group so a terminal's Ctrl-C reaches only this
// program, which then stops it in order. extra are further flags of up.
func Start(ctx context.Context, bin, dir, password string, extra ...string) (_ *Proc, err error) {
	data := filepath.Join(dir, "data")
	logf, err := os.Create(filepath.Join(dir, "up.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"up", "--data", data, "--listen", ":0", "--provision-listen", "127.0.0.1:0",
		"--metrics-listen", "", "--docker-socket", dockertest.Socket()}, extra...)...)
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
	p := &Proc{cmd: cmd, Data: data, log: logf, exited: make(chan struct{})}
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
			err = errors.Join(err, p.Stop())
		}
	}()
	select {
	case p.Server = <-found:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("airlock up exited before it was up (%v):\n%s", p.waitErr, p.Tail())
	case <-time.After(3 * time.Minute):
		return nil, fmt.Errorf("airlock up printed no login line within 3 minutes:\n%s", p.Tail())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// PID is the subprocess's process ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM and waits for the process to exit, killing it after
// 30 seconds. A clean exit after SIGTERM is status 0.
func (p *Proc) Stop() error {
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
			return fmt.Errorf("airlock up did not stop within 30s of SIGTERM; killed:\n%s", p.Tail())
		}
	}
	if p.waitErr != nil {
		return fmt.Errorf("airlock up: %w:\n%s", p.waitErr, p.Tail())
	}
	return nil
}

// Tail is the end of the subprocess's log, for error messages.
func (p *Proc) Tail() string {
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

// RandomPassword is a throwaway deployment's admin password.
func RandomPassword() string { return rand.Text() }
