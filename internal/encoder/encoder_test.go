package encoder

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tests run this test binary as the helper: with
// GO_WANT_HELPER_PROCESS=1 it is fakeHelper instead, behaving as
// FAKE_ENCODER_MODE says.
func TestMain(m *testing.M) {
	if os.Getenv("GO_WANT_HELPER_PROCESS") == "1" {
		os.Exit(fakeHelper(os.Getenv("FAKE_ENCODER_MODE"), os.Args[1:]))
	}
	os.Exit(m.Run())
}

// echo is what the fake answers in "echo" mode: what it received.
type echo struct {
	Args                           []string
	Flags, W, H, Stride, Kbps, Seq uint32
	PTS                            uint64
	CRC                            uint32
}

func fakeHelper(mode string, args []string) int {
	in, out := os.Stdin, os.Stdout
	if mode == "exit-at-once" {
		fmt.Fprintln(os.Stderr, "airlock-encoder: -codec vp9: want vp8 or h264")
		return 2
	}
	var hdr [requestSize]byte
	var crc uint32 // of the last pixels, which a repeat encodes again
	for seq := uint32(0); ; seq++ {
		if _, err := io.ReadFull(in, hdr[:]); err == io.EOF {
			switch mode {
			case "fail-at-eof":
				fmt.Fprintln(os.Stderr, "x264 [error]: lost the plot")
				return 1
			case "ignore-eof":
				time.Sleep(time.Minute)
			}
			return 0
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "fake: read header:", err)
			return 1
		}
		if string(hdr[:4]) != "AFRM" {
			fmt.Fprintf(os.Stderr, "fake: bad magic %q\n", hdr[:4])
			return 1
		}
		le := binary.LittleEndian
		e := echo{Args: args, Flags: le.Uint32(hdr[4:]), W: le.Uint32(hdr[8:]), H: le.Uint32(hdr[12:]),
			Stride: le.Uint32(hdr[16:]), Kbps: le.Uint32(hdr[20:]), PTS: le.Uint64(hdr[24:]), Seq: seq}
		switch mode {
		case "die-after-header":
			fmt.Fprintln(os.Stderr, "airlock-encoder: vp8: init: Memory allocation error")
			return 1
		case "kill-self":
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		case "noisy":
			for i := range 5000 {
				fmt.Fprintf(os.Stderr, "warning %d\n", i)
			}
			fmt.Fprintln(os.Stderr, "the last word")
			return 1
		}
		if e.Flags&flagShm != 0 {
			var id [4]byte
			if _, err := io.ReadFull(in, id[:]); err != nil {
				fmt.Fprintln(os.Stderr, "fake: read shm id:", err)
				return 1
			}
			mem, err := unix.SysvShmAttach(int(le.Uint32(id[:])), 0, unix.SHM_RDONLY)
			if err != nil {
				fmt.Fprintln(os.Stderr, "fake: attach shm:", err)
				return 1
			}
			crc = crc32.ChecksumIEEE(mem[:int(e.Stride)*int(e.H)])
			_ = unix.SysvShmDetach(mem)
		} else if e.Flags&flagRepeat == 0 {
			pix := make([]byte, int(e.Stride)*int(e.H))
			if _, err := io.ReadFull(in, pix); err != nil {
				fmt.Fprintln(os.Stderr, "fake: read pixels:", err)
				return 1
			}
			crc = crc32.ChecksumIEEE(pix)
		}
		e.CRC = crc
		data, _ := json.Marshal(e)
		magic, flags, size, pts := "APKT", e.Flags&flagKeyframe, uint32(len(data)), e.PTS
		if seq == 0 {
			flags = flagKeyframe
		}
		switch mode {
		case "hang":
			time.Sleep(time.Minute)
		case "empty":
			data, size = nil, 0
		case "bad-magic", "bad-magic-stay":
			magic = "VP80"
		case "bad-flags":
			flags = 0x80
		case "huge":
			size = 1 << 30
		case "wrong-pts":
			pts++
		case "short":
			size = uint32(len(data)) + 100
		}
		var resp [responseSize]byte
		copy(resp[:], magic)
		le.PutUint32(resp[4:], flags)
		le.PutUint32(resp[8:], size)
		le.PutUint64(resp[16:], pts)
		out.Write(resp[:])
		out.Write(data)
		switch mode {
		case "short":
			return 0
		case "bad-magic-stay":
			time.Sleep(time.Minute)
		}
	}
}

