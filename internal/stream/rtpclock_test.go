package stream

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
)

func TestRTPClockStampsGrabTime(t *testing.T) {
	t0 := time.Now()
	tests := []struct {
		name    string
		at      time.Duration // grab time after the first frame
		size    int
		wantTS  uint32 // ticks after the first frame's timestamp
		packets int
	}{
		{"first", 0, 100, 0, 1},
		{"next frame", 16 * time.Millisecond, 100, 1440, 1},
		{"after a pause", 1016 * time.Millisecond, 3000, 91440, 3},
		{"same instant", 1016 * time.Millisecond, 10, 91441, 1},
		{"clock reads earlier", 1000 * time.Millisecond, 10, 91442, 1},
	}
	c := newRTPClock(&codecs.VP8Payloader{EnablePictureID: true}, 90000)
	var base uint32
	var seq uint16
	for i, tc := range tests {
		pkts := c.packetize(bytes.Repeat([]byte{1}, tc.size), t0.Add(tc.at))
		if len(pkts) != tc.packets {
			t.Fatalf("%s: %d packets, want %d", tc.name, len(pkts), tc.packets)
		}
		if i == 0 {
			base, seq = pkts[0].Timestamp, pkts[0].SequenceNumber-1
		}
		for _, p := range pkts {
			if got := p.Timestamp - base; got != tc.wantTS {
				t.Errorf("%s: timestamp +%d, want +%d", tc.name, got, tc.wantTS)
			}
			if p.SequenceNumber != seq+1 {
				t.Errorf("%s: sequence %d after %d", tc.name, p.SequenceNumber, seq)
			}
			seq = p.SequenceNumber
		}
		if !pkts[len(pkts)-1].Marker {
			t.Errorf("%s: the frame's last packet has no marker bit", tc.name)
		}
	}
}
