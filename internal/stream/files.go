package stream

import "github.com/pion/webrtc/v4"

// FilesChannel is the viewer's "files" data channel, as Config.Files
// gets it: text (JSON) and binary messages, and the bytes waiting to go.
type FilesChannel interface {
	SendText(s string) error
	Send(b []byte) error
	BufferedAmount() uint64
}

// FilesPeer takes what arrives on a files channel.
type FilesPeer interface {
	Message(data []byte, text bool)
	// BufferedLow says the channel's buffer drained below FilesLowWater.
	BufferedLow()
	Close()
}

// FilesLowWater is the files channel's bufferedAmountLowThreshold.
const FilesLowWater = 256 << 10

func (s *Streamer) onFilesChannel(pc *webrtc.PeerConnection, dc *webrtc.DataChannel) {
	dc.SetBufferedAmountLowThreshold(FilesLowWater)
	// Messages may be delivered before OnOpen has run: they wait for the
	// peer it makes (or are dropped if the connection was replaced).
	var p FilesPeer
	opened := make(chan struct{})
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		<-opened
		if p != nil {
			p.Message(m.Data, m.IsString)
		}
	})
	dc.OnBufferedAmountLow(func() {
		select {
		case <-opened:
			if p != nil {
				p.BufferedLow()
			}
		default:
		}
	})
	dc.OnClose(func() {
		select {
		case <-opened:
			if p != nil {
				p.Close()
			}
		default:
		}
	})
	dc.OnOpen(func() {
		defer close(opened)
		s.mu.Lock()
		current := s.pc == pc
		s.mu.Unlock()
		if !current {
			_ = dc.Close()
			return
		}
		p = s.cfg.Files(dc)
	})
}