// start runs the fake helper in mode, through the Start hook, as the
// agent passes its own.
func start(t *testing.T, ctx context.Context, mode string, cfg Config) *Encoder {
	t.Helper()
	cfg.Path = os.Args[0]
	cfg.Start = func(cmd *exec.Cmd) error {
		cmd.Env = append(os.Environ(), "GO_WANT_HELPER_PROCESS=1", "FAKE_ENCODER_MODE="+mode)
		return cmd.Start()
	}
	e, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func frame(w, h int) Frame {
	pix := make([]byte, 4*w*h)
	for i := range pix {
		pix[i] = byte(i * 7)
	}
	return Frame{Pix: pix, Width: w, Height: h, Stride: 4 * w}
}

func decode(t *testing.T, p Packet) echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal(p.Data, &e); err != nil {
		t.Fatalf("packet %q: %v", p.Data, err)
	}
	return e
}

func TestRoundTrip(t *testing.T) {
	var waits atomic.Int32
	cfg := Config{Codec: "h264", FPS: 60, BitrateKbps: 4000, Threads: 3,
		Wait: func(cmd *exec.Cmd) error { waits.Add(1); return cmd.Wait() }}
	e := start(t, context.Background(), "echo", cfg)

	// A padded stride and a buffer longer than the frame: exactly
	// stride*height bytes go out.
	f := frame(10, 6)
	f.Stride = 48
	f.Pix = append(make([]byte, 48*6), 1, 2, 3)
	for i := range f.Pix {
		f.Pix[i] = byte(i)
	}
	f.PTS = 1500*time.Millisecond + 700*time.Microsecond
	p, err := e.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, p)
	want := echo{Args: []string{"-codec", "h264", "-fps", "60", "-bitrate", "4000", "-threads", "3"},
		W: 10, H: 6, Stride: 48, PTS: 1500, CRC: crc32.ChecksumIEEE(f.Pix[:48*6])}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("helper got %+v, want %+v", got, want)
	}
	if !p.Keyframe || p.PTS != 1500*time.Millisecond {
		t.Fatalf("packet keyframe %v pts %v, want true 1.5s", p.Keyframe, p.PTS)
	}

	// Larger than any pipe buffer, with the keyframe and bitrate fields.
	big := frame(1280, 720)
	big.Keyframe, big.BitrateKbps, big.PTS = true, 1200, 2*time.Second
	p, err = e.Encode(big)
	if err != nil {
		t.Fatal(err)
	}
	got = decode(t, p)
	if got.Flags != flagKeyframe || got.Kbps != 1200 || got.W != 1280 || got.H != 720 || got.Seq != 1 ||
		got.CRC != crc32.ChecksumIEEE(big.Pix) || !p.Keyframe {
		t.Fatalf("helper got %+v (keyframe %v)", got, p.Keyframe)
	}
	big.Keyframe, big.BitrateKbps = false, 0
	if p, err = e.Encode(big); err != nil || p.Keyframe || decode(t, p).Flags != 0 {
		t.Fatalf("plain frame: %v keyframe %v", err, p.Keyframe)
	}

	if err := e.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if waits.Load() != 1 {
		t.Fatalf("Wait hook ran %d times, want 1", waits.Load())
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := e.Encode(big); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("encode after close: %v", err)
	}
}

