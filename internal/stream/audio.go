package stream

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// opusCodec is the audio track's codec: Opus at its RTP clock of 48 kHz,
// stereo, with in-band FEC allowed and frames from 10 ms.
var opusCodec = webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
	MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
	SDPFmtpLine: "minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1"}}

// maxFrameTicks is the longest frame the helper sends (20 ms): a packet
// further than that from the previous one starts a talkspurt.
const maxFrameTicks = 960

// audioTrack sends Opus packets as RTP, stamped with their position on
// the helper's 48 kHz clock. A sample track would stamp each packet with
// the duration of the one before, so the silence the helper does not send
// would vanish from the timestamps and reach the viewer as network delay,
// which its jitter buffer would then add to every later packet. Here a
// gap in time is a gap in timestamps, with the marker bit on the packet
// after it (RFC 7587), and no gap in sequence numbers: nothing was lost.
type audioTrack struct {
	track *webrtc.TrackLocalStaticRTP

	mu      sync.Mutex
	seq     uint16
	base    uint32
	started bool
	last    uint64 // the last packet's position
}

func newAudioTrack() (*audioTrack, error) {
	// Its own stream id: the viewer plays it in an element of its own,
	// apart from the screen's video.
	t, err := webrtc.NewTrackLocalStaticRTP(opusCodec.RTPCodecCapability, "audio", "airlock-audio")
	if err != nil {
		return nil, fmt.Errorf("stream: audio track: %w", err)
	}
	// Random starting points, as RFC 3550 asks.
	return &audioTrack{track: t, seq: uint16(rand.Uint32()), base: rand.Uint32()}, nil
}

// packet builds the RTP packet for one Opus packet at pos.
func (a *audioTrack) packet(data []byte, pos uint64) *rtp.Packet {
	a.mu.Lock()
	defer a.mu.Unlock()
	marker := !a.started || pos-a.last > maxFrameTicks
	a.started, a.last = true, pos
	a.seq++
	return &rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker, PayloadType: uint8(opusCodec.PayloadType),
		SequenceNumber: a.seq, Timestamp: a.base + uint32(pos)}, Payload: data}
}

// WriteAudio sends one Opus packet whose first sample is at pos on the
// 48 kHz clock of the audio helper (internal/audio) to the viewer. It
// does nothing when the stream has no audio or no viewer.
func (s *Streamer) WriteAudio(data []byte, pos uint64) {
	if s.audio == nil {
		return
	}
	if err := s.audio.track.WriteRTP(s.audio.packet(data, pos)); err != nil {
		s.log.Debug("write audio", "err", err)
	}
}

// drainRTCP reads a sender's RTCP so that its interceptors see it; the
// audio track needs nothing from it itself.
func drainRTCP(sender *webrtc.RTPSender) {
	for {
		if _, _, err := sender.ReadRTCP(); err != nil {
			return
		}
	}
}
