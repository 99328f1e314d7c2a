// Package encoder drives airlock-encoder, the small C program of the
// Chromium workspace image that turns screen frames into VP8 or H.264 for
// WebRTC. The agent is built without cgo, so it cannot link libvpx or
// libx264; it runs the helper as a child process instead and trades one
// frame for one encoded packet over its stdin and stdout.
//
// The wire format, all integers little endian:
//
//	request:  "AFRM" u32 flags (bit 0: keyframe, bit 1: repeat, bit 2:
//	          shm) u32 width u32 height u32 stride u32 bitrate_kbps
//	          (0: unchanged) u64 pts_ms, then height*stride bytes of BGRX
//	          pixels; with repeat none (the previous frame's image is
//	          encoded again); with shm a u32 SysV shared memory id instead,
//	          the pixels being at the start of that segment
//	response: "APKT" u32 flags (bit 0: keyframe) u32 size u32 0
//	          u64 pts_ms, then size bytes (VP8 frame or H.264 Annex B
//	          access unit; size 0: nothing for this frame)
package encoder

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Limits the helper enforces too; checking them here turns a frame the
// helper would die on into an error that leaves the encoder usable.
const (
	MaxDimension = 4096
	maxStride    = 65536
	minKbps      = 10
	maxKbps      = 1_000_000
	maxFPS       = 240
	maxThreads   = 64
	// maxPacket bounds what a confused helper can make the agent allocate;
	// a real packet of a 4096x4096 frame is far smaller.
	maxPacket = 64 << 20
)

const (
	requestSize  = 32
	responseSize = 24
	flagKeyframe = 1
	flagRepeat   = 2
	flagShm      = 4
	// stderrTail is how much of the helper's stderr an error quotes.
	stderrTail = 2048
	// exitGrace is how long a helper that stopped answering gets to exit
	// on its own before it is killed.
	exitGrace = 2 * time.Second
)

// ErrInvalidFrame is what Encode returns for a frame it refuses before
// sending anything: the helper is still running and usable. Any other
// Encode error means the helper is gone.
var ErrInvalidFrame = errors.New("invalid frame")

// Config says how to run the helper. Zero values take the defaults.
type Config struct {
	// Path is the helper's executable (default "airlock-encoder", looked
	// up in $PATH).
	Path string
	// Codec is "vp8" (default) or "h264".
	Codec string
	// FPS is the frame rate the rate control plans for (default 30).
	FPS int
	// BitrateKbps is the initial target bitrate in kbit/s (default 2500);
	// Frame.BitrateKbps changes it later.
	BitrateKbps int
	// Threads is the number of encoder threads (default 2).
	Threads int
	// Start starts the command (default cmd.Start). The agent, PID 1 of
	// its container, passes its own so that its zombie reaper leaves the
	// helper to Wait.
	Start func(*exec.Cmd) error
	// Wait waits for the command Start started (default cmd.Wait).
	Wait func(*exec.Cmd) error
}

// Frame is one screen image to encode.
type Frame struct {
	// Pix holds Height rows of Stride bytes, each pixel 4 bytes B, G, R, X
	// (an X11 ZPixmap at depth 24/32 on a little-endian host). Encode
	// does not keep it.
	Pix []byte
	// Width and Height are even, at most MaxDimension. A size other than
	// the previous frame's restarts the codec, so that frame is a keyframe.
	Width, Height int
	// Stride is the number of bytes from one row to the next: a multiple
	// of 4, at least 4*Width.
	Stride int
	// Shared says Pix is (the start of) the SysV shared memory segment
	// ShmID, which the helper, in the same IPC namespace, reads in place:
	// only the header crosses the pipe.
	Shared bool
	ShmID  int
	// Keyframe forces a keyframe (a new viewer, a picture loss).
	Keyframe bool
	// Repeat encodes the previous frame's image again without sending
	// it: the keep-alive of a still screen, which skips the copy and the
	// color conversion. Pix and Stride are ignored; Width and Height must
	// be the previous frame's.
	Repeat bool
	// BitrateKbps, when not 0, retunes the rate control before this frame.
	BitrateKbps int
	// PTS is the frame's presentation time, sent at millisecond precision.
	PTS time.Duration
}

