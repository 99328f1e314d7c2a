package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/airlock-rbi/airlock/internal/netpolicy"
)

// fakeScreen changes whenever the test says so.
type fakeScreen struct{ changed chan struct{} }

func (f *fakeScreen) Changed() <-chan struct{} { return f.changed }
func (f *fakeScreen) Size() (int, int)         { return 64, 48 }
func (f *fakeScreen) Grab() (Frame, error) {
	return Frame{Pix: make([]byte, 64*48*4), Width: 64, Height: 48, Stride: 64 * 4}, nil
}

// fakeEncoder records what it was asked for and returns frames that say
// whether they are keyframes.
type fakeEncoder struct {
	mu      sync.Mutex
	calls   []bool // keyframe flag of each call
	repeats []bool // repeat flag of each call
	kbps    []int  // bitrate argument of each call
	rates   []int
	// restartAt, when > 0, is the call that fails as a restarted encoder.
	restartAt int
}

func (e *fakeEncoder) encode(f Frame, key bool, kbps int) ([]byte, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if f.Width != 64 || f.Height != 48 || f.Repeat != (f.Pix == nil) {
		return nil, false, fmt.Errorf("fake encoder: frame %dx%d, repeat %v with %d bytes", f.Width, f.Height, f.Repeat, len(f.Pix))
	}
	e.calls = append(e.calls, key)
	e.repeats = append(e.repeats, f.Repeat)
	e.kbps = append(e.kbps, kbps)
	if e.restartAt > 0 && len(e.calls)-1 == e.restartAt {
		return nil, false, fmt.Errorf("helper exited: %w", ErrEncoderRestarted)
	}
	if kbps != 0 {
		e.rates = append(e.rates, kbps)
	}
	// A VP8 payload descriptor's first byte's low bit is 0 on keyframes.
	b := bytes.Repeat([]byte{0x11}, 200)
	if key {
		b[0] = 0x10
	}
	return b, key, nil
}

func (e *fakeEncoder) keyframes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, k := range e.calls {
		if k {
			n++
		}
	}
	return n
}

type fakeInput struct {
	mu   sync.Mutex
	seen []string
}

