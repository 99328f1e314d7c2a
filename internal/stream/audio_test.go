package stream

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// TestAudioPackets: positions become timestamps, a gap of silence is a gap
// in timestamps with the marker bit, never in sequence numbers.
func TestAudioPackets(t *testing.T) {
	a, err := newAudioTrack()
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		pos    uint64
		marker bool
	}{
		{0, true},       // the first packet starts a talkspurt
		{480, false},    // 10 ms frames in a row
		{960, false},    //
		{1920, false},   // a 20 ms frame
		{48000, true},   // after a second of silence
		{48480, false},  //
		{1 << 33, true}, // past the 32-bit wrap of the timestamp
		{1<<33 + 960, false},
	}
	var prev *rtp.Packet
	for i, st := range steps {
		p := a.packet([]byte{byte(i)}, st.pos)
		if p.Marker != st.marker || p.PayloadType != 111 || !bytes.Equal(p.Payload, []byte{byte(i)}) {
			t.Fatalf("packet at %d: %+v, want marker %v", st.pos, p.Header, st.marker)
		}
		if p.Timestamp != a.base+uint32(st.pos) {
			t.Fatalf("packet at %d: timestamp %d, want base %d + pos", st.pos, p.Timestamp, a.base)
		}
		if prev != nil && p.SequenceNumber != prev.SequenceNumber+1 {
			t.Fatalf("packet at %d: sequence %d after %d", st.pos, p.SequenceNumber, prev.SequenceNumber)
		}
		prev = p
	}
}

// TestAudioWithPionViewer: a viewer with a recvonly audio transceiver
// gets Opus, as written; one without gets none, and a stream without
// audio leaves a viewer's audio transceiver unanswered.
func TestAudioWithPionViewer(t *testing.T) {
	tests := []struct {
		name               string
		audio, viewerAudio bool
		wantTrack          bool
	}{
		{"on", true, true, true},
		{"viewer without audio", true, false, false},
		{"off", false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			screen := &fakeScreen{changed: make(chan struct{}, 1)}
			enc := &fakeEncoder{}
			s, err := New(Config{Screen: screen, Encode: enc.encode, Input: &fakeInput{}, KeepAlive: 50 * time.Millisecond, Audio: tt.audio})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go s.Run(ctx)

			got := make(chan *rtp.Packet, 100)
			kinds := make(chan string, 4)
			se := loopbackOnly()
			m := &webrtc.MediaEngine{}
			if err := m.RegisterDefaultCodecs(); err != nil {
				t.Fatal(err)
			}
			api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m))
			viewer, _ := dialViewer(t, s, api, func(viewer *webrtc.PeerConnection, _ *webrtc.DataChannel) {
				if tt.viewerAudio {
					if _, err := viewer.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
						t.Fatal(err)
					}
				}
				viewer.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
					kinds <- tr.Kind().String() + " " + tr.Codec().MimeType
					for tr.Kind() == webrtc.RTPCodecTypeAudio {
						p, _, err := tr.ReadRTP()
						if err != nil {
							return
						}
						got <- p
					}
				})
			}, nil)
			defer viewer.Close()
			remote := viewer.RemoteDescription().SDP
			if hasAudio := strings.Contains(remote, "opus/48000/2"); hasAudio != tt.wantTrack {
				t.Fatalf("answer offers opus: %v, want %v\n%s", hasAudio, tt.wantTrack, remote)
			}
			eventually(t, "connected", func() bool { return viewer.ConnectionState() == webrtc.PeerConnectionStateConnected })
			if !tt.wantTrack {
				s.WriteAudio([]byte{0xfc, 1}, 0) // goes nowhere, and does not fail
				return
			}
			// Written until the track is bound and the first arrives.
			pos := uint64(0)
			var first *rtp.Packet
			for deadline := time.Now().Add(10 * time.Second); first == nil; pos += 480 {
				if time.Now().After(deadline) {
					t.Fatal("no audio packet arrived")
				}
				s.WriteAudio([]byte{0xfc, byte(pos / 480)}, pos)
				select {
				case first = <-got:
				case <-time.After(10 * time.Millisecond):
				}
			}
			s.WriteAudio([]byte{0xfc, 0xee}, pos+48000)
			for {
				p := <-got
				if !bytes.Equal(p.Payload, []byte{0xfc, 0xee}) {
					continue
				}
				if d := p.Timestamp - first.Timestamp; !p.Marker || uint64(d) != pos+48000-uint64(first.Payload[1])*480 {
					t.Fatalf("packet after a second of silence: marker %v, %d ticks after the first received", p.Marker, d)
				}
				break
			}
			if k := <-kinds; k != "video video/VP8" && k != "audio audio/opus" {
				t.Fatalf("track %q", k)
			}
		})
	}
}
