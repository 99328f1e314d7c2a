package images_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/airlock-rbi/airlock/images"
	"github.com/airlock-rbi/airlock/internal/dockertest"
	"github.com/airlock-rbi/airlock/internal/encoder"
	"github.com/airlock-rbi/airlock/internal/imagebuild"
)

// bridgeEnv names the container in which this test binary, run as the
// encoder's Path, execs the real airlock-encoder: it carries stdin,
// stdout and stderr over the Docker API and exits with the helper's
// status, so internal/encoder drives the real helper as a local process.
const bridgeEnv = "AIRLOCK_TEST_ENCODER_CONTAINER"

func TestMain(m *testing.M) {
	if id := os.Getenv(bridgeEnv); id != "" {
		os.Exit(bridge(id, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func bridge(id string, args []string) int {
	ctx := context.Background()
	cli, err := dockertest.Connect(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bridge:", err)
		return 125
	}
	defer cli.Close()
	ex, err := cli.ContainerExecCreate(ctx, id, container.ExecOptions{
		Cmd: append([]string{"airlock-encoder"}, args...), AttachStdin: true, AttachStdout: true, AttachStderr: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bridge: exec:", err)
		return 125
	}
	hj, err := cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bridge: attach:", err)
		return 125
	}
	defer hj.Close()
	go func() {
		io.Copy(hj.Conn, os.Stdin)
		hj.CloseWrite() // the helper's EOF
	}()
	if _, err := stdcopy.StdCopy(os.Stdout, os.Stderr, hj.Reader); err != nil {
		fmt.Fprintln(os.Stderr, "bridge: copy:", err)
		return 125
	}
	for {
		st, err := cli.ContainerExecInspect(ctx, ex.ID)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bridge: inspect:", err)
			return 125
		}
		if !st.Running {
			return st.ExitCode
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// chromiumImage builds the Chromium workspace as TestChromiumSandboxThroughNode
// does: the Debian base when missing, then the image from a fresh airlock
// binary (which embeds the build context, so any change to the Dockerfile
// or the encoder's source rebuilds it).
func chromiumImage(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("bash", "../scripts/build-base-image.sh").CombinedOutput(); err != nil {
		t.Fatalf("base image: %v\n%s", err, out)
	}
	bin := filepath.Join(t.TempDir(), "airlock")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "../cmd/airlock")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build airlock: %v\n%s", err, out)
	}
	if _, err := imagebuild.Ensure(context.Background(), dockertest.Client(t), dockertest.ChromiumImage(), images.FS, "chromium", bin); err != nil {
		t.Fatal(err)
	}
}

// screen is a browser-like 1280x720 BGRX image: a white page with lines
// of dark glyph-sized marks under a coloured bar.
func screen(w, h int) encoder.Frame {
	pix := bytes.Repeat([]byte{0xff, 0xff, 0xff, 0}, w*h)
	seed := uint32(1)
	rnd := func(n uint32) uint32 { seed = seed*1664525 + 1013904223; return (seed >> 8) % n }
	for y := 0; y < 40 && y < h; y++ {
		copy(pix[y*4*w:(y+1)*4*w], bytes.Repeat([]byte{0xa0, 0x60, 0x20, 0}, w))
	}
	for ly := 60; ly+12 < h; ly += 20 {
		for x := 16; x+10 < w-16; {
			gw := int(4 + rnd(6))
			if rnd(7) == 0 {
				x += gw
				continue
			}
			for y := ly; y < ly+12; y++ {
				for xx := x; xx < x+gw; xx++ {
					if rnd(2) == 0 {
						copy(pix[(y*w+xx)*4:], []byte{0x20, 0x20, 0x20})
					}
				}
			}
			x += gw + 2
		}
	}
	return encoder.Frame{Pix: pix, Width: w, Height: h, Stride: 4 * w}
}

// TestEncoderInImage runs the real airlock-encoder of the Chromium
// workspace image through internal/encoder and checks its bitstreams.
func TestEncoderInImage(t *testing.T) {
	cli := dockertest.Client(t)
	chromiumImage(t)
	ctx := context.Background()
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: dockertest.ChromiumImage(), User: "1000:1000",
		Entrypoint: []string{"sleep", "infinity"}},
		&container.HostConfig{CapDrop: []string{"ALL"}, Resources: container.Resources{Memory: 1 << 30}}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	start := func(t *testing.T, codec string) *encoder.Encoder {
		t.Helper()
		e, err := encoder.Start(ctx, encoder.Config{Path: os.Args[0], Codec: codec, FPS: 30, BitrateKbps: 2500,
			Start: func(cmd *exec.Cmd) error {
				cmd.Env = append(os.Environ(), bridgeEnv+"="+c.ID)
				return cmd.Start()
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}
	encode := func(t *testing.T, e *encoder.Encoder, f encoder.Frame) encoder.Packet {
		t.Helper()
		p, err := e.Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		if p.PTS != f.PTS.Truncate(time.Millisecond) {
			t.Fatalf("packet pts %v for frame pts %v", p.PTS, f.PTS)
		}
		return p
	}

	t.Run("vp8", func(t *testing.T) {
		e := start(t, "vp8")
		f := screen(1280, 720)
		key := encode(t, e, f)
		vp8Key(t, "first frame", key, 1280, 720)

		f.PTS = 33 * time.Millisecond
		same := encode(t, e, f)
		if same.Keyframe || len(same.Data) == 0 || same.Data[0]&1 != 1 {
			t.Fatalf("unchanged frame: keyframe %v, %d bytes, want an interframe", same.Keyframe, len(same.Data))
		}
		if len(same.Data)*4 > len(key.Data) {
			t.Fatalf("unchanged frame of %d bytes, keyframe of %d: want it far smaller", len(same.Data), len(key.Data))
		}

		// Steady state: small changes (a blinking caret), timed.
		var spent time.Duration
		const n = 30
		for i := range n {
			f.PTS = time.Duration(66+33*i) * time.Millisecond
			for y := 62; y < 74; y++ {
				copy(f.Pix[(y*1280+600)*4:], bytes.Repeat([]byte{byte(255 * (i % 2)), 0, 0, 0}, 2))
			}
			began := time.Now()
			if p := encode(t, e, f); p.Keyframe {
				t.Fatalf("frame %d: an unasked keyframe", i)
			}
			spent += time.Since(began)
		}
		t.Logf("vp8 1280x720: %v per frame (through docker exec)", spent/n)

		// The keep-alive of a still screen: the last image again, sent
		// without pixels; as an interframe, and as a keyframe on request.
		rep := encode(t, e, encoder.Frame{Width: 1280, Height: 720, Repeat: true, PTS: 1500 * time.Millisecond})
		if rep.Keyframe || len(rep.Data) == 0 || rep.Data[0]&1 != 1 || len(rep.Data)*4 > len(key.Data) {
			t.Fatalf("repeat: keyframe %v, %d bytes (keyframe %d), want a small interframe", rep.Keyframe, len(rep.Data), len(key.Data))
		}
		vp8Key(t, "repeated keyframe", encode(t, e, encoder.Frame{Width: 1280, Height: 720, Repeat: true, Keyframe: true, PTS: 1600 * time.Millisecond}), 1280, 720)

		f.Keyframe, f.BitrateKbps, f.PTS = true, 1000, 2*time.Second
		vp8Key(t, "forced keyframe", encode(t, e, f), 1280, 720)

		// A new size restarts the codec: the next frame is a keyframe.
		small := screen(640, 360)
		small.PTS = 3 * time.Second
		vp8Key(t, "resized", encode(t, e, small), 640, 360)
		if err := e.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
	})

	// A screen that changes as a whole, as a click that repaints a page
	// does, after a still screen (keep-alive repeats) and after small
	// changes (a blinking caret): the new flat colour is predicted anew,
	// a few hundred bytes, not coded as the old picture plus a residual
	// (30 KB at this size with libvpx's static threshold set).
	t.Run("vp8/large changes", func(t *testing.T) {
		e := start(t, "vp8")
		const w, h = 1280, 720
		flat := func(b, g, r byte) []byte { return bytes.Repeat([]byte{b, g, r, 0}, w*h) }
		pts := time.Duration(0)
		next := func() time.Duration { pts += 100 * time.Millisecond; return pts }
		encode(t, e, encoder.Frame{Pix: flat(40, 40, 220), Width: w, Height: h, Stride: 4 * w, PTS: next()})
		for i, colour := range [][3]byte{{220, 80, 40}, {10, 200, 10}, {250, 250, 250}} {
			for range 3 {
				encode(t, e, encoder.Frame{Width: w, Height: h, Repeat: true, PTS: next()})
			}
			f := encoder.Frame{Pix: flat(colour[0], colour[1], colour[2]), Width: w, Height: h, Stride: 4 * w, PTS: next()}
			if p := encode(t, e, f); p.Keyframe || len(p.Data) > 1000 {
				t.Errorf("change %d to a flat colour: %d bytes (keyframe %v), want an interframe under 1000", i, len(p.Data), p.Keyframe)
			}
			for k := range 4 {
				for y := 62; y < 74; y++ {
					copy(f.Pix[(y*w+600)*4:], bytes.Repeat([]byte{byte(255 * (k % 2)), 0, 0, 0}, 2))
				}
				f.PTS = next()
				// About 3 KB: each frame refines the rest of the picture too.
				if p := encode(t, e, f); len(p.Data) > 10000 {
					t.Errorf("change %d, caret %d: %d bytes, want under 10000", i, k, len(p.Data))
				}
			}
		}
	})

	t.Run("h264", func(t *testing.T) {
		e := start(t, "h264")
		f := screen(1280, 720)
		key := encode(t, e, f)
		h264Key(t, "first frame", key)
		f.PTS = 33 * time.Millisecond
		next := encode(t, e, f)
		types := nalTypes(t, next.Data)
		if next.Keyframe || bytes.Contains(types, []byte{5}) || bytes.Contains(types, []byte{7}) {
			t.Fatalf("unchanged frame: keyframe %v, NAL types %v", next.Keyframe, types)
		}
		var spent time.Duration
		const n = 30
		for i := range n {
			f.PTS = time.Duration(66+33*i) * time.Millisecond
			for y := 62; y < 74; y++ {
				copy(f.Pix[(y*1280+600)*4:], bytes.Repeat([]byte{byte(255 * (i % 2)), 0, 0, 0}, 2))
			}
			began := time.Now()
			if p := encode(t, e, f); p.Keyframe {
				t.Fatalf("frame %d: an unasked keyframe", i)
			}
			spent += time.Since(began)
		}
		t.Logf("h264 1280x720: %v per frame (through docker exec)", spent/n)
		rep := encode(t, e, encoder.Frame{Width: 1280, Height: 720, Repeat: true, PTS: 1500 * time.Millisecond})
		if types := nalTypes(t, rep.Data); rep.Keyframe || bytes.Contains(types, []byte{5}) {
			t.Fatalf("repeat: keyframe %v, NAL types %v, want an interframe", rep.Keyframe, types)
		}
		h264Key(t, "repeated keyframe", encode(t, e, encoder.Frame{Width: 1280, Height: 720, Repeat: true, Keyframe: true, PTS: 1600 * time.Millisecond}))
		f.Keyframe, f.BitrateKbps, f.PTS = true, 1000, 2*time.Second
		h264Key(t, "forced keyframe", encode(t, e, f))
		if err := e.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
	})
}

// vp8Key checks a VP8 keyframe (RFC 6386 9.1): frame tag bit 0 clear, the
// start code 9d 01 2a at offset 3, then 14-bit width and height.
func vp8Key(t *testing.T, what string, p encoder.Packet, w, h int) {
	t.Helper()
	d := p.Data
	if !p.Keyframe || len(d) < 10 || d[0]&1 != 0 || !bytes.Equal(d[3:6], []byte{0x9d, 0x01, 0x2a}) {
		t.Fatalf("%s: keyframe %v, %d bytes % x...: want a VP8 keyframe", what, p.Keyframe, len(d), d[:min(len(d), 10)])
	}
	gw, gh := int(binary.LittleEndian.Uint16(d[6:])&0x3fff), int(binary.LittleEndian.Uint16(d[8:])&0x3fff)
	if gw != w || gh != h {
		t.Fatalf("%s: VP8 keyframe of %dx%d, want %dx%d", what, gw, gh, w, h)
	}
}

// h264Key checks an Annex B IDR access unit with its parameter sets, in
// constrained baseline as browsers negotiate it.
func h264Key(t *testing.T, what string, p encoder.Packet) {
	t.Helper()
	d := p.Data
	if !p.Keyframe || !bytes.HasPrefix(d, []byte{0, 0, 0, 1}) {
		t.Fatalf("%s: keyframe %v, % x...: want an Annex B access unit", what, p.Keyframe, d[:min(len(d), 8)])
	}
	types := nalTypes(t, d)
	for _, want := range []byte{7, 8, 5} {
		if !bytes.Contains(types, []byte{want}) {
			t.Fatalf("%s: NAL types %v, want SPS (7), PPS (8) and IDR (5)", what, types)
		}
	}
	// 00 00 01, the NAL header 0x67, then profile_idc and the constraint flags.
	sps := bytes.Index(d, []byte{0, 0, 1, 0x67})
	if sps < 0 || len(d) < sps+6 {
		t.Fatalf("%s: no complete SPS", what)
	}
	if d[sps+4] != 66 || d[sps+5]&0x40 == 0 {
		t.Fatalf("%s: SPS profile %d, constraints %#x: want 66 (baseline) with constraint_set1 (constrained)", what, d[sps+4], d[sps+5])
	}
}

// nalTypes lists the NAL unit types of an Annex B stream, in order.
func nalTypes(t *testing.T, d []byte) []byte {
	t.Helper()
	var types []byte
	for i := 0; i+3 < len(d); i++ {
		if d[i] == 0 && d[i+1] == 0 && d[i+2] == 1 {
			types = append(types, d[i+3]&0x1f)
			i += 3
		}
	}
	if len(types) == 0 {
		t.Fatalf("no NAL units in % x...", d[:min(len(d), 16)])
	}
	return types
}
