package audio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The tests run this test binary as the helper: with
// GO_WANT_HELPER_PROCESS=1 it is fakeHelper instead, behaving as
// FAKE_AUDIO_MODE says.
func TestMain(m *testing.M) {
	if os.Getenv("GO_WANT_HELPER_PROCESS") == "1" {
		os.Exit(fakeHelper(os.Getenv("FAKE_AUDIO_MODE")))
	}
	os.Exit(m.Run())
}

func fakeHelper(mode string) int {
	var out []byte
	switch mode {
	case "three":
		// Two packets in a row, then one after 1 s of silence.
		for _, pos := range []uint64{0, 480, 48960} {
			out = AppendPacket(out, Packet{Data: []byte{0xfc, byte(pos)}, Pos: pos})
		}
	case "backwards":
		out = AppendPacket(AppendPacket(out, Packet{Data: []byte{1}, Pos: 960}), Packet{Data: []byte{2}, Pos: 961})
	case "garbage":
		out = append(AppendPacket(out, Packet{Data: []byte{1}}), "hello, world...."...)
	case "die":
		fmt.Fprintln(os.Stderr, "airlock-audio: connect to the sound server: Connection refused")
		return 1
	}
	os.Stdout.Write(out)
	if mode == "three" {
		// Like the real helper: run until stdin closes.
		io.Copy(io.Discard, os.Stdin)
	}
	return 0
}

func fake(t *testing.T, mode string) *Capture {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c, err := StartCapture(context.Background(), CaptureConfig{Path: exe, Server: "unix:/nowhere",
		Start: func(cmd *exec.Cmd) error {
			cmd.Env = append(cmd.Env, "GO_WANT_HELPER_PROCESS=1", "FAKE_AUDIO_MODE="+mode)
			return cmd.Start()
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCapture(t *testing.T) {
	c := fake(t, "three")
	for _, want := range []uint64{0, 480, 48960} {
		p, err := c.Read()
		if err != nil || p.Pos != want || len(p.Data) != 2 {
			t.Fatalf("packet at %d: got %+v, %v", want, p, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func TestCaptureFailures(t *testing.T) {
	tests := []struct {
		mode, want string
		bad        bool // ErrBadPacket
	}{
		{"backwards", "pos 961 is inside the previous packet", true},
		{"garbage", `magic "hell"`, true},
		{"die", "exit status 1: airlock-audio: connect to the sound server: Connection refused", false},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			c := fake(t, tt.mode)
			var err error
			for range 3 {
				if _, err = c.Read(); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrBadPacket) != tt.bad {
				t.Fatalf("err = %v, want one saying %q (bad packet: %v)", err, tt.want, tt.bad)
			}
		})
	}
}

func TestCaptureConfig(t *testing.T) {
	for _, cfg := range []CaptureConfig{
		{},
		{Server: "unix:/x", FrameMS: 15},
		{Server: "unix:/x", BitrateKbps: 600},
	} {
		if _, err := StartCapture(context.Background(), cfg); err == nil {
			t.Errorf("%+v: started", cfg)
		}
	}
}
