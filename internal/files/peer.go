package files

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Channel is the viewer's "files" data channel as the service uses it.
type Channel interface {
	SendText(s string) error
	Send(b []byte) error
	BufferedAmount() uint64
}

// Flow control: the agent stops sending a download's chunks while more
// than HighWater bytes wait in the channel, and goes on when the channel
// says it has drained to LowWater (its bufferedAmountLowThreshold).
const (
	HighWater = 1 << 20
	LowWater  = 256 << 10
)

// Peer is one viewer's files channel.
type Peer struct {
	s   *Service
	ch  Channel
	low chan struct{}

	closeOnce sync.Once
	closed    chan struct{}

	// uploads in progress, by the viewer's id: Message (one at a time)
	// and Close, which drops what a viewer that left did not finish.
	umu     sync.Mutex
	uploads map[int64]*upload
}

type upload struct {
	f         *os.File
	dir, name string
	size, got int64
	h         hash.Hash
}

// Attach makes ch the viewer's files channel, replacing the previous
// viewer's, and tells it the limits and the transfers it can see.
func (s *Service) Attach(ch Channel) *Peer {
	p := &Peer{s: s, ch: ch, low: make(chan struct{}, 1), closed: make(chan struct{}), uploads: map[int64]*upload{}}
	s.mu.Lock()
	old := s.peer
	s.peer = p
	var pending []outMsg
	for id := int64(1); id <= s.nextID; id++ {
		switch d := s.byID[id]; d.state {
		case "progress":
			pending = append(pending, outMsg{T: "progress", ID: d.id, Name: d.name, Size: d.size, Received: d.got})
		case "ready":
			pending = append(pending, outMsg{T: "offer", ID: d.id, Name: d.name, Size: d.size})
		}
	}
	if s.chooser != nil {
		pending = append(pending, outMsg{T: "choose", Multiple: s.chooser.multiple})
	}
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
	p.sendText(outMsg{T: "hello", DownloadMax: s.cfg.DownloadMax, UploadMax: s.cfg.UploadMax})
	for _, m := range pending {
		p.sendText(m)
	}
	return p
}

func (p *Peer) sendText(m outMsg) {
	if err := p.ch.SendText(m.encode()); err != nil {
		p.s.log.Debug("send to viewer", "type", m.T, "err", err)
	}
}

// BufferedLow is the channel's bufferedamountlow event.
func (p *Peer) BufferedLow() {
	select {
	case p.low <- struct{}{}:
	default:
	}
}

// Close ends the peer: a download being sent stops, uploads in progress
// are dropped.
func (p *Peer) Close() {
	p.closeOnce.Do(func() {
		close(p.closed)
		p.umu.Lock()
		for id := range p.uploads {
			p.drop(id)
		}
		p.umu.Unlock()
		p.s.mu.Lock()
		if p.s.peer == p {
			p.s.peer = nil
		}
		p.s.mu.Unlock()
	})
}

// Message handles one message of the viewer. Bad ones are answered with
// an error and change nothing.
func (p *Peer) Message(data []byte, text bool) {
	p.umu.Lock()
	defer p.umu.Unlock()
	if !text {
		id, b, err := parseChunk(data)
		if err == nil {
			err = p.chunk(id, b)
		}
		if err != nil {
			p.sendText(outMsg{T: "error", Message: err.Error()})
		}
		return
	}
	m, err := parseControl(data)
	if err != nil {
		p.sendText(outMsg{T: "error", Message: err.Error()})
		return
	}
	switch m.T {
	case "get":
		p.get(m.ID)
	case "upload":
		p.start(m)
	case "end":
		p.end(m)
	case "cancel":
		p.drop(m.ID)
	}
}

// get sends a finished download to the viewer, after auditing it.
func (p *Peer) get(id int64) {
	s := p.s
	s.mu.Lock()
	d := s.byID[id]
	var name, path, sum string
	var size int64
	ok := d != nil && d.state == "ready"
	if ok {
		name, path, sum, size = d.name, d.path, d.sha256, d.size
	}
	s.mu.Unlock()
	if !ok {
		p.sendText(outMsg{T: "error", ID: id, Message: fmt.Sprintf("download %d is not ready to be saved", id)})
		return
	}
	go func() {
		if err := s.cfg.Audit(s.ctx, Transfer{Direction: Download, Name: name, Size: size, SHA256: sum}); err != nil {
			s.log.Error("audit a download; not sent", "name", name, "err", err)
			p.sendText(outMsg{T: "refused", ID: id, Name: name, Dir: Download, Message: "the download could not be recorded in the audit log, so it was not sent"})
			return
		}
		if err := p.sendFile(id, path, size); err != nil {
			s.log.Warn("send a download", "name", name, "err", err)
			return
		}
		p.sendText(outMsg{T: "end", ID: id, Name: name, Size: size, SHA256: sum})
		s.log.Info("download sent", "name", name, "size", size, "sha256", sum)
	}()
}

