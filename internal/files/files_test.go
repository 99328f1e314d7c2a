package files

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeChannel records what the service sends; buffered simulates what
// waits in the channel, drained by the test.
type fakeChannel struct {
	mu       sync.Mutex
	texts    chan outMsg
	chunks   [][]byte
	buffered uint64
	maxBuf   uint64
}

func newChannel() *fakeChannel { return &fakeChannel{texts: make(chan outMsg, 100)} }

func (c *fakeChannel) SendText(s string) error {
	var m outMsg
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return err
	}
	c.texts <- m
	return nil
}

func (c *fakeChannel) Send(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.chunks = append(c.chunks, append([]byte(nil), b...))
	c.buffered += uint64(len(b))
	c.maxBuf = max(c.maxBuf, c.buffered)
	return nil
}

func (c *fakeChannel) BufferedAmount() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buffered
}

func (c *fakeChannel) drain() {
	c.mu.Lock()
	c.buffered = 0
	c.mu.Unlock()
}

func (c *fakeChannel) next(t *testing.T, want string) outMsg {
	t.Helper()
	m := <-c.texts
	if m.T != want {
		t.Fatalf("got %+v, want a %q message", m, want)
	}
	return m
}

type auditLog struct {
	mu   sync.Mutex
	got  []Transfer
	fail bool
}

func (a *auditLog) record(_ context.Context, t Transfer) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail {
		return errors.New("audit store down")
	}
	a.got = append(a.got, t)
	return nil
}

func newService(t *testing.T, down, up int64) (*Service, *auditLog) {
	t.Helper()
	a := &auditLog{}
	s, err := New(context.Background(), Config{DownloadMax: down, UploadMax: up, Dir: t.TempDir(), Audit: a.record})
	if err != nil {
		t.Fatal(err)
	}
	return s, a
}

func hexSum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func control(t *testing.T, p *Peer, m map[string]any) {
	t.Helper()
	b, _ := json.Marshal(m)
	p.Message(b, true)
}

func TestUpload(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 5000) // several chunks
	for _, tc := range []struct {
		name      string
		max       int64
		size      int64
		send      []byte
		sum       string
		auditFail bool
		want      string // "uploaded" or the refusal's words
	}{
		{"ok", 1 << 20, int64(len(body)), body, hexSum(body), false, "uploaded"},
		{"empty file", 1 << 20, 0, nil, hexSum(nil), false, "uploaded"},
		{"off", 0, 10, nil, "", false, "uploads are off"},
		{"over the limit", 100, int64(len(body)), nil, "", false, "over this workspace's upload limit of 100"},
		{"more than announced", 1 << 20, 10, body, hexSum(body), false, "more bytes than the 10 announced"},
		{"wrong sum", 1 << 20, int64(len(body)), body, hexSum([]byte("x")), false, "arrived damaged"},
		{"short", 1 << 20, int64(len(body)) + 1, body, hexSum(body), false, "arrived damaged"},
		{"audit fails", 1 << 20, int64(len(body)), body, hexSum(body), true, "audit log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, a := newService(t, 0, tc.max)
			a.fail = tc.auditFail
			ch := newChannel()
			p := s.Attach(ch)
			if h := ch.next(t, "hello"); h.UploadMax != tc.max {
				t.Fatalf("hello %+v", h)
			}
			control(t, p, map[string]any{"t": "upload", "id": 7, "name": "report.txt", "size": tc.size})
			for off := 0; off < len(tc.send); off += ChunkSize {
				p.Message(chunk(7, tc.send[off:min(off+ChunkSize, len(tc.send))]), false)
			}
			if tc.sum != "" {
				control(t, p, map[string]any{"t": "end", "id": 7, "sha256": tc.sum})
			}
			m := <-ch.texts
			if tc.want == "uploaded" {
				if m.T != "uploaded" || m.Name != "report.txt" || m.Size != tc.size {
					t.Fatalf("got %+v, want uploaded", m)
				}
				s.mu.Lock()
				ready := s.ready
				s.mu.Unlock()
				if len(ready) != 1 || filepath.Base(ready[0]) != "report.txt" {
					t.Fatalf("waiting for a chooser: %q", ready)
				}
				got, err := os.ReadFile(ready[0])
				if err != nil || !bytes.Equal(got, tc.send) {
					t.Fatalf("stored %d bytes, %v", len(got), err)
				}
				if len(a.got) != 1 || a.got[0] != (Transfer{Upload, "report.txt", tc.size, tc.sum}) {
					t.Fatalf("audit %+v", a.got)
				}
				return
			}
			if (m.T != "refused" && m.T != "error") || !strings.Contains(m.Message, tc.want) {
				t.Fatalf("got %+v, want a refusal saying %q", m, tc.want)
			}
			if len(a.got) != 0 {
				t.Fatalf("refused upload audited: %+v", a.got)
			}
			if left, _ := os.ReadDir(s.uploadDir()); len(left) != 0 {
				t.Fatalf("refused upload left %d entries", len(left))
			}
		})
	}
}

