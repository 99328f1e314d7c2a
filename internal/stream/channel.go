package stream

import (
	"context"
	"time"

	"github.com/pion/webrtc/v4"
)

// channelLabel is the protocol's data channel; filesLabel carries files
// (see Config.Files).
const (
	channelLabel = "airlock"
	filesLabel   = "files"
)

func (s *Streamer) onDataChannel(pc *webrtc.PeerConnection, dc *webrtc.DataChannel) {
	if dc.Label() == filesLabel && s.cfg.Files != nil {
		s.onFilesChannel(pc, dc)
		return
	}
	if dc.Label() != channelLabel {
		s.log.Info("refused data channel", "label", dc.Label())
		_ = dc.Close()
		return
	}
	dc.OnOpen(func() {
		s.mu.Lock()
		current := s.pc == pc
		if current {
			s.dc = dc
		}
		s.mu.Unlock()
		if !current {
			_ = dc.Close()
			return
		}
		w, h := s.cfg.Screen.Size()
		s.mu.Lock()
		scale := s.scale
		s.mu.Unlock()
		s.send(outMsg{T: "hello", W: w, H: h, Clipboard: s.clipboardPolicy(), Scale: max(scale, 1)})
		s.mu.Lock()
		cur := s.cursor
		s.mu.Unlock()
		if cur != nil {
			s.send(cursorMsg(*cur))
		}
	})
	// A viewer that closes the channel holds nothing any more, even if its
	// peer connection stays: let go of its keys and buttons (a closed
	// peer connection does the same, see onState).
	dc.OnClose(func() {
		s.mu.Lock()
		current := s.pc == pc
		s.mu.Unlock()
		if current {
			s.cfg.Input.ReleaseAll()
		}
	})
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if m.IsString {
			s.handle(m.Data)
		}
	})
}

// send writes a message to the current viewer's data channel, if open.
func (s *Streamer) send(m outMsg) {
	s.mu.Lock()
	dc := s.dc
	s.mu.Unlock()
	if dc == nil {
		return
	}
	if err := dc.SendText(string(m.encode())); err != nil {
		s.log.Debug("send to viewer", "type", m.T, "err", err)
	}
}

// handle applies one viewer message. A bad message is refused with a
// reason sent back; it never ends the session.
func (s *Streamer) handle(data []byte) {
	m, err := parseInput(data)
	if err != nil {
		s.send(outMsg{T: "error", Message: err.Error()})
		return
	}
	in := s.cfg.Input
	switch m.T {
	case "move", "button", "wheel", "key", "text", "clip":
		s.mu.Lock()
		s.lastInput = time.Now()
		s.mu.Unlock()
	}
	switch m.T {
	case "move":
		err = in.Move(m.X, m.Y)
	case "button":
		err = in.Button(m.B, m.Down)
	case "wheel":
		err = in.Wheel(m.DX, m.DY)
	case "key":
		err = in.Key(m.Down, m.Key, m.Code)
	case "text":
		err = in.Type(m.Text)
	case "keyframe":
		s.requestKeyframe()
	case "clip":
		err = s.toContainer(m.Text)
	case "resize":
		if s.cfg.Resize == nil {
			s.send(outMsg{T: "error", Message: "this workspace's display cannot be resized"})
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = s.cfg.Resize(ctx, m.W, m.H)
		cancel()
	}
	if err != nil {
		s.log.Warn("viewer message", "type", m.T, "err", err)
		s.send(outMsg{T: "error", Message: err.Error()})
	}
}

func (s *Streamer) toContainer(text string) error {
	p := s.clipboardPolicy()
	if s.cfg.Clipboard == nil || (p != ClipboardToContainer && p != ClipboardBoth) {
		return errClipboardIn
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.cfg.Clipboard.Set(ctx, text)
}

// copyOutAllowed reports whether the policy now lets the session's
// clipboard reach the viewer.
func (s *Streamer) copyOutAllowed() bool {
	p := s.clipboardPolicy()
	return p == ClipboardFromContainer || p == ClipboardBoth
}

type policyError string

func (e policyError) Error() string { return string(e) }

const (
	errClipboardIn = policyError("this workspace's clipboard policy does not allow pasting into the session")
)

// ForwardClipboard sends the container's clipboard changes to the viewer
// while ctx lasts, if the policy (as it is at each change) allows it.
func (s *Streamer) ForwardClipboard(ctx context.Context) {
	if s.cfg.Clipboard == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case text := <-s.cfg.Clipboard.Changes():
			if !s.copyOutAllowed() {
				continue
			}
			if len(text) > maxClipBytes {
				s.send(outMsg{T: "error", Message: "the session's clipboard holds more than 256 KiB; not copied"})
				continue
			}
			s.send(outMsg{T: "clip", Text: text})
		}
	}
}

// ForwardCursor tells the viewer the pointer's cursor as it changes, and
// a new viewer the current one, while ctx lasts.
func (s *Streamer) ForwardCursor(ctx context.Context) {
	if s.cfg.Cursor == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case cur, ok := <-s.cfg.Cursor:
			if !ok {
				return
			}
			s.mu.Lock()
			s.cursor = &cur
			s.mu.Unlock()
			s.send(cursorMsg(cur))
		}
	}
}

func cursorMsg(c Cursor) outMsg {
	if c.PNG != nil {
		return outMsg{T: "cursor", PNG: c.PNG, X: c.HotX, Y: c.HotY}
	}
	return outMsg{T: "cursor", CSS: c.CSS}
}
