package audio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Sink is the null sink Chromium plays into; its monitor is what the
// helper records.
const Sink = "airlock"

// ServerConfig says how to run the PulseAudio daemon.
type ServerConfig struct {
	// Dir holds the daemon's socket, script and state; it is made with
	// mode 0700 (default /tmp/airlock/pulse: the root file system is
	// read-only).
	Dir string
	// Path is the daemon (default "pulseaudio", looked up in $PATH).
	Path string
	// Start and Wait run the command (default cmd.Start and cmd.Wait).
	Start func(*exec.Cmd) error
	Wait  func(*exec.Cmd) error
	// Ready bounds the wait for the socket (default 10s).
	Ready time.Duration
}

// script is the daemon's whole configuration: one null sink at Opus's
// rate, the native protocol on a socket of our own, and a sink that
// suspends (and with it the monitor and the helper) one second after the
// last stream stops. Anonymous access is safe: the socket's directory is
// the session user's alone, in a container of one user.
const script = `load-module module-null-sink sink_name=` + Sink + ` rate=48000 channels=2 sink_properties=device.description=Airlock
set-default-sink ` + Sink + `
set-default-source ` + Sink + `.monitor
load-module module-native-protocol-unix socket=%s auth-anonymous=1
load-module module-suspend-on-idle timeout=1
`

// Server is a PulseAudio daemon run for the session.
type Server struct {
	cfg  ServerConfig
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Socket is the daemon's socket path in dir.
func Socket(dir string) string { return filepath.Join(dir, "native") }

// Address is PULSE_SERVER's value for the daemon of dir.
func Address(dir string) string { return "unix:" + Socket(dir) }

// StartServer starts the daemon and returns once its socket accepts
// connections, so that Chromium started next finds it. ctx bounds its
// life.
func StartServer(ctx context.Context, cfg ServerConfig) (*Server, error) {
	if cfg.Dir == "" {
		cfg.Dir = "/tmp/airlock/pulse"
	}
	if cfg.Path == "" {
		cfg.Path = "pulseaudio"
	}
	if cfg.Start == nil {
		cfg.Start = (*exec.Cmd).Start
	}
	if cfg.Wait == nil {
		cfg.Wait = (*exec.Cmd).Wait
	}
	if cfg.Ready <= 0 {
		cfg.Ready = 10 * time.Second
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	pa := filepath.Join(cfg.Dir, "airlock.pa")
	sock := Socket(cfg.Dir)
	if err := os.WriteFile(pa, fmt.Appendf(nil, script, sock), 0o600); err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	// A socket left by a daemon that died would pass the readiness check.
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("audio: %w", err)
	}
	// -n -F: our script alone, none of the system's modules (no D-Bus,
	// no ALSA, no X11 bell). No autospawn, no idle exit, no realtime or
	// niceness (the container has no capabilities to ask for them), and
	// no module loading by clients. No shared memory: two channels of sound
	// copy cheaply, and the memfd path logs a known bug.
	cmd := exec.CommandContext(ctx, cfg.Path, "-n", "-F", pa, "--daemonize=no", "--system=no",
		"--exit-idle-time=-1", "--disallow-exit=yes", "--disallow-module-loading=yes", "--use-pid-file=no",
		"--realtime=no", "--high-priority=no", "--no-cpu-limit=yes", "--disable-shm=yes", "--log-target=stderr", "--log-level=error")
	// HOME and the state paths under Dir: the daemon writes its cookie
	// and state there. No DISPLAY: it would try to start a D-Bus for X11.
	cmd.Env = []string{"HOME=" + cfg.Dir, "PULSE_RUNTIME_PATH=" + cfg.Dir, "PULSE_STATE_PATH=" + filepath.Join(cfg.Dir, "state"),
		"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 3 * time.Second
	if err := cfg.Start(cmd); err != nil {
		return nil, fmt.Errorf("audio: start %s: %w", cfg.Path, err)
	}
	s := &Server{cfg: cfg, cmd: cmd, done: make(chan struct{})}
	go func() {
		s.err = cfg.Wait(cmd)
		close(s.done)
	}()
	deadline := time.Now().Add(cfg.Ready)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("audio: %s exited before its socket was up: %v", cfg.Path, s.err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.cmd.Process.Kill()
			<-s.done
			return nil, fmt.Errorf("audio: %s did not open %s within %v: %w", cfg.Path, sock, cfg.Ready, err)
		}
	}
}

// Address is PULSE_SERVER's value for this daemon.
func (s *Server) Address() string { return Address(s.cfg.Dir) }

// Done is closed when the daemon has exited; Err then says how.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is the daemon's exit, once Done is closed.
func (s *Server) Err() error {
	select {
	case <-s.done:
		if s.err == nil {
			return fmt.Errorf("%s exited", s.cfg.Path)
		}
		return fmt.Errorf("%s exited: %w", s.cfg.Path, s.err)
	default:
		return nil
	}
}

// Close stops the daemon and waits for it.
func (s *Server) Close() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(3 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}