func TestEmptyPacket(t *testing.T) {
	e := start(t, context.Background(), "empty", Config{})
	p, err := e.Encode(frame(4, 4))
	if err != nil || len(p.Data) != 0 {
		t.Fatalf("got %d bytes, %v; want none", len(p.Data), err)
	}
}

// An invalid frame is refused before anything is sent: the next valid
// one still works.
func TestRepeat(t *testing.T) {
	e := start(t, context.Background(), "echo", Config{})
	if _, err := e.Encode(Frame{Width: 16, Height: 8, Repeat: true}); err == nil || !strings.Contains(err.Error(), "the last frame was 0x0") {
		t.Fatalf("a repeat before any frame: %v, want a refusal", err)
	}
	f := frame(16, 8)
	first, err := e.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		frame Frame
		want  string // an error; "" for a repeat that goes through
	}{
		{"repeat", Frame{Width: 16, Height: 8, Repeat: true}, ""},
		{"repeat with a keyframe and a bitrate", Frame{Width: 16, Height: 8, Repeat: true, Keyframe: true, BitrateKbps: 900}, ""},
		{"other size", Frame{Width: 32, Height: 8, Repeat: true}, "repeat of a 32x8 frame, but the last frame was 16x8"},
		{"bad bitrate", Frame{Width: 16, Height: 8, Repeat: true, BitrateKbps: 1}, "bitrate 1 kbit/s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := e.Encode(tc.frame)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want an error containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, want := decode(t, p), decode(t, first)
			if got.Flags&flagRepeat == 0 || got.CRC != want.CRC || got.W != 16 || got.H != 8 {
				t.Fatalf("the helper got %+v, want a repeat of %+v", got, want)
			}
		})
	}
	// The stream is still in step: no pixels went with the repeats.
	g := frame(16, 8)
	g.Pix[0]++
	p, err := e.Encode(g)
	if err != nil {
		t.Fatal(err)
	}
	if decode(t, p).CRC == decode(t, first).CRC {
		t.Fatal("a new frame after repeats: the helper saw the old pixels")
	}
}

func TestSharedMemory(t *testing.T) {
	e := start(t, context.Background(), "echo", Config{})
	f := frame(16, 8)
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, len(f.Pix), unix.IPC_CREAT|0o600)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := unix.SysvShmAttach(id, 0, 0)
	_, _ = unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.SysvShmDetach(mem)
	copy(mem, f.Pix)
	p, err := e.Encode(Frame{Pix: mem, Width: 16, Height: 8, Stride: 64, Shared: true, ShmID: id})
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, p)
	if got.Flags&flagShm == 0 || got.CRC != crc32.ChecksumIEEE(f.Pix) {
		t.Fatalf("the helper got %+v, want the pixels of the segment by id", got)
	}
	// Only the id crossed the pipe: the next frame is still in step.
	if p, err = e.Encode(f); err != nil || decode(t, p).CRC != crc32.ChecksumIEEE(f.Pix) {
		t.Fatalf("a piped frame after a shared one: %v", err)
	}
	if _, err := e.Encode(Frame{Pix: mem, Width: 16, Height: 8, Stride: 64, Shared: true, ShmID: -1}); err == nil || !strings.Contains(err.Error(), "shared memory id -1") {
		t.Fatalf("a negative id: %v, want a refusal", err)
	}
}

