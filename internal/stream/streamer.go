package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// ErrEncoderRestarted is returned by an EncodeFunc whose encoder failed
// and was started afresh: the stream goes on from a new grab, a keyframe
// and the current bitrate, since the new encoder has no last image.
var ErrEncoderRestarted = errors.New("encoder restarted")

// Screen is what is streamed: the agent passes a desktop.Capture.
type Screen interface {
	// Changed receives when the screen changed since the last Grab.
	Changed() <-chan struct{}
	// Grab captures the screen; the frame is valid until the next Grab.
	Grab() (Frame, error)
	Size() (width, height int)
}

// Frame is one screen image on its way from Screen to Encode.
type Frame struct {
	// Pix holds Height rows of Stride bytes of 32-bit BGRX pixels.
	Pix                   []byte
	Width, Height, Stride int
	// Shared says Pix lies in the SysV shared memory segment ShmID, which
	// an encoder in another process of the same IPC namespace can read in
	// place instead of being sent a copy.
	Shared bool
	ShmID  int
	// Repeat says the screen has not changed since the last frame: Pix is
	// nil, and the encoder encodes its last image again. It is how a still
	// screen's keep-alive costs a fraction of a grab and a full frame.
	Repeat bool
}

// EncodeFunc encodes one frame. keyframe forces a keyframe; bitrateKbps,
// when not 0, retunes the rate control first. It returns the encoded
// frame (empty when the encoder dropped it). ErrEncoderRestarted says the
// frame was lost to an encoder that failed and has been replaced; any
// other error ends the stream.
type EncodeFunc func(f Frame, keyframe bool, bitrateKbps int) (data []byte, isKey bool, err error)

// Input takes the viewer's input; the agent passes a desktop.Input.
type Input interface {
	Move(x, y int) error
	Button(b int, down bool) error
	Wheel(dx, dy float64) error
	Key(down bool, key, code string) error
	// Type types committed text (an input method's): any characters.
	Type(text string) error
	// ReleaseAll lets go of every key and button a viewer left pressed.
	ReleaseAll()
}

// Clipboard is the container's clipboard.
type Clipboard interface {
	Set(ctx context.Context, text string) error
	// Changes receives the clipboard's text each time an app sets it.
	Changes() <-chan string
}

// Clipboard policies of a workspace.
const (
	ClipboardOff           = "off"
	ClipboardToContainer   = "to-container"
	ClipboardFromContainer = "from-container"
	ClipboardBoth          = "both"
)

// Cursor is the pointer's look: a CSS keyword, or a PNG image with its
// hotspot.
type Cursor struct {
	CSS        string
	PNG        []byte
	HotX, HotY int
}

// Config configures a Streamer.
type Config struct {
	Screen Screen
	Encode EncodeFunc
	// Codec is "vp8" (default) or "h264": what Encode produces.
	Codec string
	Input Input
	// Clipboard may be nil: no clipboard. ClipboardPolicy is one of the
	// Clipboard* constants; empty means off.
	Clipboard       Clipboard
	ClipboardPolicy string
	// Cursor receives the pointer's cursor as it changes (the viewer
	// draws the pointer); nil: the viewer's default.
	Cursor <-chan Cursor
	// Scale is the device scale factor the app draws at (0 means 1):
	// the viewer asks for a display of its size times this, at most its
	// own devicePixelRatio, and shows it at its size, so text is sharp.
	Scale float64
	// Files serves the viewer's "files" data channel; nil refuses it.
	Files func(FilesChannel) FilesPeer
	// Resize sets the display's size; nil refuses resizes.
	Resize func(ctx context.Context, w, h int) error
	// MaxFPS caps the frame rate (default 60); KeepAlive is how often an
	// unchanged screen is sent anyway (default 2s), so a viewer sees a live
	// stream and recovers from a lost last frame whose NACK went unanswered.
	// Each one re-encodes the whole last image: at 1s they were most of a
	// still page's CPU (the encoder's 0.8 % of a core beside the agent's
	// 0.6 % in bench/stream).
	MaxFPS    int
	KeepAlive time.Duration
	// Audio offers the viewer an Opus track, fed by WriteAudio.
	Audio bool
	// StartKbps, MinKbps and MaxKbps bound congestion control.
	StartKbps, MinKbps, MaxKbps int
	// Prime has Run grab and encode one frame at its start, with no
	// viewer, and drop it: the first grab and encode pay for setting up
	// (the encoder's buffers for the screen's size, the shared memory's
	// pages), 40 to 70 ms of a 720p keyframe of a few KiB measured in a
	// session, which the first viewer would otherwise wait for.
	Prime bool
	Log   *slog.Logger
}

