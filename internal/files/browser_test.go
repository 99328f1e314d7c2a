package files

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/airlock-rbi/airlock/internal/devtools"
)

// fakeBrowser is Chromium's end of the DevTools pipe: it answers every
// command with an empty result, records them, and sends the events the
// test gives it.
type fakeBrowser struct {
	t    *testing.T
	out  *io.PipeWriter
	mu   sync.Mutex
	cmds chan fakeCommand
}

type fakeCommand struct {
	Session string
	Method  string
	Params  map[string]any
}

// startFakeBrowser hands the service a fake browser, and returns it
// with the parameters of the service's Browser.setDownloadBehavior.
func startFakeBrowser(t *testing.T, s *Service) (*fakeBrowser, map[string]any) {
	t.Helper()
	cmdR, cmdW := io.Pipe()
	outR, outW := io.Pipe()
	b := &fakeBrowser{t: t, out: outW, cmds: make(chan fakeCommand, 100)}
	conn := devtools.New(outR, cmdW)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = conn.Run(ctx) }()
	go func() {
		r := bufio.NewReader(cmdR)
		for {
			frame, err := r.ReadBytes(0)
			if err != nil {
				return
			}
			var c struct {
				ID        int64          `json:"id"`
				SessionID string         `json:"sessionId"`
				Method    string         `json:"method"`
				Params    map[string]any `json:"params"`
			}
			if err := json.Unmarshal(frame[:len(frame)-1], &c); err != nil {
				t.Errorf("command %q: %v", frame, err)
				return
			}
			b.cmds <- fakeCommand{c.SessionID, c.Method, c.Params}
			b.send(fmt.Sprintf(`{"id":%d,"sessionId":%q,"result":{}}`, c.ID, c.SessionID))
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = outW.Close()
		_ = cmdR.Close()
		<-done
	})
	if err := s.Browser(ctx, conn); err != nil {
		t.Fatal(err)
	}
	behavior := b.want("", "Browser.setDownloadBehavior").Params
	b.want("", "Target.setAutoAttach")
	return b, behavior
}

func (b *fakeBrowser) send(frame string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, _ = b.out.Write([]byte(frame + "\x00"))
}

// want waits for the next command and checks it.
func (b *fakeBrowser) want(session, method string) fakeCommand {
	b.t.Helper()
	c := <-b.cmds
	if c.Session != session || c.Method != method {
		b.t.Fatalf("got command %s on %q, want %s on %q", c.Method, c.Session, method, session)
	}
	return c
}

func (b *fakeBrowser) event(method, params string) {
	b.send(`{"method":"` + method + `","params":` + params + `}`)
}

func TestDownloadsFromTheBrowser(t *testing.T) {
	for _, tc := range []struct {
		name     string
		max      int64
		total    int64
		behavior string
		want     string // the viewer's last message: "offer" or the refusal's words
	}{
		{"offered", 1 << 20, 5, "allowAndName", "offer"},
		{"over the limit", 4, 5, "allowAndName", "over this workspace's download limit of 4 bytes"},
		{"off", 0, 5, "deny", "downloads are off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newService(t, tc.max, 0)
			ch := newChannel()
			s.Attach(ch)
			ch.next(t, "hello")
			b, behavior := startFakeBrowser(t, s)
			if behavior["behavior"] != tc.behavior || behavior["downloadPath"] != s.downloadDir() || behavior["eventsEnabled"] != true {
				t.Fatalf("download behavior %v, want %s", behavior, tc.behavior)
			}
			if err := os.WriteFile(filepath.Join(s.downloadDir(), "g1"), []byte("12345"), 0o600); err != nil {
				t.Fatal(err)
			}
			b.event("Browser.downloadWillBegin", `{"frameId":"F","guid":"g1","url":"http://x/r.bin","suggestedFilename":"../r.bin"}`)
			if tc.max > 0 {
				// The page's name, made a plain file name.
				if m := ch.next(t, "progress"); m.Name != ".._r.bin" {
					t.Fatalf("progress %+v", m)
				}
				b.event("Browser.downloadProgress", fmt.Sprintf(`{"guid":"g1","totalBytes":%d,"receivedBytes":%d,"state":"completed"}`, tc.total, tc.total))
			}
			m := <-ch.texts
			if tc.want == "offer" {
				if m.T != "offer" || m.Size != 5 || m.ID != 1 {
					t.Fatalf("got %+v, want the offer of 5 bytes", m)
				}
				return
			}
			if m.T != "refused" || m.Dir != Download || !strings.Contains(m.Message, tc.want) {
				t.Fatalf("got %+v, want a refusal saying %q", m, tc.want)
			}
			if c := b.want("", "Browser.cancelDownload"); c.Params["guid"] != "g1" {
				t.Fatalf("canceled %v", c.Params)
			}
			if _, err := os.Stat(filepath.Join(s.downloadDir(), "g1")); !os.IsNotExist(err) {
				t.Fatalf("the refused download's file is still there: %v", err)
			}
		})
	}
}

// TestChooserWaitsForAnUpload: a page's chooser opened before any upload
// makes the viewer ask for a file, and the next upload fills it.
func TestChooserWaitsForAnUpload(t *testing.T) {
	s, _ := newService(t, 0, 1<<20)
	ch := newChannel()
	p := s.Attach(ch)
	ch.next(t, "hello")
	b, _ := startFakeBrowser(t, s)
	b.event("Target.attachedToTarget", `{"sessionId":"S1","targetInfo":{"targetId":"T1","type":"page","title":"","url":"","attached":true,"canAccessOpener":false},"waitingForDebugger":true}`)
	b.want("S1", "Page.enable")
	if c := b.want("S1", "Page.setInterceptFileChooserDialog"); c.Params["enabled"] != true {
		t.Fatalf("intercept %v", c.Params)
	}
	b.want("S1", "Target.setAutoAttach")
	b.want("S1", "Runtime.runIfWaitingForDebugger")

	b.send(`{"method":"Page.fileChooserOpened","sessionId":"S1","params":{"frameId":"F","mode":"selectSingle","backendNodeId":42}}`)
	if m := ch.next(t, "choose"); m.Multiple {
		t.Fatalf("choose %+v", m)
	}
	control(t, p, map[string]any{"t": "upload", "id": 3, "name": "cv.txt", "size": 3})
	p.Message(chunk(3, []byte("abc")), false)
	control(t, p, map[string]any{"t": "end", "id": 3, "sha256": hexSum([]byte("abc"))})
	ch.next(t, "uploaded")
	c := b.want("S1", "DOM.setFileInputFiles")
	files, _ := c.Params["files"].([]any)
	if c.Params["backendNodeId"] != 42.0 || len(files) != 1 || filepath.Base(files[0].(string)) != "cv.txt" {
		t.Fatalf("filled with %v", c.Params)
	}
	if got, err := os.ReadFile(files[0].(string)); err != nil || string(got) != "abc" {
		t.Fatalf("the file given to the page: %q, %v", got, err)
	}
	if m := ch.next(t, "filled"); m.Name != "cv.txt" {
		t.Fatalf("filled %+v", m)
	}
}
