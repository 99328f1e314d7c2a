package devtools

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
)

// startChromium runs a headless Chromium on the pipe and returns the
// connection, running.
func startChromium(t *testing.T) *Conn {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (scripts/ensure-chromium.sh)")
	}
	p, err := NewPipes()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--remote-debugging-pipe", "--user-data-dir="+t.TempDir(), "about:blank")
	cmd.ExtraFiles = p.ExtraFiles()
	cmd.Stderr = io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.Started()
	c := p.Conn()
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-runErr
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		p.Close()
	})
	return c
}

// TestChromiumDownloadAndFileChooser drives a real Chromium over the pipe
// as the agent does: every page target attached with its file chooser
// intercepted, a download announced and its progress followed, and a
// chooser filled with a file.
func TestChromiumDownloadAndFileChooser(t *testing.T) {
	c := startChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	payload := []byte("airlock devtools download\n")
	received := make(chan string, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><a id=dl href="/file" download="report.txt">get</a><input id=f type=file>
<script>f.onchange = async () => { await fetch("/got", {method: "POST", body: await f.files[0].text()}) }</script>`)
	})
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(payload) })
	mux.HandleFunc("/got", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		received <- string(b)
	})
	site := httptest.NewServer(mux)
	defer site.Close()

	choosers := make(chan struct {
		s  string
		ev page.EventFileChooserOpened
	}, 1)
	c.On("Page.fileChooserOpened", func(ctx context.Context, e Event) {
		var ev page.EventFileChooserOpened
		if err := json.Unmarshal(e.Params, &ev); err != nil {
			t.Errorf("Page.fileChooserOpened: %v", err)
			return
		}
		choosers <- struct {
			s  string
			ev page.EventFileChooserOpened
		}{e.SessionID, ev}
	})
	downloads := make(chan browser.EventDownloadProgress, 100)
	begun := make(chan browser.EventDownloadWillBegin, 1)
	c.On("Browser.downloadWillBegin", func(ctx context.Context, e Event) {
		var ev browser.EventDownloadWillBegin
		_ = json.Unmarshal(e.Params, &ev)
		begun <- ev
	})
	c.On("Browser.downloadProgress", func(ctx context.Context, e Event) {
		var ev browser.EventDownloadProgress
		_ = json.Unmarshal(e.Params, &ev)
		downloads <- ev
	})
	pages := make(chan Session, 10)
	err := c.AutoAttach(ctx, func(ctx context.Context, s Session) error {
		if err := s.Call(ctx, "Page.enable", nil, nil); err != nil {
			return err
		}
		if err := s.Call(ctx, "Page.setInterceptFileChooserDialog", map[string]any{"enabled": true}, nil); err != nil {
			return err
		}
		pages <- s
		return nil
	}, func(s Session, err error) { t.Errorf("attach %s: %v", s.TargetID, err) })
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := c.Call(ctx, "", "Browser.setDownloadBehavior", map[string]any{"behavior": "allowAndName", "downloadPath": dir, "eventsEnabled": true}, nil); err != nil {
		t.Fatal(err)
	}
	// The page opened at start was attached.
	var first Session
	select {
	case first = <-pages:
	case <-ctx.Done():
		t.Fatal("the first page was not attached")
	}
	// A page opened later is attached too; the test uses that one.
	var created struct {
		TargetID string `json:"targetId"`
	}
	if err := c.Call(ctx, "", "Target.createTarget", map[string]any{"url": site.URL}, &created); err != nil {
		t.Fatal(err)
	}
	var s Session
	for s.TargetID != created.TargetID {
		select {
		case s = <-pages:
		case <-ctx.Done():
			t.Fatalf("the new page %s was not attached (the first was %s)", created.TargetID, first.TargetID)
		}
	}
	eval := func(expr string) {
		t.Helper()
		var r struct {
			ExceptionDetails json.RawMessage `json:"exceptionDetails"`
		}
		if err := s.Call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "userGesture": true, "awaitPromise": true}, &r); err != nil || r.ExceptionDetails != nil {
			t.Fatalf("evaluate %s: %v %s", expr, err, r.ExceptionDetails)
		}
	}
	// The new target is attached before its first navigation ends, on
	// about:blank: wait for the site's page itself to have loaded. An
	// evaluation may fail while the document is being replaced.
	for want := site.URL + "/ complete"; ; {
		var r struct {
			Result struct {
				Value string `json:"value"`
			} `json:"result"`
		}
		err := s.Call(ctx, "Runtime.evaluate", map[string]any{"expression": `location.href + " " + document.readyState`, "returnByValue": true}, &r)
		if err == nil && r.Result.Value == want {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the page did not load: %q, %v", r.Result.Value, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	eval(`dl.click()`)
	var wb browser.EventDownloadWillBegin
	select {
	case wb = <-begun:
	case <-ctx.Done():
		t.Fatal("no Browser.downloadWillBegin")
	}
	if wb.SuggestedFilename != "report.txt" {
		t.Errorf("suggested name %q", wb.SuggestedFilename)
	}
	for done := false; !done; {
		select {
		case ev := <-downloads:
			if ev.GUID != wb.GUID {
				t.Fatalf("progress of %s, want %s", ev.GUID, wb.GUID)
			}
			done = ev.State == browser.DownloadProgressStateCompleted
			if ev.State == browser.DownloadProgressStateCanceled {
				t.Fatal("download canceled")
			}
		case <-ctx.Done():
			t.Fatal("download did not complete")
		}
	}
	got, err := os.ReadFile(filepath.Join(dir, wb.GUID))
	if err != nil || string(got) != string(payload) {
		t.Fatalf("downloaded file: %q, %v", got, err)
	}

	upload := filepath.Join(t.TempDir(), "mine.txt")
	if err := os.WriteFile(upload, []byte("uploaded through the pipe"), 0o600); err != nil {
		t.Fatal(err)
	}
	eval(`f.click()`)
	var ch struct {
		s  string
		ev page.EventFileChooserOpened
	}
	select {
	case ch = <-choosers:
	case <-ctx.Done():
		t.Fatal("no Page.fileChooserOpened")
	}
	if ch.s != s.ID || ch.ev.BackendNodeID == 0 {
		t.Fatalf("chooser on session %s node %d, want session %s", ch.s, ch.ev.BackendNodeID, s.ID)
	}
	if err := s.Call(ctx, "DOM.setFileInputFiles", map[string]any{"files": []string{upload}, "backendNodeId": ch.ev.BackendNodeID}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case text := <-received:
		if text != "uploaded through the pipe" {
			t.Fatalf("page got %q", text)
		}
	case <-ctx.Done():
		t.Fatal("the page reported no file")
	}
}