// Streamer serves one viewer at a time; a new offer replaces the previous
// viewer's connection without touching the display or the app.
type Streamer struct {
	cfg   Config
	api   *webrtc.API
	track *webrtc.TrackLocalStaticRTP
	clock *rtpClock
	audio *audioTrack // nil: no sound
	log   *slog.Logger

	wake chan struct{}

	estMu   sync.Mutex
	lastEst cc.BandwidthEstimator // set by the cc factory during NewPeerConnection

	mu        sync.Mutex
	pc        *webrtc.PeerConnection
	dc        *webrtc.DataChannel
	est       cc.BandwidthEstimator
	connected bool
	// connectedAt is when the current viewer's connection came up, until
	// its first frame is sent (then zero): how long a viewer waits for
	// its first picture is logged.
	connectedAt time.Time
	keyframe    bool
	cursor      *Cursor
	lastKFReq   time.Time
	// lastInput is when the viewer's last input came (zero: none yet).
	lastInput time.Time
	// policy is the clipboard policy now: Config.ClipboardPolicy until
	// SetClipboardPolicy; scale, the app's scale, Config.Scale until
	// SetScale.
	policy string
	scale  float64
}

// SetScale tells the next viewer's hello the app's new device scale
// factor, for a pool's session whose browser was started again at the
// scale of the viewer it was handed to.
func (s *Streamer) SetScale(scale float64) {
	s.mu.Lock()
	s.scale = scale
	s.mu.Unlock()
}

// SetClipboardPolicy changes the clipboard policy, for a pool's session
// handed out to a user whose policy is not the one it started with. It
// applies to the next viewer's hello and to every copy and paste from
// now on.
func (s *Streamer) SetClipboardPolicy(p string) error {
	switch p {
	case ClipboardOff, ClipboardToContainer, ClipboardFromContainer, ClipboardBoth:
	default:
		return fmt.Errorf("stream: clipboard policy %q: want off, to-container, from-container or both", p)
	}
	s.mu.Lock()
	s.policy = p
	s.mu.Unlock()
	return nil
}

func (s *Streamer) clipboardPolicy() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.policy
}

// Activity reports whether a viewer is connected now and how long ago
// the last input from a viewer came; ok is false when none came since
// the streamer started. The agent's heartbeats carry it, so that the
// server can end a session no one uses.
func (s *Streamer) Activity() (viewer bool, inputIdle time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastInput.IsZero() {
		return s.connected, 0, false
	}
	return s.connected, time.Since(s.lastInput), true
}

