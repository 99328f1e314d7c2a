package desktop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Runner starts and waits for the processes of the display. The agent,
// which reaps orphans as PID 1, passes its own so that the reaper leaves
// these alone; tests pass a plain exec one.
type Runner interface {
	Start(cmd *exec.Cmd) error
	Wait(cmd *exec.Cmd) error
}

// ExecRunner runs processes with exec.Cmd and nothing else.
type ExecRunner struct{}

// Start starts cmd.
func (ExecRunner) Start(cmd *exec.Cmd) error { return cmd.Start() }

// Wait waits for cmd.
func (ExecRunner) Wait(cmd *exec.Cmd) error { return cmd.Wait() }

// DisplayConfig configures a virtual display.
type DisplayConfig struct {
	// Number is the X display number: :Number.
	Number        int
	Width, Height int
	// Path is the Xvfb binary; default "Xvfb".
	Path   string
	Runner Runner
}

// Display is a running Xvfb.
type Display struct {
	// Name is the DISPLAY value, e.g. ":0".
	Name   string
	cmd    *exec.Cmd
	runner Runner
	done   chan struct{}
	err    error
}

// StartDisplay starts Xvfb and returns once clients can connect.
func StartDisplay(ctx context.Context, cfg DisplayConfig) (*Display, error) {
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width%2 != 0 || cfg.Height%2 != 0 {
		return nil, fmt.Errorf("display size %dx%d: width and height must be even and positive", cfg.Width, cfg.Height)
	}
	if cfg.Path == "" {
		cfg.Path = "Xvfb"
	}
	if cfg.Runner == nil {
		cfg.Runner = ExecRunner{}
	}
	name := ":" + strconv.Itoa(cfg.Number)
	// The framebuffer is made as large as a viewer may ask for, so that
	// RandR can resize the screen within it without a restart. GLX is
	// left out: the app draws in software (Chromium runs with
	// --disable-gpu) and nothing in a session speaks GLX, while loading
	// it maps Mesa's software renderer into Xvfb, 54 MiB of its 95 MiB
	// PSS, measured here.
	cmd := exec.Command(cfg.Path, name,
		"-screen", "0", fmt.Sprintf("%dx%dx24", max(cfg.Width, maxWidth), max(cfg.Height, maxHeight)),
		"-nolisten", "tcp", "-noreset", "-dpi", "96", "-extension", "GLX")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cfg.Runner.Start(cmd); err != nil {
		return nil, fmt.Errorf("start Xvfb %s: %w", name, err)
	}
	d := &Display{Name: name, cmd: cmd, runner: cfg.Runner, done: make(chan struct{})}
	go func() {
		d.err = cfg.Runner.Wait(cmd)
		close(d.done)
	}()
	sock := "/tmp/.X11-unix/X" + strconv.Itoa(cfg.Number)
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("start Xvfb %s: it exited before accepting clients: %v", name, d.err)
		case <-ctx.Done():
			d.Close()
			return nil, fmt.Errorf("start Xvfb %s: %w", name, ctx.Err())
		case <-deadline.C:
			d.Close()
			return nil, fmt.Errorf("start Xvfb %s: no socket at %s after 10s", name, sock)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := d.Resize(ctx, cfg.Width, cfg.Height); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// The largest display a viewer may ask for.
const (
	maxWidth  = 3840
	maxHeight = 2160
)

// Done is closed when Xvfb has exited.
func (d *Display) Done() <-chan struct{} { return d.done }

// Err is why Xvfb exited, once Done is closed.
func (d *Display) Err() error { return d.err }

// Close stops Xvfb and waits for it.
func (d *Display) Close() error {
	if d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(os.Interrupt)
	}
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	var ee *exec.ExitError
	if d.err != nil && !errors.As(d.err, &ee) {
		return fmt.Errorf("stop Xvfb %s: %w", d.Name, d.err)
	}
	return nil
}

// Resize sets the screen to w×h with RandR, adding the mode first (Xvfb
// accepts any mode within its framebuffer). It runs xrandr, which does
// the mode bookkeeping, rather than repeating it here.
func (d *Display) Resize(ctx context.Context, w, h int) error {
	if w <= 0 || h <= 0 || w%2 != 0 || h%2 != 0 || w > maxWidth || h > maxHeight {
		return fmt.Errorf("resize display %s to %dx%d: width and height must be even, positive and at most %dx%d", d.Name, w, h, maxWidth, maxHeight)
	}
	mode := fmt.Sprintf("%dx%d", w, h)
	// newmode fails when the mode exists from an earlier resize; addmode
	// and the switch then still work, so only their errors count.
	_ = d.xrandr(ctx, "--newmode", mode, "0", strconv.Itoa(w), "0", "0", "0", strconv.Itoa(h), "0", "0", "0")
	_ = d.xrandr(ctx, "--addmode", "screen", mode)
	if err := d.xrandr(ctx, "--fb", mode, "--output", "screen", "--mode", mode); err != nil {
		return fmt.Errorf("resize display %s to %s: %w", d.Name, mode, err)
	}
	return nil
}

func (d *Display) xrandr(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "xrandr", append([]string{"-display", d.Name}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := d.runner.Start(cmd); err != nil {
		return fmt.Errorf("xrandr: %w", err)
	}
	if err := d.runner.Wait(cmd); err != nil {
		return fmt.Errorf("xrandr %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}