// Packet is the encoded frame.
type Packet struct {
	// Data is one VP8 frame, or one H.264 access unit in Annex B form
	// with SPS and PPS before every IDR. It is empty when the encoder
	// produced nothing for the frame. The caller owns it.
	Data     []byte
	Keyframe bool
	PTS      time.Duration
}

// Encoder is a running helper. It is not safe for concurrent use: Encode
// is one request and one response on a single pipe, so the caller
// serializes Encode and Close.
type Encoder struct {
	ctx    context.Context
	cmd    *exec.Cmd
	wait   func(*exec.Cmd) error
	in     *os.File // the helper's stdin, our end
	out    *os.File // the helper's stdout, our end
	w      *bufio.Writer
	r      *bufio.Reader
	stderr *tail
	req    [requestSize]byte
	resp   [responseSize]byte

	// failed, once set, is returned by every later call: after a failed
	// exchange the stream is out of step, and the helper is gone.
	failed error
	// lastW and lastH are the size of the last frame sent with pixels:
	// what a repeat must match. 0 before the first.
	lastW, lastH int
	exited       bool  // the helper has been waited for
	exit         error // its exit, an *ExitError (nil: status 0)
}

// Start runs the helper. ctx bounds its whole life: when ctx ends the
// helper is killed and Encode fails.
func Start(ctx context.Context, cfg Config) (*Encoder, error) {
	if cfg.Path == "" {
		cfg.Path = "airlock-encoder"
	}
	if cfg.Codec == "" {
		cfg.Codec = "vp8"
	}
	if cfg.FPS == 0 {
		cfg.FPS = 30
	}
	if cfg.BitrateKbps == 0 {
		cfg.BitrateKbps = 2500
	}
	if cfg.Threads == 0 {
		cfg.Threads = 2
	}
	if cfg.Start == nil {
		cfg.Start = (*exec.Cmd).Start
	}
	if cfg.Wait == nil {
		cfg.Wait = (*exec.Cmd).Wait
	}
	switch {
	case cfg.Codec != "vp8" && cfg.Codec != "h264":
		return nil, fmt.Errorf("encoder: codec %q: want vp8 or h264", cfg.Codec)
	case cfg.FPS < 1 || cfg.FPS > maxFPS:
		return nil, fmt.Errorf("encoder: fps %d: want 1 to %d", cfg.FPS, maxFPS)
	case cfg.BitrateKbps < minKbps || cfg.BitrateKbps > maxKbps:
		return nil, fmt.Errorf("encoder: bitrate %d kbit/s: want %d to %d", cfg.BitrateKbps, minKbps, maxKbps)
	case cfg.Threads < 1 || cfg.Threads > maxThreads:
		return nil, fmt.Errorf("encoder: threads %d: want 1 to %d", cfg.Threads, maxThreads)
	}

	// Our own pipes rather than StdinPipe/StdoutPipe, which Wait closes
	// (so it may only come after the last read): here the encoder decides
	// when each end closes, exec starts no copying goroutine for them, and
	// a helper that died shows at once as EOF or EPIPE.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("encoder: %w", err)
	}
	stderr := &tail{}
	cmd := exec.CommandContext(ctx, cfg.Path, "-codec", cfg.Codec, "-fps", strconv.Itoa(cfg.FPS),
		"-bitrate", strconv.Itoa(cfg.BitrateKbps), "-threads", strconv.Itoa(cfg.Threads))
	cmd.Stdin = inR
	cmd.Stdout = outW
	cmd.Stderr = stderr
	// A grandchild holding stderr open must not hang Wait.
	cmd.WaitDelay = exitGrace
	err = cfg.Start(cmd)
	// The child has its own copies now (or never will).
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("encoder: start %s: %w", cfg.Path, err)
	}
	return &Encoder{
		ctx:    ctx,
		cmd:    cmd,
		wait:   cfg.Wait,
		in:     inW,
		out:    outR,
		w:      bufio.NewWriterSize(inW, 256<<10),
		r:      bufio.NewReaderSize(outR, 64<<10),
		stderr: stderr,
	}, nil
}

