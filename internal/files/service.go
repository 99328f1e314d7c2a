package files

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"

	"github.com/airlock-rbi/airlock/internal/devtools"
)

// Direction of a transfer, as audited.
const (
	Download = "download" // from the remote browser to the viewer's machine
	Upload   = "upload"   // from the viewer's machine to the remote page
)

// Transfer is one file that crossed, for the audit log.
type Transfer struct {
	Direction string `json:"direction"`
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
}

// Config configures a Service.
type Config struct {
	// DownloadMax and UploadMax are the largest file in bytes that may
	// cross each way; 0 turns that way off.
	DownloadMax, UploadMax int64
	// Dir holds the files in transit: Dir/downloads, Dir/uploads.
	// Default /tmp/airlock.
	Dir string
	// Audit records a transfer before it happens; when it fails, the
	// transfer is refused (a file that crossed unrecorded is worse than
	// one that did not cross). Required.
	Audit func(ctx context.Context, t Transfer) error
	Log   *slog.Logger
}

// Service is one session's file transfers: the current browser's
// downloads and file choosers, and the current viewer.
type Service struct {
	cfg Config
	ctx context.Context
	log *slog.Logger

	mu        sync.Mutex
	peer      *Peer
	downloads map[string]*download // by Chromium's guid
	byID      map[int64]*download
	nextID    int64
	ready     []string // uploaded files not given to a chooser yet
	chooser   *chooser // a chooser waiting for a file
}

type download struct {
	id           int64
	guid         string
	name         string
	size, got    int64
	state        string // "progress", "ready", "refused"
	path, sha256 string
	conn         *devtools.Conn
}

type chooser struct {
	conn     *devtools.Conn
	session  string
	node     int64
	multiple bool
}

// New makes a Service living as long as ctx.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Audit == nil {
		return nil, errors.New("files: Audit is required")
	}
	if cfg.DownloadMax < 0 || cfg.UploadMax < 0 {
		return nil, fmt.Errorf("files: limits %d and %d: want 0 (off) or more", cfg.DownloadMax, cfg.UploadMax)
	}
	if cfg.Dir == "" {
		cfg.Dir = "/tmp/airlock"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{"downloads", "uploads"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("files: %w", err)
		}
	}
	return &Service{cfg: cfg, ctx: ctx, log: cfg.Log, downloads: map[string]*download{}, byID: map[int64]*download{}}, nil
}

func (s *Service) downloadDir() string { return filepath.Join(s.cfg.Dir, "downloads") }
func (s *Service) uploadDir() string   { return filepath.Join(s.cfg.Dir, "uploads") }