// New builds a Streamer; Run must run for frames to flow.
func New(cfg Config) (*Streamer, error) {
	if cfg.Screen == nil || cfg.Encode == nil || cfg.Input == nil {
		return nil, errors.New("stream: Screen, Encode and Input are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxFPS <= 0 {
		cfg.MaxFPS = 60
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 2 * time.Second
	}
	if cfg.StartKbps <= 0 {
		cfg.StartKbps = 4000
	}
	if cfg.MinKbps <= 0 {
		cfg.MinKbps = 300
	}
	if cfg.MaxKbps <= 0 {
		cfg.MaxKbps = 12000
	}
	switch cfg.ClipboardPolicy {
	case "":
		cfg.ClipboardPolicy = ClipboardOff
	case ClipboardOff, ClipboardToContainer, ClipboardFromContainer, ClipboardBoth:
	default:
		return nil, fmt.Errorf("stream: clipboard policy %q: want off, to-container, from-container or both", cfg.ClipboardPolicy)
	}
	s := &Streamer{cfg: cfg, log: cfg.Log, wake: make(chan struct{}, 1), policy: cfg.ClipboardPolicy, scale: cfg.Scale}
	codec, err := codecFor(cfg.Codec)
	if err != nil {
		return nil, err
	}
	if s.api, err = s.newAPI(codec); err != nil {
		return nil, err
	}
	s.track, err = webrtc.NewTrackLocalStaticRTP(codec.RTPCodecCapability, "screen", "airlock")
	if err != nil {
		return nil, fmt.Errorf("stream: video track: %w", err)
	}
	var payloader rtp.Payloader = &codecs.VP8Payloader{EnablePictureID: true}
	if codec.MimeType == webrtc.MimeTypeH264 {
		payloader = &codecs.H264Payloader{}
	}
	s.clock = newRTPClock(payloader, codec.ClockRate)
	if cfg.Audio {
		if s.audio, err = newAudioTrack(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func codecFor(name string) (webrtc.RTPCodecParameters, error) {
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"},
		{Type: "goog-remb"}, {Type: "transport-cc"}}
	switch name {
	case "", "vp8":
		return webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}}, nil
	case "h264":
		// Constrained baseline: what every browser decodes, in hardware
		// where it can.
		return webrtc.RTPCodecParameters{PayloadType: 102, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: fb,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}}, nil
	}
	return webrtc.RTPCodecParameters{}, fmt.Errorf("stream: codec %q: want vp8 or h264", name)
}

// newAPI registers only the codec the encoder makes, so the answer can
// only pick it, and the interceptors: NACK responder, RTCP reports, and
// Google congestion control fed by transport-wide feedback.
func (s *Streamer) newAPI(codec webrtc.RTPCodecParameters) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(codec, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("stream: register codec: %w", err)
	}
	if s.cfg.Audio {
		if err := m.RegisterCodec(opusCodec, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("stream: register opus: %w", err)
		}
	}
	reg := &interceptor.Registry{}
	ccf, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		// No pacer: frames leave as soon as they are encoded, which is
		// what a latency-bound screen stream wants; the encoder's own rate
		// control keeps them within the estimate.
		return gcc.NewSendSideBWE(gcc.SendSideBWEInitialBitrate(s.cfg.StartKbps*1000),
			gcc.SendSideBWEMinBitrate(s.cfg.MinKbps*1000), gcc.SendSideBWEMaxBitrate(s.cfg.MaxKbps*1000),
			gcc.SendSideBWEPacer(gcc.NewNoOpPacer()))
	})
	if err != nil {
		return nil, fmt.Errorf("stream: congestion control: %w", err)
	}
	ccf.OnNewPeerConnection(func(_ string, est cc.BandwidthEstimator) {
		s.estMu.Lock()
		s.lastEst = est
		s.estMu.Unlock()
	})
	reg.Add(ccf)
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, reg); err != nil {
		return nil, fmt.Errorf("stream: transport-cc: %w", err)
	}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		return nil, fmt.Errorf("stream: interceptors: %w", err)
	}
	se := webrtc.SettingEngine{}
	// Browsers hide their host addresses behind mDNS names; resolving
	// them needs multicast, which container networks do not carry. The
	// browser's checks reach the agent anyway (peer-reflexive), or TURN
	// carries the media.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// Candidate is a trickled ICE candidate; nil ends the candidates.
type Candidate = *webrtc.ICECandidateInit