// Encode sends f and returns its packet. An invalid frame is refused
// before anything is sent, and the encoder stays usable; any other error
// means the helper is gone, and later calls return the same error.
func (e *Encoder) Encode(f Frame) (Packet, error) {
	if e.failed != nil {
		return Packet{}, e.failed
	}
	if e.exited {
		return Packet{}, errors.New("encoder: closed")
	}
	if err := f.validate(); err != nil {
		return Packet{}, fmt.Errorf("encoder: %w: %w", ErrInvalidFrame, err)
	}
	if f.Repeat && (f.Width != e.lastW || f.Height != e.lastH) {
		return Packet{}, fmt.Errorf("encoder: %w: repeat of a %dx%d frame, but the last frame was %dx%d", ErrInvalidFrame, f.Width, f.Height, e.lastW, e.lastH)
	}
	pts := uint64(f.PTS.Milliseconds())
	var flags uint32
	if f.Keyframe {
		flags |= flagKeyframe
	}
	stride := f.Stride
	switch {
	case f.Repeat:
		flags |= flagRepeat
		stride = 4 * f.Width // ignored by the helper, but checked
	case f.Shared:
		flags |= flagShm
	}
	copy(e.req[:4], "AFRM")
	binary.LittleEndian.PutUint32(e.req[4:], flags)
	binary.LittleEndian.PutUint32(e.req[8:], uint32(f.Width))
	binary.LittleEndian.PutUint32(e.req[12:], uint32(f.Height))
	binary.LittleEndian.PutUint32(e.req[16:], uint32(stride))
	binary.LittleEndian.PutUint32(e.req[20:], uint32(f.BitrateKbps))
	binary.LittleEndian.PutUint64(e.req[24:], pts)
	e.w.Write(e.req[:]) // errors stick in the bufio.Writer until Flush
	switch {
	case f.Repeat:
	case f.Shared:
		var id [4]byte
		binary.LittleEndian.PutUint32(id[:], uint32(f.ShmID))
		e.w.Write(id[:])
	default:
		e.w.Write(f.Pix[:f.Stride*f.Height])
	}
	if err := e.w.Flush(); err != nil {
		return Packet{}, e.fail("send frame", err)
	}
	if !f.Repeat {
		e.lastW, e.lastH = f.Width, f.Height
	}

	if _, err := io.ReadFull(e.r, e.resp[:]); err != nil {
		return Packet{}, e.fail("read packet header", err)
	}
	if !bytes.Equal(e.resp[:4], []byte("APKT")) {
		return Packet{}, e.fail("read packet header", fmt.Errorf("bad magic %q (want \"APKT\")", e.resp[:4]))
	}
	rflags := binary.LittleEndian.Uint32(e.resp[4:])
	size := binary.LittleEndian.Uint32(e.resp[8:])
	rpts := binary.LittleEndian.Uint64(e.resp[16:])
	switch {
	case rflags&^flagKeyframe != 0:
		return Packet{}, e.fail("read packet header", fmt.Errorf("unknown flags %#x", rflags))
	case size > maxPacket:
		return Packet{}, e.fail("read packet header", fmt.Errorf("packet of %d bytes (limit %d)", size, maxPacket))
	case rpts != pts:
		return Packet{}, e.fail("read packet header", fmt.Errorf("answer for pts %dms to the frame of pts %dms", rpts, pts))
	}
	p := Packet{Keyframe: rflags&flagKeyframe != 0, PTS: time.Duration(rpts) * time.Millisecond}
	if size > 0 {
		p.Data = make([]byte, size)
		if _, err := io.ReadFull(e.r, p.Data); err != nil {
			return Packet{}, e.fail(fmt.Sprintf("read packet of %d bytes", size), err)
		}
	}
	return p, nil
}

