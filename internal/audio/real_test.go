package audio

import (
	"context"
	"encoding/binary"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// realHelper builds the image's helper for this host, or skips the test
// when the host lacks what it needs (the image build checks it too).
func realHelper(t *testing.T) (helper string) {
	t.Helper()
	for _, p := range []string{"gcc", "pulseaudio", "pacat"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed: the real helper is tested in the image only", p)
		}
	}
	helper = filepath.Join(t.TempDir(), "airlock-audio")
	out, err := exec.Command("gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", helper,
		"../../images/chromium/audio/airlock-audio.c", "-lpulse", "-lopus").CombinedOutput()
	if err != nil {
		t.Skipf("cannot build the helper here (libpulse-dev, libopus-dev?): %v\n%s", err, out)
	}
	return helper
}

// tone is secs of silence, then secs of a 1 kHz tone, as pacat's raw
// s16le stereo.
func tone(silence, sound float64) []byte {
	var b []byte
	n0, n1 := int(silence*Rate), int(sound*Rate)
	for i := range n0 + n1 {
		v := int16(0)
		if i >= n0 {
			v = int16(8000 * math.Sin(2*math.Pi*1000*float64(i)/Rate))
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}

// TestRealHelper runs the real daemon and helper: a stream of silence and
// then half a second of tone comes out as packets for the tone alone.
func TestRealHelper(t *testing.T) {
	helper := realHelper(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "pa") // short: a unix socket path has 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, err := StartServer(ctx, ServerConfig{Dir: filepath.Join(dir, "pulse")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	pkts := make(chan Packet, 1000)
	runDone := make(chan struct{})
	go func() {
		Run(ctx, srv, CaptureConfig{Path: helper}, slog.New(slog.NewTextHandler(os.Stderr, nil)), func(p Packet) { pkts <- p })
		close(runDone)
	}()

	raw := filepath.Join(dir, "tone.raw")
	if err := os.WriteFile(raw, tone(1, 0.5), 0o600); err != nil {
		t.Fatal(err)
	}
	// The whole file fits in the server's buffer at once (a latency of 2 s
	// for 1.5 s of sound), so a client slowed by a loaded machine cannot
	// underrun it: a gap in the tone is then the helper's, not pacat's.
	play := exec.CommandContext(ctx, "pacat", "--raw", "--format=s16le", "--rate=48000", "--channels=2", "--latency-msec=2000", raw)
	play.Env = append(os.Environ(), "PULSE_SERVER="+srv.Address())
	if out, err := play.CombinedOutput(); err != nil {
		t.Fatalf("pacat: %v\n%s", err, out)
	}
	// pacat returns once the server has played its last sample, so every
	// packet of the tone is on its way; the helper's first non-silent
	// frame after a second of silence, and every one after it, came out.
	var got []Packet
	for timeout := time.After(10 * time.Second); len(got) < 45; {
		select {
		case p := <-pkts:
			got = append(got, p)
		case <-timeout:
			t.Fatalf("%d packets of the tone arrived, want about 50", len(got))
		}
	}
	cancel()
	<-runDone
	close(pkts)
	for p := range pkts {
		got = append(got, p)
	}
	// Half a second is 50 frames of 10 ms (51 when the tone straddles a
	// frame boundary); the second of silence before it, 100 more frames,
	// must not be among them.
	if len(got) > 52 {
		t.Fatalf("%d packets for half a second of tone after a second of silence: the silence was sent", len(got))
	}
	for i := 1; i < len(got); i++ {
		if d := got[i].Pos - got[i-1].Pos; d != 480 {
			t.Fatalf("packet %d is %d samples after the previous one, want 480 (one frame) within the tone", i, d)
		}
	}
}