func TestInvalidFrames(t *testing.T) {
	e := start(t, context.Background(), "echo", Config{})
	for _, tc := range []struct {
		name string
		edit func(*Frame)
		want string
	}{
		{"odd-width", func(f *Frame) { f.Width = 15 }, "must be even"},
		{"odd-height", func(f *Frame) { f.Height = 7 }, "must be even"},
		{"zero", func(f *Frame) { f.Width = 0 }, "frame size 0x8"},
		{"too-wide", func(f *Frame) { f.Width, f.Stride = 4098, 4*4098 }, "want 2 to 4096"},
		{"short-stride", func(f *Frame) { f.Stride = 60 }, "frame stride 60 for width 16"},
		{"unaligned-stride", func(f *Frame) { f.Stride = 66 }, "multiple of 4"},
		{"short-pix", func(f *Frame) { f.Pix = f.Pix[:len(f.Pix)-1] }, "shorter than stride*height = 512"},
		{"bitrate", func(f *Frame) { f.BitrateKbps = 5 }, "bitrate 5 kbit/s"},
		{"negative-pts", func(f *Frame) { f.PTS = -time.Second }, "negative pts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := frame(16, 8)
			tc.edit(&f)
			_, err := e.Encode(f)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidFrame) {
				t.Fatalf("got %v, want an ErrInvalidFrame containing %q", err, tc.want)
			}
			if _, err := e.Encode(frame(16, 8)); err != nil {
				t.Fatalf("a valid frame after: %v", err)
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Codec: "vp9"}, `codec "vp9"`},
		{Config{FPS: -1}, "fps -1"},
		{Config{BitrateKbps: 1}, "bitrate 1 kbit/s"},
		{Config{Threads: 100}, "threads 100"},
		{Config{Path: "/nonexistent/airlock-encoder"}, "start /nonexistent/airlock-encoder"},
		{Config{Start: func(*exec.Cmd) error { return errors.New("pids limit") }}, "pids limit"},
	} {
		if _, err := Start(context.Background(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}

// Each way the helper can fail gives an error that says what happened,
// from Encode, from every later Encode, and from Close.
func TestHelperFailures(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		frame Frame
		want  []string
	}{
		{"exit-at-once", frame(4, 4), []string{"encoder exited: status 2: airlock-encoder: -codec vp9: want vp8 or h264"}},
		// Small: the frame fits in the pipe, the read sees EOF. Big: the
		// write fails with EPIPE. Either way the status and stderr tell.
		{"die-after-header", frame(4, 4), []string{"encoder exited: status 1: airlock-encoder: vp8: init: Memory allocation error"}},
		{"die-after-header", frame(1920, 1080), []string{"encoder: send frame: encoder exited: status 1: airlock-encoder: vp8: init"}},
		{"kill-self", frame(4, 4), []string{"encoder exited: signal: killed"}},
		{"noisy", frame(4, 4), []string{"encoder exited: status 1: ...", "warning 4999; the last word"}},
		{"bad-magic", frame(4, 4), []string{`read packet header: bad magic "VP80" (want "APKT")`}},
		{"bad-flags", frame(4, 4), []string{"read packet header: unknown flags 0x80"}},
		{"huge", frame(4, 4), []string{"packet of 1073741824 bytes (limit 67108864)"}},
		{"wrong-pts", frame(4, 4), []string{"answer for pts 1ms to the frame of pts 0ms"}},
		{"short", frame(4, 4), []string{"read packet of", "unexpected EOF (encoder exited with status 0)"}},
	} {
		t.Run(tc.mode+fmt.Sprintf("/%dx%d", tc.frame.Width, tc.frame.Height), func(t *testing.T) {
			e := start(t, context.Background(), tc.mode, Config{})
			_, err := e.Encode(tc.frame)
			check := func(what string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: no error", what)
				}
				if errors.Is(err, ErrInvalidFrame) {
					t.Fatalf("%s: %v: a dead helper reported as an invalid frame", what, err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Fatalf("%s: %q does not contain %q", what, err, w)
					}
				}
			}
			check("encode", err)
			_, again := e.Encode(tc.frame)
			check("encode again", again)
			check("close", e.Close())
		})
	}
}