func (p *Peer) sendFile(id int64, path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, ChunkSize)
	var sent int64
	for sent < size {
		for p.ch.BufferedAmount() > HighWater {
			select {
			case <-p.low:
			case <-p.closed:
				return errViewerGone
			case <-p.s.ctx.Done():
				return p.s.ctx.Err()
			}
		}
		n, err := io.ReadFull(f, buf[:min(int64(len(buf)), size-sent)])
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if err := p.ch.Send(chunk(id, buf[:n])); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		sent += int64(n)
	}
	return nil
}

var errViewerGone = fmt.Errorf("the viewer left")

func (p *Peer) refuseUpload(id int64, name, why string) {
	p.sendText(outMsg{T: "refused", ID: id, Name: name, Message: why, Dir: Upload})
}

// start begins an upload.
func (p *Peer) start(m inMsg) {
	s := p.s
	switch {
	case s.cfg.UploadMax == 0:
		p.refuseUpload(m.ID, m.Name, "uploads are off in this workspace")
		return
	case m.Size > s.cfg.UploadMax:
		p.refuseUpload(m.ID, m.Name, fmt.Sprintf("%s is over this workspace's upload limit of %d bytes", m.Name, s.cfg.UploadMax))
		return
	case p.uploads[m.ID] != nil:
		p.refuseUpload(m.ID, m.Name, fmt.Sprintf("upload %d is already in progress", m.ID))
		return
	}
	// A directory each keeps the file's own name, which the page sees.
	dir, err := os.MkdirTemp(s.uploadDir(), "u")
	if err != nil {
		s.log.Error("upload directory", "err", err)
		p.refuseUpload(m.ID, m.Name, "the session could not store the file")
		return
	}
	f, err := os.OpenFile(filepath.Join(dir, m.Name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		_ = os.RemoveAll(dir)
		s.log.Error("upload file", "err", err)
		p.refuseUpload(m.ID, m.Name, "the session could not store the file")
		return
	}
	p.uploads[m.ID] = &upload{f: f, dir: dir, name: m.Name, size: m.Size, h: sha256.New()}
}

func (p *Peer) chunk(id int64, b []byte) error {
	u := p.uploads[id]
	if u == nil {
		return fmt.Errorf("file chunk for upload %d, which is not in progress", id)
	}
	if u.got+int64(len(b)) > u.size {
		p.drop(id)
		p.refuseUpload(id, u.name, fmt.Sprintf("%s: more bytes than the %d announced", u.name, u.size))
		return nil
	}
	if _, err := u.f.Write(b); err != nil {
		p.drop(id)
		p.s.log.Error("write an upload", "err", err)
		p.refuseUpload(id, u.name, "the session could not store the file")
		return nil
	}
	u.h.Write(b)
	u.got += int64(len(b))
	return nil
}

// drop abandons an upload and removes what it wrote.
func (p *Peer) drop(id int64) {
	if u := p.uploads[id]; u != nil {
		_ = u.f.Close()
		_ = os.RemoveAll(u.dir)
		delete(p.uploads, id)
	}
}

func (p *Peer) end(m inMsg) {
	u := p.uploads[m.ID]
	if u == nil {
		p.sendText(outMsg{T: "error", ID: m.ID, Message: fmt.Sprintf("end of upload %d, which is not in progress", m.ID)})
		return
	}
	sum := hex.EncodeToString(u.h.Sum(nil))
	if u.got != u.size || sum != m.SHA256 {
		p.drop(m.ID)
		p.refuseUpload(m.ID, u.name, fmt.Sprintf("%s arrived damaged (%d of %d bytes, or a different sha256)", u.name, u.got, u.size))
		return
	}
	if err := u.f.Close(); err != nil {
		p.drop(m.ID)
		p.refuseUpload(m.ID, u.name, "the session could not store the file")
		return
	}
	path := filepath.Join(u.dir, u.name)
	delete(p.uploads, m.ID)
	s := p.s
	ctx := s.ctx
	go func() {
		if err := s.cfg.Audit(ctx, Transfer{Direction: Upload, Name: u.name, Size: u.size, SHA256: sum}); err != nil {
			_ = os.RemoveAll(u.dir)
			s.log.Error("audit an upload; not given to the page", "name", u.name, "err", err)
			p.refuseUpload(m.ID, u.name, "the upload could not be recorded in the audit log, so the page does not get it")
			return
		}
		s.log.Info("upload received", "name", u.name, "size", u.size, "sha256", sum)
		c, files := s.uploaded(path)
		p.sendText(outMsg{T: "uploaded", ID: m.ID, Name: u.name, Size: u.size})
		if c != nil {
			s.fill(ctx, c, files)
		}
	}()
}
