package stream

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// lossyPath is a UDP path between the viewer and the agent on loopback
// that loses the first copy of every nth video packet from the agent: a
// lossy network, before SRTP (which would refuse a packet it has seen
// once as a replay), that retransmissions can repair.
type lossyPath struct {
	front, back *net.UDPConn // the viewer's side, the agent's side
	agent       *net.UDPAddr
	n           uint16

	mu      sync.Mutex
	viewer  *net.UDPAddr
	passed  int // video packets let through
	seen    map[uint16]bool
	dropped []uint16
}

func newLossyPath(t *testing.T, agent *net.UDPAddr, n uint16) *lossyPath {
	t.Helper()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	p := &lossyPath{front: listen(), back: listen(), agent: agent, n: n, seen: map[uint16]bool{}}
	go p.forward(p.front, func([]byte) (*net.UDPConn, *net.UDPAddr) { return p.back, p.agent })
	go p.forward(p.back, func(b []byte) (*net.UDPConn, *net.UDPAddr) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.lose(b) {
			return nil, nil
		}
		return p.front, p.viewer
	})
	return p
}

func (p *lossyPath) forward(from *net.UDPConn, to func([]byte) (*net.UDPConn, *net.UDPAddr)) {
	buf := make([]byte, 1500)
	for {
		n, addr, err := from.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if from == p.front {
			p.mu.Lock()
			p.viewer = addr
			p.mu.Unlock()
		}
		if c, dst := to(buf[:n]); c != nil && dst != nil {
			_, _ = c.WriteToUDP(buf[:n], dst)
		}
	}
}

// lose says whether to drop b: RTP (version 2; RTCP's packet types are
// 72-79 with the marker bit's place) of the VP8 payload type, the first
// time its sequence number is a multiple of n. The first packets all
// pass: a receiver cannot miss what came before the first it got.
// Called with mu held.
func (p *lossyPath) lose(b []byte) bool {
	if len(b) < 12 || b[0]>>6 != 2 || b[1]&0x7f != 96 {
		return false
	}
	seq := binary.BigEndian.Uint16(b[2:])
	drop := p.passed >= 10 && seq%p.n == 0 && !p.seen[seq]
	p.seen[seq] = true
	if drop {
		p.dropped = append(p.dropped, seq)
	} else {
		p.passed++
	}
	return drop
}

// hostCandidate is the address of the agent's first IPv4 UDP host
// candidate.
func hostCandidate(t *testing.T, cands []webrtc.ICECandidateInit) *net.UDPAddr {
	t.Helper()
	for _, c := range cands {
		f := strings.Fields(strings.TrimPrefix(c.Candidate, "candidate:"))
		// foundation component protocol priority ip port "typ" type
		if len(f) >= 8 && strings.EqualFold(f[2], "udp") && f[7] == "host" {
			ip := net.ParseIP(f[4]).To4()
			port, err := strconv.Atoi(f[5])
			if ip != nil && err == nil {
				return &net.UDPAddr{IP: ip, Port: port}
			}
		}
	}
	t.Fatalf("no IPv4 UDP host candidate among %v", cands)
	return nil
}

// TestLossyPath: on a path that loses every fifth video packet, the
// viewer's NACKs get each lost packet sent again, so the picture is
// repaired instead of freezing until a keyframe; and congestion control,
// told of the loss by the viewer's transport-wide feedback, has the
// encoder lower its bitrate.
func TestLossyPath(t *testing.T) {
	enc := &fakeEncoder{}
	const startKbps = 4000
	s, err := New(Config{Screen: &fakeScreen{changed: make(chan struct{}, 1)}, Encode: enc.encode,
		Input: &fakeInput{}, KeepAlive: 20 * time.Millisecond, StartKbps: startKbps})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Error(err)
		}
	}()

	// The viewer as a browser is: default codecs and interceptors, NACKs
	// among them.
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	// The viewer's one candidate is on loopback, UDP over IPv4: with a
	// candidate on each of the host's interfaces (a busy test machine has
	// dozens of bridges), the checks of each pair came through the path
	// in turn, so the path sent the agent's packets to whichever of the
	// viewer's sockets had spoken last, and the viewer got none of them
	// but those on its selected pair's.
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))

	var path *lossyPath
	var mu sync.Mutex
	got := map[uint16]bool{}
	viewer, _ := dialViewer(t, s, api, func(viewer *webrtc.PeerConnection, _ *webrtc.DataChannel) {
		viewer.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				mu.Lock()
				got[p.SequenceNumber] = true
				mu.Unlock()
			}
		})
	}, func(agent []webrtc.ICECandidateInit) []webrtc.ICECandidateInit {
		path = newLossyPath(t, hostCandidate(t, agent), 5)
		t.Logf("agent at %s", path.agent)
		port := path.front.LocalAddr().(*net.UDPAddr).Port
		return []webrtc.ICECandidateInit{{Candidate: fmt.Sprintf("candidate:1 1 udp 2130706431 127.0.0.1 %d typ host", port)}}
	})
	defer viewer.Close()

	// Keep-alive frames at 50 a second: wait for a dozen losses, then for
	// each of them to arrive after all.
	var lost []uint16
	eventually(t, "a dozen lost packets", func() bool {
		path.mu.Lock()
		defer path.mu.Unlock()
		lost = append(lost[:0], path.dropped...)
		return len(lost) >= 12
	})
	lost = lost[:12]
	// Which packets never came again, and how many came at all, tell a
	// NACK that was not answered from a path that stopped delivering.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		var missing []uint16
		for _, seq := range lost {
			if !got[seq] {
				missing = append(missing, seq)
			}
		}
		n := len(got)
		mu.Unlock()
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lost packets %v never came again (of the first %d lost, %v); the viewer got %d packets in all", missing, len(lost), lost, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	eventually(t, "a lower bitrate for the encoder", func() bool {
		enc.mu.Lock()
		defer enc.mu.Unlock()
		return len(enc.rates) > 0 && enc.rates[len(enc.rates)-1] < startKbps*3/4
	})
	enc.mu.Lock()
	t.Logf("bitrates asked of the encoder: %v kbit/s", enc.rates)
	enc.mu.Unlock()
}