// Offer answers a viewer's offer with a new peer connection, closing the
// previous viewer's. sendCandidate is called with the agent's candidates
// as they are found, then nil.
func (s *Streamer) Offer(sdp string, iceServers []webrtc.ICEServer, sendCandidate func(Candidate)) (string, error) {
	start := time.Now()
	s.Hangup()
	hungUp := time.Now()
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{ICEServers: iceServers})
	made := time.Now()
	if err != nil {
		return "", fmt.Errorf("new peer connection: %w", err)
	}
	s.estMu.Lock()
	est := s.lastEst
	s.estMu.Unlock()
	fail := func(err error) (string, error) {
		_ = pc.Close()
		return "", err
	}
	sender, err := pc.AddTrack(s.track)
	if err != nil {
		return fail(fmt.Errorf("add video track: %w", err))
	}
	go s.readRTCP(sender)
	if s.audio != nil {
		// Matched to the viewer's recvonly audio transceiver; an offer
		// without one leaves it out of the answer.
		asender, err := pc.AddTrack(s.audio.track)
		if err != nil {
			return fail(fmt.Errorf("add audio track: %w", err))
		}
		go drainRTCP(asender)
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			sendCandidate(nil)
			return
		}
		init := c.ToJSON()
		sendCandidate(&init)
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) { s.onState(pc, st) })
	pc.OnDataChannel(func(dc *webrtc.DataChannel) { s.onDataChannel(pc, dc) })
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fail(fmt.Errorf("viewer's offer: %w", err))
	}
	remote := time.Now()
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(fmt.Errorf("create answer: %w", err))
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(fmt.Errorf("set answer: %w", err))
	}
	s.mu.Lock()
	s.pc, s.est, s.connected, s.dc = pc, est, false, nil
	s.mu.Unlock()
	s.log.Info("answered the viewer's offer", "ms", ms(time.Since(start)), "hangup_ms", ms(hungUp.Sub(start)),
		"new_pc_ms", ms(made.Sub(hungUp)), "remote_ms", ms(remote.Sub(made)), "answer_ms", ms(time.Since(remote)))
	return pc.LocalDescription().SDP, nil
}

// AddCandidate adds a viewer's trickled candidate; nil ends them.
func (s *Streamer) AddCandidate(c Candidate) error {
	s.mu.Lock()
	pc := s.pc
	s.mu.Unlock()
	if pc == nil {
		return errors.New("candidate before any offer")
	}
	if c == nil {
		c = &webrtc.ICECandidateInit{}
	}
	if err := pc.AddICECandidate(*c); err != nil {
		return fmt.Errorf("add viewer candidate: %w", err)
	}
	return nil
}

// Hangup closes the current viewer's connection, if any, and releases
// whatever keys and buttons it held.
func (s *Streamer) Hangup() {
	s.mu.Lock()
	pc := s.pc
	s.pc, s.dc, s.est, s.connected = nil, nil, nil, false
	s.mu.Unlock()
	if pc != nil {
		_ = pc.Close()
		s.cfg.Input.ReleaseAll()
	}
}

func (s *Streamer) onState(pc *webrtc.PeerConnection, st webrtc.PeerConnectionState) {
	s.log.Info("viewer connection", "state", st.String())
	s.mu.Lock()
	current := s.pc == pc
	if current && st == webrtc.PeerConnectionStateConnected {
		s.connected, s.keyframe, s.connectedAt = true, true, time.Now()
	}
	s.mu.Unlock()
	switch {
	case !current:
	case st == webrtc.PeerConnectionStateConnected:
		s.kick()
	case st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed:
		s.mu.Lock()
		if s.pc == pc {
			s.pc, s.dc, s.est, s.connected = nil, nil, nil, false
		}
		s.mu.Unlock()
		_ = pc.Close()
		s.cfg.Input.ReleaseAll()
	}
}

// readRTCP watches the viewer's feedback for keyframe requests; the
// interceptors have already taken what they need (NACK, TWCC).
func (s *Streamer) readRTCP(sender *webrtc.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.requestKeyframe()
			}
		}
	}
}

// minKeyframeGap stops a storm of PLIs from a lossy link from turning the
// stream into keyframes only, which would make the loss worse.
const minKeyframeGap = 300 * time.Millisecond

func (s *Streamer) requestKeyframe() {
	s.mu.Lock()
	if time.Since(s.lastKFReq) >= minKeyframeGap {
		s.keyframe, s.lastKFReq = true, time.Now()
	}
	s.mu.Unlock()
	s.kick()
}