func (f *fakeInput) add(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, s)
	return nil
}
func (f *fakeInput) Move(x, y int) error { return f.add(fmt.Sprintf("move %d %d", x, y)) }
func (f *fakeInput) Button(b int, down bool) error {
	return f.add(fmt.Sprintf("button %d %v", b, down))
}
func (f *fakeInput) Wheel(dx, dy float64) error { return f.add(fmt.Sprintf("wheel %v %v", dx, dy)) }
func (f *fakeInput) Key(down bool, k, c string) error {
	return f.add(fmt.Sprintf("key %v %s %s", down, k, c))
}
func (f *fakeInput) Type(text string) error { return f.add("type " + text) }
func (f *fakeInput) ReleaseAll()            { _ = f.add("release") }
func (f *fakeInput) has(s string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range f.seen {
		if x == s {
			return true
		}
	}
	return false
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStreamerWithPionViewer connects a pion peer as the viewer over
// loopback: video arrives, the data channel says hello and carries input,
// and a PLI from the viewer gets a keyframe.
func TestStreamerWithPionViewer(t *testing.T) {
	screen := &fakeScreen{changed: make(chan struct{}, 1)}
	enc := &fakeEncoder{}
	in := &fakeInput{}
	s, err := New(Config{Screen: screen, Encode: enc.encode, Input: in, KeepAlive: 50 * time.Millisecond, ClipboardPolicy: ClipboardBoth, Scale: 1.5})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(ctx) }()

	hello := make(chan outMsg, 1)
	packets := make(chan int, 1000)
	se := loopbackOnly()
	viewer, dc := dialViewer(t, s, webrtc.NewAPI(webrtc.WithSettingEngine(se)), func(viewer *webrtc.PeerConnection, dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			var o outMsg
			if json.Unmarshal(m.Data, &o) == nil && o.T == "hello" {
				hello <- o
			}
		})
		viewer.OnTrack(func(tr *webrtc.TrackRemote, rx *webrtc.RTPReceiver) {
			go func() {
				// Ask for a keyframe as a decoder that lost one would.
				time.Sleep(300 * time.Millisecond)
				_ = viewer.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}})
			}()
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				select {
				case packets <- len(p.Payload):
				default:
				}
			}
		})
	}, nil)
	defer viewer.Close()

	select {
	case h := <-hello:
		if h.W != 64 || h.H != 48 || h.Clipboard != ClipboardBoth || h.Scale != 1.5 {
			t.Errorf("hello = %+v", h)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no hello on the data channel")
	}
	select {
	case <-packets:
	case <-time.After(10 * time.Second):
		t.Fatal("no video packets")
	}
	if n := enc.keyframes(); n < 1 {
		t.Fatalf("first frame was not a keyframe")
	}
	eventually(t, "a keyframe after the viewer's PLI", func() bool { return enc.keyframes() >= 2 })

	for _, m := range []string{`{"t":"move","x":10,"y":20}`, `{"t":"button","b":1,"down":true}`, `{"t":"key","down":true,"key":"é","code":"Digit2"}`, `{"t":"text","text":"你好"}`} {
		if err := dc.SendText(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"move 10 20", "button 1 true", "key true é Digit2", "type 你好"} {
		eventually(t, want, func() bool { return in.has(want) })
	}

	// A changed screen is grabbed and sent at once; the keep-alive of a
	// still one re-encodes the last image without a grab.
	enc.mu.Lock()
	before := len(enc.calls)
	enc.mu.Unlock()
	screen.changed <- struct{}{}
	eventually(t, "a grabbed frame after a change and repeats on keep-alive", func() bool {
		enc.mu.Lock()
		defer enc.mu.Unlock()
		grabbed, repeated := false, false
		for _, r := range enc.repeats[before:] {
			grabbed, repeated = grabbed || !r, repeated || r
		}
		return grabbed && repeated
	})

	cancel()
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	eventually(t, "keys released on hangup", func() bool { return in.has("release") })
}

// dialViewer connects a pion peer made by api to s as a viewer would: a
// recvonly video transceiver and the data channel, the offer, the answer
// and the candidates. setup attaches handlers before the offer is made.
// route, when not nil, puts a path of the test's between them: the agent
// gets an offer without the viewer's candidates, and the viewer only the
// candidates route makes of the agent's.
func dialViewer(t *testing.T, s *Streamer, api *webrtc.API, setup func(*webrtc.PeerConnection, *webrtc.DataChannel),
	route func([]webrtc.ICECandidateInit) []webrtc.ICECandidateInit) (*webrtc.PeerConnection, *webrtc.DataChannel) {
	t.Helper()
	if route == nil {
		route = func(c []webrtc.ICECandidateInit) []webrtc.ICECandidateInit { return stableCandidates(t, c) }
	}
	viewer, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := viewer.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	dc, err := viewer.CreateDataChannel(channelLabel, nil)
	if err != nil {
		t.Fatal(err)
	}
	setup(viewer, dc)
	offer, err := viewer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(viewer)
	if err := viewer.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	sdp := viewer.LocalDescription().SDP
	if route != nil {
		sdp = withoutCandidates(sdp)
	}
	var cands []Candidate
	var cmu sync.Mutex
	answer, err := s.Offer(sdp, nil, func(c Candidate) {
		cmu.Lock()
		cands = append(cands, c)
		cmu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if route != nil {
		answer = withoutCandidates(answer) // it has those gathered so far
	}
	if err := viewer.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "agent candidates", func() bool {
		cmu.Lock()
		defer cmu.Unlock()
		return len(cands) > 0 && cands[len(cands)-1] == nil
	})
	cmu.Lock()
	var add []webrtc.ICECandidateInit
	for _, c := range cands {
		if c != nil {
			add = append(add, *c)
		}
	}
	cmu.Unlock()
	if route != nil {
		add = route(add)
	}
	for _, c := range add {
		if err := viewer.AddICECandidate(c); err != nil {
			t.Fatal(err)
		}
	}
	return viewer, dc
}

func withoutCandidates(sdp string) string {
	var kept []string
	for _, l := range strings.Split(sdp, "\r\n") {
		if !strings.HasPrefix(l, "a=candidate:") && l != "a=end-of-candidates" {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "\r\n")
}

// TestEncoderRestart: a frame lost to an encoder that was replaced does not
// end the stream; the next frame is a fresh grab (the new encoder has no
// image to repeat), a keyframe, with the bitrate told again.
func TestEncoderRestart(t *testing.T) {
	enc := &fakeEncoder{restartAt: 3}
	s, err := New(Config{Screen: &fakeScreen{changed: make(chan struct{}, 1)}, Encode: enc.encode, Input: &fakeInput{},
		KeepAlive: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(ctx) }()
	se := loopbackOnly()
	viewer, _ := dialViewer(t, s, webrtc.NewAPI(webrtc.WithSettingEngine(se)), func(*webrtc.PeerConnection, *webrtc.DataChannel) {}, nil)
	defer viewer.Close()
	eventually(t, "frames after the restart", func() bool {
		enc.mu.Lock()
		defer enc.mu.Unlock()
		return len(enc.calls) >= enc.restartAt+3
	})
	cancel()
	if err := <-runDone; err != nil {
		t.Fatalf("the stream ended: %v", err)
	}
	enc.mu.Lock()
	defer enc.mu.Unlock()
	next := enc.restartAt + 1
	if !enc.calls[next] || enc.repeats[next] || enc.kbps[next] == 0 {
		t.Errorf("after the restart: keyframe %v, repeat %v, bitrate %d; want a keyframe of a new grab with the bitrate",
			enc.calls[next], enc.repeats[next], enc.kbps[next])
	}
}

// TestStreamerReleasesOnChannelClose: a viewer that closes its data
// channel, its peer connection still up, holds no key any more.
func TestStreamerReleasesOnChannelClose(t *testing.T) {
	screen := &fakeScreen{changed: make(chan struct{}, 1)}
	enc := &fakeEncoder{}
	in := &fakeInput{}
	s, err := New(Config{Screen: screen, Encode: enc.encode, Input: in, KeepAlive: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()
	se := loopbackOnly()
	opened := make(chan struct{})
	viewer, dc := dialViewer(t, s, webrtc.NewAPI(webrtc.WithSettingEngine(se)), func(_ *webrtc.PeerConnection, dc *webrtc.DataChannel) {
		dc.OnOpen(func() { close(opened) })
	}, nil)
	defer viewer.Close()
	select {
	case <-opened:
	case <-time.After(10 * time.Second):
		t.Fatal("the data channel did not open")
	}
	if err := dc.SendText(`{"t":"key","down":true,"key":"a","code":"KeyA"}`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the key down", func() bool { return in.has("key true a KeyA") })
	if in.has("release") {
		t.Fatal("released before the channel closed")
	}
	if err := dc.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "keys released when the data channel closed", func() bool { return in.has("release") })
	if st := viewer.ConnectionState(); st != webrtc.PeerConnectionStateConnected {
		t.Errorf("the peer connection is %s: the release may be its close's", st)
	}
}

// loopbackOnly is a test viewer's setting engine: its one candidate on
// loopback, UDP over IPv4 (see stableCandidates).
func loopbackOnly() webrtc.SettingEngine {
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return se
}

// stableCandidates are the agent's candidates on this host's lasting
// interfaces, not on a bridge or veth that a test running beside (a
// session network, a namespace's link) makes and removes: a pair through
// one went silent a moment after it connected when the bridge went, and
// the viewer's feedback, a PLI among it, never came.
func stableCandidates(t *testing.T, cands []webrtc.ICECandidateInit) []webrtc.ICECandidateInit {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	stable := map[string]bool{}
	for _, ifc := range ifs {
		if netpolicy.IsSessionBridge(ifc.Name) || strings.HasPrefix(ifc.Name, "br-") || strings.HasPrefix(ifc.Name, "veth") {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				stable[n.IP.String()] = true
			}
		}
	}
	var out []webrtc.ICECandidateInit
	for _, c := range cands {
		f := strings.Fields(strings.TrimPrefix(c.Candidate, "candidate:"))
		// foundation component protocol priority ip port "typ" type
		if len(f) >= 8 && stable[f[4]] {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no agent candidate on a lasting interface among %v", cands)
	}
	return out
}