func (f *Frame) validate() error {
	switch {
	case f.Width <= 0 || f.Height <= 0 || f.Width > MaxDimension || f.Height > MaxDimension:
		return fmt.Errorf("frame size %dx%d: want 2 to %d each", f.Width, f.Height, MaxDimension)
	case f.Width%2 != 0 || f.Height%2 != 0:
		return fmt.Errorf("frame size %dx%d: width and height must be even (4:2:0 chroma)", f.Width, f.Height)
	case !f.Repeat && (f.Stride < 4*f.Width || f.Stride%4 != 0 || f.Stride > maxStride):
		return fmt.Errorf("frame stride %d for width %d: want a multiple of 4, from %d to %d", f.Stride, f.Width, 4*f.Width, maxStride)
	case !f.Repeat && len(f.Pix) < f.Stride*f.Height:
		return fmt.Errorf("frame of %d bytes is shorter than stride*height = %d", len(f.Pix), f.Stride*f.Height)
	case f.BitrateKbps != 0 && (f.BitrateKbps < minKbps || f.BitrateKbps > maxKbps):
		return fmt.Errorf("bitrate %d kbit/s: want 0 (unchanged) or %d to %d", f.BitrateKbps, minKbps, maxKbps)
	case f.PTS < 0:
		return fmt.Errorf("negative pts %v", f.PTS)
	case f.Shared && !f.Repeat && f.ShmID < 0:
		return fmt.Errorf("shared memory id %d", f.ShmID)
	}
	return nil
}

// fail ends the helper after a failed exchange and makes the error sticky.
// When the helper exited on its own its status and stderr say why, which
// beats "broken pipe" or "EOF"; a helper still running is out of step and
// is killed.
func (e *Encoder) fail(op string, err error) error {
	gone := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE)
	if !gone {
		e.cmd.Process.Kill()
	}
	if exit := e.finish(); gone && exit != nil {
		err = exit
	} else if gone {
		err = fmt.Errorf("%w (encoder exited with status 0)", err)
	}
	e.failed = fmt.Errorf("encoder: %s: %w", op, err)
	return e.failed
}

// Close ends the helper: it closes its stdin, which the helper takes as
// the end of the stream, and waits for it to exit. It reports a non-zero
// exit, with the end of the helper's stderr, or the error that already
// ended the encoder.
func (e *Encoder) Close() error {
	exit := e.finish()
	if e.failed != nil {
		return e.failed
	}
	return exit
}

// finish closes stdin, waits for the helper (killing it after exitGrace)
// and releases the pipes, once. It returns the helper's exit as an error.
func (e *Encoder) finish() error {
	if e.exited {
		return e.exit
	}
	e.exited = true
	e.in.Close()
	done := make(chan error, 1)
	go func() { done <- e.wait(e.cmd) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(exitGrace):
		e.cmd.Process.Kill()
		err = fmt.Errorf("%w after it ignored the end of its input for %v", <-done, exitGrace)
	}
	e.out.Close()
	if err != nil {
		e.exit = &ExitError{Err: err, Stderr: e.stderr.String(), Context: e.ctx.Err()}
	}
	return e.exit
}

// ExitError reports a helper that exited with a non-zero status or was
// killed.
type ExitError struct {
	Err     error  // from Wait, often an *exec.ExitError
	Stderr  string // the end of the helper's stderr
	Context error  // the context's error, when it ended the helper
}

func (e *ExitError) Error() string {
	var b strings.Builder
	b.WriteString("encoder exited: ")
	var ee *exec.ExitError
	if errors.As(e.Err, &ee) && ee.Exited() {
		fmt.Fprintf(&b, "status %d", ee.ExitCode())
	} else {
		b.WriteString(e.Err.Error())
	}
	if e.Context != nil {
		fmt.Fprintf(&b, " (%v)", e.Context)
	}
	if e.Stderr != "" {
		b.WriteString(": ")
		b.WriteString(e.Stderr)
	}
	return b.String()
}

func (e *ExitError) Unwrap() error { return e.Err }

// tail keeps the last stderrTail bytes written to it. exec copies the
// helper's stderr into it from its own goroutine.
type tail struct {
	mu  sync.Mutex
	buf []byte
	cut bool
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) > stderrTail {
		p = p[len(p)-stderrTail:]
		t.cut = true
	}
	if over := len(t.buf) + len(p) - stderrTail; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.cut = true
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// String is the tail on one line, marked when cut.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lines []string
	for _, l := range strings.Split(string(t.buf), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	s := strings.Join(lines, "; ")
	if t.cut && s != "" {
		s = "..." + s
	}
	return s
}
