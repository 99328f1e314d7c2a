package audio

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// exitGrace is how long a helper gets to exit after its stdin closed
// before it is killed.
const exitGrace = 2 * time.Second

// CaptureConfig says how to run the helper. Zero values take the
// defaults.
type CaptureConfig struct {
	// Path is the helper's executable (default "airlock-audio", looked up
	// in $PATH).
	Path string
	// Server is the PulseAudio server, as PULSE_SERVER takes it
	// (unix:/tmp/airlock/pulse/native); required.
	Server string
	// Source is what is recorded (default "airlock.monitor", the null
	// sink's monitor).
	Source string
	// FrameMS is the length of one Opus frame, 10 (default) or 20.
	FrameMS int
	// BitrateKbps is Opus's bitrate (default 96).
	BitrateKbps int
	// Start and Wait run the command (default cmd.Start and cmd.Wait);
	// the agent passes its own, as for the video encoder.
	Start func(*exec.Cmd) error
	Wait  func(*exec.Cmd) error
}

func (c *CaptureConfig) defaults() error {
	if c.Path == "" {
		c.Path = "airlock-audio"
	}
	if c.Source == "" {
		c.Source = "airlock.monitor"
	}
	if c.FrameMS == 0 {
		c.FrameMS = 10
	}
	if c.BitrateKbps == 0 {
		c.BitrateKbps = 96
	}
	if c.Start == nil {
		c.Start = (*exec.Cmd).Start
	}
	if c.Wait == nil {
		c.Wait = (*exec.Cmd).Wait
	}
	switch {
	case c.Server == "":
		return errors.New("audio: no sound server")
	case c.FrameMS != 10 && c.FrameMS != 20:
		return fmt.Errorf("audio: frame of %d ms: want 10 or 20", c.FrameMS)
	case c.BitrateKbps < 6 || c.BitrateKbps > 510:
		return fmt.Errorf("audio: bitrate %d kbit/s: want 6 to 510", c.BitrateKbps)
	}
	return nil
}

// Capture is a running helper.
type Capture struct {
	cmd    *exec.Cmd
	wait   func(*exec.Cmd) error
	in     *os.File // the helper's stdin, our end: closing it stops the helper
	out    *os.File
	r      *bufio.Reader
	stderr *tail
	frame  uint64 // samples per packet
	next   uint64 // the earliest pos the next packet may have
	once   sync.Once
	exit   error
}

// StartCapture runs the helper; ctx bounds its life.
func StartCapture(ctx context.Context, cfg CaptureConfig) (*Capture, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("audio: %w", err)
	}
	cmd := exec.CommandContext(ctx, cfg.Path, "-source", cfg.Source, "-frame", strconv.Itoa(cfg.FrameMS),
		"-bitrate", strconv.Itoa(cfg.BitrateKbps))
	cmd.Env = []string{"PULSE_SERVER=" + cfg.Server}
	stderr := &tail{}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, stderr
	cmd.WaitDelay = exitGrace
	err = cfg.Start(cmd)
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("audio: start %s: %w", cfg.Path, err)
	}
	return &Capture{cmd: cmd, wait: cfg.Wait, in: inW, out: outR, r: bufio.NewReaderSize(outR, 16<<10),
		stderr: stderr, frame: uint64(Rate / 1000 * cfg.FrameMS)}, nil
}

// Read returns the next packet. Any error ends the capture: the helper's
// exit (with its stderr) when it died, or what was wrong with its output.
func (c *Capture) Read() (Packet, error) {
	p, err := ReadPacket(c.r)
	if err == nil && p.Pos < c.next {
		err = fmt.Errorf("%w: pos %d is inside the previous packet (next at %d)", ErrBadPacket, p.Pos, c.next)
	}
	if err != nil {
		if errors.Is(err, ErrBadPacket) {
			c.cmd.Process.Kill()
		}
		if exit := c.finish(); exit != nil && !errors.Is(err, ErrBadPacket) {
			return Packet{}, exit
		}
		return Packet{}, fmt.Errorf("audio: %w", err)
	}
	c.next = p.Pos + c.frame
	return p, nil
}

// Close stops the helper: it closes its stdin, which the helper takes as
// the end, and waits for it. It returns how the helper ended when that
// was not a clean exit.
func (c *Capture) Close() error { return c.finish() }

func (c *Capture) finish() error {
	c.once.Do(func() {
		c.in.Close()
		done := make(chan error, 1)
		go func() { done <- c.wait(c.cmd) }()
		var err error
		select {
		case err = <-done:
		case <-time.After(exitGrace):
			c.cmd.Process.Kill()
			err = fmt.Errorf("%w after it ignored the end of its input for %v", <-done, exitGrace)
		}
		c.out.Close()
		if err != nil {
			c.exit = fmt.Errorf("audio helper exited: %w%s", err, c.stderr.suffix())
		}
	})
	return c.exit
}

// tail keeps the end of a helper's stderr, for its exit error.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const stderrTail = 1024

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - stderrTail; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// suffix is ": " and the tail on one line, or nothing.
func (t *tail) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.Join(strings.Fields(strings.ReplaceAll(string(t.buf), "\n", "; ")), " ")
	if s == "" {
		return ""
	}
	return ": " + s
}