func (s *Streamer) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run sends frames to the connected viewer until ctx ends: when the screen
// changed, when a keyframe is due, and every KeepAlive on a still screen.
// Without a viewer it grabs nothing. An encoder failure ends it.
func (s *Streamer) Run(ctx context.Context) error {
	minGap := time.Second / time.Duration(s.cfg.MaxFPS)
	idle := time.NewTimer(s.cfg.KeepAlive)
	defer idle.Stop()
	var last time.Time // when the last frame was grabbed
	var prev Frame     // the last frame encoded; Width 0: none yet
	sentKbps := 0
	lastW, lastH := s.cfg.Screen.Size()
	if s.cfg.Prime {
		s.prime()
	}
	for {
		keepAlive := false
		select {
		case <-ctx.Done():
			s.Hangup()
			return nil
		case <-s.cfg.Screen.Changed():
		case <-s.wake:
		case <-idle.C:
			keepAlive = true
		}
		idle.Reset(s.cfg.KeepAlive)
		s.mu.Lock()
		live, est, key, connectedAt := s.connected, s.est, s.keyframe, s.connectedAt
		s.keyframe, s.connectedAt = false, time.Time{}
		s.mu.Unlock()
		if !live {
			prev = Frame{} // a new viewer starts from a fresh grab
			continue
		}
		// A keep-alive of a screen that has not changed since the last
		// grab re-encodes the encoder's last image: no grab, no copy.
		repeat := keepAlive && prev.Width != 0
		if repeat {
			select {
			case <-s.cfg.Screen.Changed():
				repeat = false
			default:
			}
		}
		// Paced from grab to grab, so that the encoder's own time counts
		// toward the gap instead of adding to it.
		if wait := minGap - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				continue
			case <-time.After(wait):
			}
		}
		last = time.Now()
		f := Frame{Width: prev.Width, Height: prev.Height, Repeat: true}
		if !repeat {
			var err error
			if f, err = s.cfg.Screen.Grab(); err != nil {
				s.log.Warn("grab screen", "err", err)
				continue
			}
		}
		grabbed := time.Now()
		w, h := f.Width, f.Height
		if w != lastW || h != lastH {
			lastW, lastH = w, h
			s.send(outMsg{T: "size", W: w, H: h})
		}
		kbps := 0
		if est != nil {
			if want := est.GetTargetBitrate() / 1000; sentKbps == 0 || want*10 < sentKbps*9 || want*10 > sentKbps*11 {
				kbps, sentKbps = want, want
			}
		}
		data, _, err := s.cfg.Encode(f, key, kbps)
		if errors.Is(err, ErrEncoderRestarted) {
			s.log.Warn("encoder restarted; going on from a keyframe", "err", err)
			prev, sentKbps = Frame{}, 0
			s.mu.Lock()
			s.keyframe = true
			s.mu.Unlock()
			s.kick()
			continue
		}
		if err != nil {
			return fmt.Errorf("encode %dx%d frame: %w", w, h, err)
		}
		prev = f
		if len(data) == 0 {
			continue
		}
		for _, p := range s.clock.packetize(data, last) {
			if err := s.track.WriteRTP(p); err != nil {
				s.log.Debug("write frame", "err", err)
				break
			}
		}
		if !connectedAt.IsZero() {
			now := time.Now()
			s.log.Info("first frame sent to the viewer", "after_connected_ms", ms(now.Sub(connectedAt)),
				"grab_ms", ms(grabbed.Sub(last)), "encode_ms", ms(now.Sub(grabbed)), "bytes", len(data), "keyframe", key)
		}
	}
}

// prime grabs and encodes a frame for nobody (see Config.Prime). A
// failure is only logged: the first viewer's frame meets it again.
func (s *Streamer) prime() {
	start := time.Now()
	f, err := s.cfg.Screen.Grab()
	if err != nil {
		s.log.Warn("prime: grab screen", "err", err)
		return
	}
	grabbed := time.Now()
	if _, _, err := s.cfg.Encode(f, true, 0); err != nil {
		s.log.Warn("prime: encode", "err", err)
		return
	}
	s.log.Info("encoder primed", "grab_ms", ms(grabbed.Sub(start)), "encode_ms", ms(time.Since(grabbed)))
}

// ms is d in milliseconds, to a tenth, for logs.
func ms(d time.Duration) float64 {
	return float64(d.Round(100*time.Microsecond)) / float64(time.Millisecond)
}
