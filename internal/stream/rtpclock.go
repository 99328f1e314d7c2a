package stream

import (
	"time"

	"github.com/pion/rtp"
)

// outboundMTU is pion's own size for outgoing RTP packets: small enough
// for TURN's and VPNs' overheads.
const outboundMTU = 1200

// rtpClock stamps each frame with the time its screen was grabbed. A
// damage-driven stream has no steady frame interval: a frame after a
// second of still screen must carry a timestamp a second later, or the
// receiver reads it as a second of network delay and grows its jitter
// buffer, which is latency every later frame pays. Stamping by "duration
// of the previous frame", as a sample track does, lags one frame and does
// exactly that after every pause.
type rtpClock struct {
	pktz      rtp.Packetizer
	clockRate uint32
	start     time.Time
	base, at  uint32 // the timestamp at start; the packetizer's current one
}

func newRTPClock(payloader rtp.Payloader, clockRate uint32) *rtpClock {
	// The track rewrites SSRC and payload type for each viewer's
	// connection; the sequence numbers and timestamps it keeps.
	pktz := rtp.NewPacketizer(outboundMTU, 0, 0, payloader, rtp.NewRandomSequencer(), clockRate)
	// The packetizer starts at a random timestamp (RFC 3550); one
	// zero-tick packetization of nothing would lose that, so read it from
	// the first real packet instead.
	return &rtpClock{pktz: pktz, clockRate: clockRate}
}

// packetize cuts one encoded frame into RTP packets stamped with the time
// it was grabbed.
func (c *rtpClock) packetize(frame []byte, grabbed time.Time) []*rtp.Packet {
	if c.start.IsZero() {
		pkts := c.pktz.Packetize(frame, 0)
		if len(pkts) > 0 {
			c.start, c.base, c.at = grabbed, pkts[0].Timestamp, pkts[0].Timestamp
		}
		return pkts
	}
	elapsed := grabbed.Sub(c.start)
	if elapsed < 0 {
		elapsed = 0
	}
	// Modular arithmetic: the 32-bit timestamp wraps every 13 hours at
	// 90 kHz, and so does this.
	want := c.base + uint32(elapsed.Seconds()*float64(c.clockRate))
	d := want - c.at
	if d == 0 || d >= 1<<31 {
		d = 1 // two frames never share a timestamp
	}
	c.pktz.SkipSamples(d)
	c.at += d
	return c.pktz.Packetize(frame, 0)
}