// A helper out of step is killed at once, not waited for.
func TestOutOfStepHelperIsKilled(t *testing.T) {
	e := start(t, context.Background(), "bad-magic-stay", Config{})
	began := time.Now()
	_, err := e.Encode(frame(4, 4))
	if err == nil || !strings.Contains(err.Error(), "bad magic") {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(began); d > exitGrace/2 {
		t.Fatalf("took %v: the helper was not killed", d)
	}
}

func TestExitStatusAtClose(t *testing.T) {
	e := start(t, context.Background(), "fail-at-eof", Config{})
	if _, err := e.Encode(frame(8, 8)); err != nil {
		t.Fatal(err)
	}
	err := e.Close()
	var exit *ExitError
	if !errors.As(err, &exit) || err.Error() != "encoder exited: status 1: x264 [error]: lost the plot" {
		t.Fatalf("close: %v", err)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("close: %v does not wrap the exec.ExitError", err)
	}
}

func TestContextEndsHelper(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	e := start(t, ctx, "hang", Config{})
	began := time.Now()
	_, err := e.Encode(frame(8, 8))
	if err == nil || !strings.Contains(err.Error(), "encoder exited: signal: killed (context deadline exceeded)") {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestCloseKillsAHelperThatStays(t *testing.T) {
	e := start(t, context.Background(), "ignore-eof", Config{})
	began := time.Now()
	err := e.Close()
	if err == nil || !strings.Contains(err.Error(), "encoder exited: signal: killed after it ignored the end of its input") {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(began); d < exitGrace || d > exitGrace+3*time.Second {
		t.Fatalf("took %v, want about %v", d, exitGrace)
	}
}

func TestStderrTail(t *testing.T) {
	var tl tail
	if tl.String() != "" {
		t.Fatal("empty tail not empty")
	}
	tl.Write([]byte("  first\n\n second  \n"))
	if got := tl.String(); got != "first; second" {
		t.Fatalf("got %q", got)
	}
	tl.Write(bytes.Repeat([]byte("x"), 3*stderrTail))
	tl.Write([]byte("\nend\n"))
	got := tl.String()
	if !strings.HasPrefix(got, "...xxx") || !strings.HasSuffix(got, "x; end") || len(got) > stderrTail+10 {
		t.Fatalf("got %d bytes: %.40q...%q", len(got), got, got[len(got)-10:])
	}
}

// BenchmarkEncode times the real helper named by $AIRLOCK_ENCODER (for
// instance gcc -O3 images/chromium/encoder/airlock-encoder.c -lvpx -lx264 -lyuv,
// with libvpx-dev, libx264-dev and libyuv-dev installed)
// on 1280x720 frames of a page of text with a blinking caret: the steady
// state of a browser screen.
func BenchmarkEncode(b *testing.B) {
	path := os.Getenv("AIRLOCK_ENCODER")
	if path == "" {
		b.Skip("set AIRLOCK_ENCODER to an airlock-encoder binary")
	}
	const w, h = 1280, 720
	page := bytes.Repeat([]byte{0xff, 0xff, 0xff, 0}, w*h)
	seed := uint32(1)
	for y := 60; y+12 < h; y += 20 {
		for x := 16; x < w-16; x++ {
			for yy := y; yy < y+12; yy++ {
				if seed = seed*1664525 + 1013904223; seed>>29 < 3 {
					copy(page[(yy*w+x)*4:], []byte{0x20, 0x20, 0x20})
				}
			}
		}
	}
	for _, codec := range []string{"vp8", "h264"} {
		b.Run(codec, func(b *testing.B) {
			e, err := Start(context.Background(), Config{Path: path, Codec: codec})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			f := Frame{Pix: bytes.Clone(page), Width: w, Height: h, Stride: 4 * w}
			if _, err := e.Encode(f); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				f.PTS = time.Duration(i+1) * 33 * time.Millisecond
				for y := 62; y < 74; y++ {
					copy(f.Pix[(y*w+600)*4:], bytes.Repeat([]byte{byte(255 * (i % 2)), 0, 0, 0}, 2))
				}
				if _, err := e.Encode(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