// TestDownloadSentWithBackpressure serves a finished download: audited
// first, sent in chunks that never let the channel's buffer grow past
// the high water mark, ended with its sha256.
func TestDownloadSentWithBackpressure(t *testing.T) {
	s, a := newService(t, 10<<20, 0)
	body := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 3<<20/7) // 3 MiB: past the high water mark
	path := filepath.Join(s.downloadDir(), "guid-1")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	d := &download{id: 1, guid: "guid-1", name: "big.bin", size: int64(len(body)), got: int64(len(body)), state: "ready", path: path, sha256: hexSum(body)}
	s.downloads[d.guid], s.byID[1], s.nextID = d, d, 1
	ch := newChannel()
	p := s.Attach(ch)
	ch.next(t, "hello")
	if o := ch.next(t, "offer"); o.ID != 1 || o.Name != "big.bin" || o.Size != int64(len(body)) {
		t.Fatalf("offer on attach: %+v", o)
	}
	control(t, p, map[string]any{"t": "get", "id": 2})
	if e := ch.next(t, "error"); !strings.Contains(e.Message, "not ready") {
		t.Fatalf("get of an unknown download: %+v", e)
	}
	control(t, p, map[string]any{"t": "get", "id": 1})
	var end outMsg
	for done := false; !done; {
		select {
		case end = <-ch.texts:
			done = true
		default:
			ch.drain()
			p.BufferedLow()
		}
	}
	if end.T != "end" || end.SHA256 != hexSum(body) {
		t.Fatalf("got %+v, want the end with the sum", end)
	}
	var got []byte
	for _, c := range ch.chunks {
		id, b, err := parseChunk(c)
		if err != nil || id != 1 {
			t.Fatalf("chunk: id %d, %v", id, err)
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("viewer got %d bytes, want %d", len(got), len(body))
	}
	if ch.maxBuf > HighWater+ChunkSize+4 {
		t.Fatalf("the channel held %d bytes at once; the high water mark is %d", ch.maxBuf, HighWater)
	}
	if len(a.got) != 1 || a.got[0] != (Transfer{Download, "big.bin", int64(len(body)), hexSum(body)}) {
		t.Fatalf("audit %+v", a.got)
	}
}

func TestParseControl(t *testing.T) {
	sum := hexSum(nil)
	for _, tc := range []struct {
		in   string
		want string // "" ok
	}{
		{`{"t":"get","id":1}`, ""},
		{`{"t":"upload","id":2,"name":"a b.pdf","size":3}`, ""},
		{`{"t":"end","id":2,"sha256":"` + strings.ToUpper(sum) + `"}`, ""},
		{`{"t":"cancel","id":2}`, ""},
		{`{"t":"get","id":0}`, "not within"},
		{`{"t":"get","id":4294967296}`, "not within"},
		{`{"t":"upload","id":2,"name":"../x","size":3}`, "slash"},
		{`{"t":"upload","id":2,"name":"..","size":3}`, "not a file name"},
		{`{"t":"upload","id":2,"name":"a\u0000b","size":3}`, "control"},
		{`{"t":"upload","id":2,"name":"` + strings.Repeat("n", 256) + `","size":3}`, "over the limit"},
		{`{"t":"upload","id":2,"name":"a","size":-1}`, "negative"},
		{`{"t":"end","id":2,"sha256":"abc"}`, "64 hex"},
		{`{"t":"nope","id":2}`, "unknown"},
		{`{"id":2}`, `no "t"`},
		{`[1]`, "not a JSON object"},
	} {
		_, err := parseControl([]byte(tc.in))
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: got %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{"report.pdf": "report.pdf", "a/b\\c": "a_b_c", "": "download", "..": "download", "x\ny": "x_y"} {
		if got := safeName(in); got != want {
			t.Errorf("safeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzViewerMessage feeds the files channel arbitrary viewer messages,
// after an upload began: never a panic, never a file outside the upload
// directory, never more stored than announced.
func FuzzViewerMessage(f *testing.F) {
	f.Add([]byte(`{"t":"upload","id":1,"name":"a.txt","size":3}`), true)
	f.Add([]byte("\x00\x00\x00\x01abc"), false)
	f.Add([]byte(`{"t":"end","id":1,"sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}`), true)
	f.Add([]byte(`{"t":"get","id":1}`), true)
	f.Fuzz(func(t *testing.T, data []byte, text bool) {
		if m, err := parseControl(data); err == nil && m.T == "upload" {
			if m.Name != filepath.Base(m.Name) || strings.ContainsAny(m.Name, "/\\") || m.Name == ".." {
				t.Fatalf("accepted name %q", m.Name)
			}
		}
		if id, b, err := parseChunk(data); err == nil && (id <= 0 || len(b) > ChunkSize) {
			t.Fatalf("accepted chunk id %d of %d bytes", id, len(b))
		}
		s, _ := newService(t, 1<<10, 1<<10)
		ch := newChannel()
		p := s.Attach(ch)
		control(t, p, map[string]any{"t": "upload", "id": 1, "name": "a.txt", "size": 3})
		p.Message(data, text)
		p.Message(data, text)
		err := filepath.Walk(s.cfg.Dir, func(path string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(s.uploadDir(), path)
			if strings.HasPrefix(rel, "..") {
				t.Fatalf("a file outside the upload directory: %s", path)
			}
			if fi.Size() > 1<<10 {
				t.Fatalf("%s holds %d bytes, over the limit", path, fi.Size())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		p.Close()
	})
}

// A viewer that leaves in the middle of an upload leaves nothing behind.
func TestUploadDroppedWhenTheViewerLeaves(t *testing.T) {
	s, a := newService(t, 0, 1<<20)
	ch := newChannel()
	p := s.Attach(ch)
	ch.next(t, "hello")
	control(t, p, map[string]any{"t": "upload", "id": 1, "name": "half.txt", "size": 10})
	p.Message(chunk(1, []byte("12345")), false)
	if left, _ := os.ReadDir(s.uploadDir()); len(left) != 1 {
		t.Fatalf("upload in progress: %d entries", len(left))
	}
	p.Close()
	if left, _ := os.ReadDir(s.uploadDir()); len(left) != 0 {
		t.Fatalf("after the viewer left: %d entries", len(left))
	}
	if len(a.got) != 0 {
		t.Fatalf("audited: %+v", a.got)
	}
}
