package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/encoder"
	"github.com/airlock-rbi/airlock/internal/stream"
)

// With AIRLOCK_FAKE_ENCODER set, the test binary is an encoder helper that
// answers one frame with a 3-byte packet and exits at the next: a helper
// that keeps crashing.
func TestMain(m *testing.M) {
	if os.Getenv("AIRLOCK_FAKE_ENCODER") != "" {
		os.Exit(fakeEncoderHelper())
	}
	if code, played := hardenHelper(); played {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func fakeEncoderHelper() int {
	var h [32]byte
	for n := 0; ; n++ {
		if _, err := io.ReadFull(os.Stdin, h[:]); err != nil {
			return 0
		}
		if n == 1 {
			return 3 // crash
		}
		le := binary.LittleEndian
		flags, height, stride := le.Uint32(h[4:]), le.Uint32(h[12:]), le.Uint32(h[16:])
		if flags&2 == 0 { // not a repeat: the pixels follow
			if _, err := io.CopyN(io.Discard, os.Stdin, int64(stride)*int64(height)); err != nil {
				return 1
			}
		}
		var r [24]byte
		copy(r[:], "APKT")
		le.PutUint32(r[8:], 3)
		copy(r[16:], h[24:32])
		os.Stdout.Write(append(r[:], 1, 2, 3))
	}
}

// crashingEncoders runs the fake helper that crashes at every second
// frame, on a clock the test moves.
func crashingEncoders(t *testing.T) (*encoders, *time.Time) {
	t.Helper()
	start := func() (*encoder.Encoder, error) {
		return encoder.Start(context.Background(), encoder.Config{Path: os.Args[0], Start: func(cmd *exec.Cmd) error {
			cmd.Env = append(os.Environ(), "AIRLOCK_FAKE_ENCODER=1")
			return cmd.Start()
		}})
	}
	e, err := newEncoders(start, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.close() })
	clock := time.Now()
	e.now = func() time.Time { return clock }
	return e, &clock
}

func TestEncoderRestarts(t *testing.T) {
	e, clock := crashingEncoders(t)
	frame := stream.Frame{Pix: make([]byte, 16*8*4), Width: 16, Height: 8, Stride: 64}

	tests := []struct {
		name    string
		frame   stream.Frame
		advance time.Duration
		want    error // nil, stream.ErrEncoderRestarted, or another error
	}{
		{"first frame", frame, 0, nil},
		{"helper dies: restart 1", frame, 0, stream.ErrEncoderRestarted},
		{"the new helper encodes", frame, 0, nil},
		{"an invalid frame is no crash", stream.Frame{Pix: frame.Pix, Width: 15, Height: 8, Stride: 64}, 0, encoder.ErrInvalidFrame},
		{"helper dies: restart 2", frame, 0, stream.ErrEncoderRestarted},
		{"encodes", frame, 0, nil},
		{"helper dies: restart 3", frame, 0, stream.ErrEncoderRestarted},
		{"encodes", frame, 0, nil},
		{"a fourth death within the minute ends it", frame, 0, errors.New("failed 4 times")},
	}
	for _, tc := range tests {
		*clock = clock.Add(tc.advance)
		data, _, err := e.encode(tc.frame, false, 0)
		switch {
		case tc.want == nil && (err != nil || len(data) != 3):
			t.Fatalf("%s: %d bytes, %v; want the packet", tc.name, len(data), err)
		case tc.want == stream.ErrEncoderRestarted || tc.want == encoder.ErrInvalidFrame:
			if !errors.Is(err, tc.want) {
				t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
			}
		case tc.want != nil && (err == nil || errors.Is(err, stream.ErrEncoderRestarted)):
			t.Fatalf("%s: %v, want the end of the stream", tc.name, err)
		}
	}
}

func TestEncoderRestartsAgainAfterAQuietMinute(t *testing.T) {
	e, clock := crashingEncoders(t)
	frame := stream.Frame{Pix: make([]byte, 16*8*4), Width: 16, Height: 8, Stride: 64}
	for i := range 2 * maxRestarts * 2 {
		*clock = clock.Add(restartWindow / time.Duration(maxRestarts) / 2 * 3) // crashes spread thinner than the limit
		if _, _, err := e.encode(frame, false, 0); err != nil && !errors.Is(err, stream.ErrEncoderRestarted) {
			t.Fatalf("frame %d: %v; crashes this far apart should restart the helper", i, err)
		}
	}
}