// Browser takes over a (newly started) Chromium: downloads go to the
// service's directory and are announced, and every page's file chooser
// is intercepted. Call it once per connection, before Chromium's pages
// matter; conn must be running.
func (s *Service) Browser(ctx context.Context, conn *devtools.Conn) error {
	conn.On("Browser.downloadWillBegin", func(ctx context.Context, e devtools.Event) { s.willBegin(ctx, conn, e) })
	conn.On("Browser.downloadProgress", func(ctx context.Context, e devtools.Event) { s.progress(ctx, conn, e) })
	conn.On("Page.fileChooserOpened", func(ctx context.Context, e devtools.Event) { s.chooserOpened(ctx, conn, e) })
	// A chooser of the browser this one replaces is gone with it.
	s.mu.Lock()
	if s.chooser != nil && s.chooser.conn != conn {
		s.chooser = nil
	}
	s.mu.Unlock()
	behavior := "allowAndName"
	if s.cfg.DownloadMax == 0 {
		// Refused by the browser itself, on top of the policy.
		behavior = "deny"
	}
	if err := conn.Call(ctx, "", "Browser.setDownloadBehavior", map[string]any{
		"behavior": behavior, "downloadPath": s.downloadDir(), "eventsEnabled": true,
	}, nil); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	err := conn.AutoAttach(ctx, func(ctx context.Context, t devtools.Session) error {
		if err := t.Call(ctx, "Page.enable", nil, nil); err != nil {
			return err
		}
		// Always intercepted: with uploads off, a page's chooser must not
		// open Chromium's own dialog on the container's files either.
		return t.Call(ctx, "Page.setInterceptFileChooserDialog", map[string]any{"enabled": true}, nil)
	}, func(t devtools.Session, err error) {
		if ctx.Err() == nil {
			s.log.Warn("prepare a browser target", "target", t.TargetID, "type", t.Type, "err", err)
		}
	})
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

// notify sends m to the current viewer, if any.
func (s *Service) notify(m outMsg) {
	s.mu.Lock()
	p := s.peer
	s.mu.Unlock()
	if p != nil {
		p.sendText(m)
	}
}

func (s *Service) willBegin(ctx context.Context, conn *devtools.Conn, e devtools.Event) {
	var ev browser.EventDownloadWillBegin
	if err := json.Unmarshal(e.Params, &ev); err != nil || ev.GUID == "" {
		s.log.Warn("malformed Browser.downloadWillBegin", "err", err)
		return
	}
	s.mu.Lock()
	s.nextID++
	d := &download{id: s.nextID, guid: ev.GUID, name: safeName(ev.SuggestedFilename), state: "progress", conn: conn}
	s.downloads[d.guid], s.byID[d.id] = d, d
	s.mu.Unlock()
	if s.cfg.DownloadMax == 0 {
		s.refuse(ctx, d, "downloads are off in this workspace")
		return
	}
	s.notify(outMsg{T: "progress", ID: d.id, Name: d.name})
}

func (s *Service) progress(ctx context.Context, conn *devtools.Conn, e devtools.Event) {
	var ev browser.EventDownloadProgress
	if err := json.Unmarshal(e.Params, &ev); err != nil {
		s.log.Warn("malformed Browser.downloadProgress", "err", err)
		return
	}
	s.mu.Lock()
	d := s.downloads[ev.GUID]
	if d == nil || d.state != "progress" || d.conn != conn {
		s.mu.Unlock()
		return
	}
	d.size, d.got = int64(ev.TotalBytes), int64(ev.ReceivedBytes)
	s.mu.Unlock()
	if over := max(d.size, d.got); over > s.cfg.DownloadMax {
		s.refuse(ctx, d, fmt.Sprintf("%s is over this workspace's download limit of %d bytes", d.name, s.cfg.DownloadMax))
		return
	}
	switch ev.State {
	case browser.DownloadProgressStateInProgress:
		s.notify(outMsg{T: "progress", ID: d.id, Name: d.name, Size: d.size, Received: d.got})
	case browser.DownloadProgressStateCanceled:
		s.finish(d, "refused", "", "")
		s.notify(outMsg{T: "refused", ID: d.id, Name: d.name, Dir: Download, Message: "the download was canceled in the browser"})
	case browser.DownloadProgressStateCompleted:
		s.completed(ctx, d)
	}
}

// completed checks the file Chromium wrote and offers it to the viewer.
func (s *Service) completed(ctx context.Context, d *download) {
	path := filepath.Join(s.downloadDir(), filepath.Base(d.guid))
	size, sum, err := hashFile(path, s.cfg.DownloadMax)
	switch {
	case errors.Is(err, errTooLarge):
		s.refuse(ctx, d, fmt.Sprintf("%s is over this workspace's download limit of %d bytes", d.name, s.cfg.DownloadMax))
		return
	case err != nil:
		s.log.Warn("downloaded file", "name", d.name, "err", err)
		s.finish(d, "refused", "", "")
		s.notify(outMsg{T: "refused", ID: d.id, Name: d.name, Dir: Download, Message: "the downloaded file could not be read"})
		return
	}
	s.mu.Lock()
	d.size, d.got = size, size
	s.mu.Unlock()
	s.finish(d, "ready", path, sum)
	s.notify(outMsg{T: "offer", ID: d.id, Name: d.name, Size: size})
}

// refuse cancels a download in the browser and tells the viewer why.
func (s *Service) refuse(ctx context.Context, d *download, why string) {
	s.finish(d, "refused", "", "")
	if err := d.conn.Call(ctx, "", "Browser.cancelDownload", map[string]any{"guid": d.guid}, nil); err != nil {
		s.log.Warn("cancel a download", "name", d.name, "err", err)
	}
	// Whatever Chromium wrote of it goes too.
	_ = os.Remove(filepath.Join(s.downloadDir(), filepath.Base(d.guid)))
	s.log.Info("download refused", "name", d.name, "why", why)
	s.notify(outMsg{T: "refused", ID: d.id, Name: d.name, Dir: Download, Message: why})
}

func (s *Service) finish(d *download, state, path, sum string) {
	s.mu.Lock()
	d.state, d.path, d.sha256 = state, path, sum
	s.mu.Unlock()
}

var errTooLarge = errors.New("file over the limit")

// hashFile returns a file's size and SHA-256, reading at most limit+1
// bytes of it.
func hashFile(path string, limit int64) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, limit+1))
	if err != nil {
		return 0, "", fmt.Errorf("read %s: %w", path, err)
	}
	if n > limit {
		return 0, "", errTooLarge
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

func (s *Service) chooserOpened(ctx context.Context, conn *devtools.Conn, e devtools.Event) {
	var ev page.EventFileChooserOpened
	if err := json.Unmarshal(e.Params, &ev); err != nil {
		s.log.Warn("malformed Page.fileChooserOpened", "err", err)
		return
	}
	if s.cfg.UploadMax == 0 {
		s.notify(outMsg{T: "error", Message: "the page asks for a file, but uploads are off in this workspace"})
		return
	}
	if ev.BackendNodeID == 0 {
		s.notify(outMsg{T: "error", Message: "the page asks for a file through a picker Airlock cannot fill (only <input type=file> works)"})
		return
	}
	c := &chooser{conn: conn, session: e.SessionID, node: int64(ev.BackendNodeID), multiple: ev.Mode == page.FileChooserOpenedModeSelectMultiple}
	s.mu.Lock()
	files := s.take(c.multiple)
	if files == nil {
		s.chooser = c
	}
	s.mu.Unlock()
	if files == nil {
		s.notify(outMsg{T: "choose", Multiple: c.multiple})
		return
	}
	s.fill(ctx, c, files)
}

// take removes the files for a chooser from those waiting: all of them
// for one that takes several, else the first. s.mu is held.
func (s *Service) take(multiple bool) []string {
	if len(s.ready) == 0 {
		return nil
	}
	if multiple {
		files := s.ready
		s.ready = nil
		return files
	}
	files := s.ready[:1:1]
	s.ready = s.ready[1:]
	return files
}

// uploaded keeps a complete upload for the next chooser, or, when one
// waits, returns the chooser and the files to fill it with.
func (s *Service) uploaded(path string) (*chooser, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ready = append(s.ready, path)
	c := s.chooser
	if c == nil {
		return nil, nil
	}
	s.chooser = nil
	return c, s.take(c.multiple)
}

func (s *Service) fill(ctx context.Context, c *chooser, files []string) {
	err := c.conn.Call(ctx, c.session, "DOM.setFileInputFiles", map[string]any{"files": files, "backendNodeId": c.node}, nil)
	if err != nil {
		s.log.Warn("fill a file chooser", "err", err)
		s.notify(outMsg{T: "error", Message: "the page's file chooser could not be filled (the page may have gone)"})
		return
	}
	for _, f := range files {
		s.notify(outMsg{T: "filled", Name: filepath.Base(f)})
	}
}
