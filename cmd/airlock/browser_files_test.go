package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/browsertest"

	"github.com/airlock-rbi/airlock/internal/dockertest"
	"github.com/airlock-rbi/airlock/internal/store"
)

// filesSite serves the page of TestBrowserFiles: a link to a small file,
// a link to one over the workspace's download limit, and a file input
// that posts what it was given back to the test.
type filesSite struct {
	url   string
	small []byte
	mu    sync.Mutex
	got   []string // "name:content" of each file the page's input received
}

const filesPage = `<!doctype html>
<html><head><title>airlock files</title><style>
html,body{margin:0;height:100%;font:28px sans-serif}
a{position:fixed;top:0;height:60%;width:50%;display:flex;align-items:center;justify-content:center;color:#fff;text-decoration:none}
#small{left:0;background:#2050b0}
#big{right:0;background:#b05020}
#pick{position:fixed;left:0;bottom:0;width:100%;height:40%;font-size:40px;background:#20b050}
</style></head><body>
<a id="small" href="/report.bin" download>small download</a>
<a id="big" href="/big.bin" download>big download</a>
<input id="pick" type="file">
<script>
pick.addEventListener('change', async () => {
  for (const f of pick.files) {
    await fetch('/got?name=' + encodeURIComponent(f.name), {method: 'POST', body: await f.arrayBuffer()});
  }
});
</script></body></html>`

// filesBigSize is over the workspace's download limit of filesLimit.
const (
	filesLimit   = 1 << 20
	filesBigSize = 3 << 20
)

func startFilesSite(t *testing.T) *filesSite {
	t.Helper()
	s := &filesSite{small: make([]byte, 300<<10)} // several chunks, under the limit
	for i := range s.small {
		s.small[i] = byte(i * 7 % 251)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, filesPage)
	})
	mux.HandleFunc("GET /report.bin", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(s.small)
	})
	mux.HandleFunc("GET /big.bin", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(filesBigSize))
		_, _ = w.Write(make([]byte, filesBigSize))
	})
	mux.HandleFunc("POST /got", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got = append(s.got, r.URL.Query().Get("name")+":"+string(b))
		s.mu.Unlock()
	})
	addr := serveRouted(t, mux, 170, 190)
	s.url = "http://" + addr.String() + "/"
	return s
}

func (s *filesSite) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// TestBrowserFiles moves files both ways through a real viewer: a file
// the remote page downloads is offered in the viewer, and saved on the
// viewer's machine once the user clicks Save, with the bytes the site
// served; a file over the workspace's limit is canceled and the viewer
// says why; a file the user gives the viewer fills the remote page's
// <input type=file>, which had asked for one first. Each transfer is in
// the audit log.
func TestBrowserFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("browser session: not in -short")
	}
	s := startFilesSite(t)
	bin := browsertest.Chromium(t)
	turnHost := turnAddr(t)
	turnPort := freePort(t, turnHost)
	env := startUp(t, "--turn-listen", net.JoinHostPort(turnHost, strconv.Itoa(turnPort)), "--turn-public-ip", turnHost)
	ensureChromiumImage(t, airlockBinary(t))
	c, _, err := apiClient()
	if err != nil {
		t.Fatal(err)
	}
	ws := map[string]any{"name": "e2e-files", "description": "Chromium for the files test", "image": dockertest.ChromiumImage(),
		"seccomp": "chromium", "shm_size": 512 << 20, "memory": 2 << 30, "start_url": s.url, "mode": "kiosk",
		"browser": map[string]any{
			"downloads": map[string]any{"allowed": true, "max_bytes": filesLimit},
			"uploads":   map[string]any{"allowed": true, "max_bytes": filesLimit},
		}}
	if err := c.Do(context.Background(), http.MethodPost, "/api/v1/workspaces", ws, nil); err != nil {
		t.Fatalf("create workspace: %v", err)
	}
	// The same with the default browser policy: no downloads, no uploads.
	off := map[string]any{"name": "e2e-files-off", "description": "Chromium without file transfers", "image": dockertest.ChromiumImage(),
		"seccomp": "chromium", "shm_size": 512 << 20, "memory": 2 << 30, "start_url": s.url, "mode": "kiosk"}
	if err := c.Do(context.Background(), http.MethodPost, "/api/v1/workspaces", off, nil); err != nil {
		t.Fatalf("create workspace: %v", err)
	}

	saved := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // the test runs as root; this browser is the user's, not the isolated one
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelB()
	ctx, cancel := context.WithTimeout(bctx, 5*time.Minute)
	defer cancel()
	if err := chromedp.Run(bctx, browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(saved)); err != nil {
		t.Fatalf("start the browser: %v", err)
	}
	run := func(t *testing.T, what string, act chromedp.Action) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		err := chromedp.Run(sctx, act)
		cancel()
		if err != nil {
			t.Fatalf("portal, %s: %v (viewer: %s)\nserver log:\n%s\nagent log:\n%s", what, err, viewerState(ctx), env.logTail(30), agentLog(t))
		}
	}
	run(t, "open the portal", chromedp.Navigate(env.server+"/"))
	run(t, "the login form", chromedp.WaitVisible("#login-user", chromedp.ByQuery))
	run(t, "type the user", chromedp.SendKeys("#login-user", "admin", chromedp.ByQuery))
	run(t, "type the password", chromedp.SendKeys("#login-password", "correct horse battery", chromedp.ByQuery))
	run(t, "log in", chromedp.Click("#login-submit", chromedp.ByQuery))
	// launch opens a session of workspace from the catalog and waits for
	// its video; the session ends with the test.
	launch := func(t *testing.T, workspace string) string {
		t.Helper()
		run(t, "the catalog", chromedp.Navigate(env.server+"/#/"))
		run(t, "the workspace in the catalog", chromedp.WaitVisible(`[data-workspace="`+workspace+`"] .launch`, chromedp.ByQuery))
		run(t, "launch", chromedp.Click(`[data-workspace="`+workspace+`"] .launch`, chromedp.ByQuery))
		run(t, "the viewer", chromedp.WaitVisible("#screen", chromedp.ByQuery))
		id := viewedSession(t, ctx, env)
		if err := chromedp.Run(ctx, chromedp.Poll(`(() => { const v = document.querySelector('#screen'); return v && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 0 })()`, nil, chromedp.WithPollingTimeout(90*time.Second))); err != nil {
			t.Fatalf("waiting for decoded video: %v (viewer: %s)\nserver log:\n%s\nagent log:\n%s", err, viewerState(ctx), env.logTail(30), agentLog(t))
		}
		return id
	}
	id := launch(t, "e2e-files")
	waitJS(t, ctx, "the files channel's limits", `(() => { const f = window.airlockViewer.files; return f && f.hello && f.downloadMax === `+strconv.Itoa(filesLimit)+` && f.uploadMax === `+strconv.Itoa(filesLimit)+` })()`)
	waitJS(t, ctx, "the upload button", `!document.getElementById('upload').hidden`)

	// clickRemote clicks the remote page at a fraction of the screen.
	clickRemote := func(t *testing.T, fx, fy float64) {
		t.Helper()
		var box struct{ X, Y, W, H float64 }
		if err := chromedp.Run(ctx, chromedp.Evaluate(`(() => { const r = document.querySelector('#screen').getBoundingClientRect(); return {X: r.left, Y: r.top, W: r.width, H: r.height} })()`, &box)); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Run(ctx, chromedp.MouseClickXY(box.X+box.W*fx, box.Y+box.H*fy)); err != nil {
			t.Fatal(err)
		}
	}
	files := func() string {
		var out string
		_ = chromedp.Run(ctx, chromedp.Evaluate(`JSON.stringify(window.airlockViewer.files)`, &out))
		return out
	}
	// until clicks the remote page until the viewer shows what the click
	// should cause: the remote page may still be loading at first.
	until := func(t *testing.T, what string, fx, fy float64, expr string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			clickRemote(t, fx, fy)
			var ok bool
			for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
				if err := chromedp.Run(ctx, chromedp.Evaluate(expr, &ok)); err == nil && ok {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: viewer's files %s (viewer: %s)\nagent log:\n%s", what, files(), viewerState(ctx), sessionLog(t, id))
			}
		}
	}

	t.Run("download", func(t *testing.T) {
		until(t, "the small download offered", 0.25, 0.3, `window.airlockViewer.files.downloads.some(d => d.name === 'report.bin' && d.state === 'offered')`)
		// Offered is not saved: nothing is on this machine before the click.
		if left, _ := os.ReadDir(saved); len(left) != 0 {
			t.Fatalf("saved before the user clicked Save: %v", left)
		}
		if err := chromedp.Run(ctx, chromedp.Click(`#files-list .file-save`, chromedp.ByQuery)); err != nil {
			t.Fatalf("click Save: %v (files %s)", err, files())
		}
		waitJS(t, ctx, "the download saved", `window.airlockViewer.files.downloads.some(d => d.name === 'report.bin' && d.state === 'saved')`)
		path := filepath.Join(saved, "report.bin")
		var got []byte
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			got, err = os.ReadFile(path)
			if err == nil && len(got) == len(s.small) {
				break
			}
			if time.Now().After(deadline) {
				entries, _ := os.ReadDir(saved)
				t.Fatalf("no %s of %d bytes (read %d, %v; dir %v)", path, len(s.small), len(got), err, entries)
			}
		}
		if !bytes.Equal(got, s.small) {
			t.Fatal("the saved file differs from the one the site served")
		}
	})

	t.Run("download-over-limit", func(t *testing.T) {
		// Left of the downloads panel, which now covers the top right
		// of the screen.
		until(t, "the big download refused", 0.6, 0.45, `window.airlockViewer.files.downloads.some(d => d.state === 'refused' && d.message.includes('limit of `+strconv.Itoa(filesLimit)+`'))`)
	})

	t.Run("upload", func(t *testing.T) {
		content := "uploaded by the viewer " + time.Now().Format(time.RFC3339Nano)
		path := filepath.Join(t.TempDir(), "notes.txt")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		// The page asks first: the viewer asks the user for a file.
		until(t, "the viewer asked for a file", 0.5, 0.8, `document.getElementById('toast-text').textContent.includes('asks for a file')`)
		if err := chromedp.Run(ctx, chromedp.SetUploadFiles("#upload-input", []string{path}, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		want := "notes.txt:" + content
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			got := s.received()
			if len(got) > 0 {
				if got[0] != want {
					t.Fatalf("the page's input got %q, want %q", got[0], want)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page's input got no file (viewer's files %s)\nagent log:\n%s", files(), sessionLog(t, id))
			}
		}
	})

	// Chromium killed and started again by the agent: the agent talks to
	// the new one on a new pipe, and its file choosers are intercepted.
	t.Run("upload-after-restart", func(t *testing.T) {
		killBrowser(t, id)
		content := "after the restart"
		path := filepath.Join(t.TempDir(), "again.txt")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Run(ctx, chromedp.Evaluate(`document.getElementById('toast-text').textContent = ''`, nil)); err != nil {
			t.Fatal(err)
		}
		until(t, "the restarted browser's chooser asked for a file", 0.5, 0.8, `document.getElementById('toast-text').textContent.includes('asks for a file')`)
		if err := chromedp.Run(ctx, chromedp.SetUploadFiles("#upload-input", []string{path}, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		want := "again.txt:" + content
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if got := s.received(); len(got) > 1 {
				if got[1] != want {
					t.Fatalf("the page's input got %q, want %q", got[1], want)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the restarted page's input got no file (viewer's files %s)\nagent log:\n%s", files(), sessionLog(t, id))
			}
		}
	})

	// A file dropped on the screen before the page asks waits in the
	// session, and the page's next chooser gets it without asking.
	t.Run("upload-dropped-first", func(t *testing.T) {
		content := "dropped on the screen"
		path := filepath.Join(t.TempDir(), "dropped.txt")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		var box struct{ X, Y, W, H float64 }
		if err := chromedp.Run(ctx, chromedp.Evaluate(`(() => { const r = document.querySelector('#screen').getBoundingClientRect(); return {X: r.left, Y: r.top, W: r.width, H: r.height} })()`, &box)); err != nil {
			t.Fatal(err)
		}
		x, y := box.X+box.W/2, box.Y+box.H/2
		data := &input.DragData{Items: []*input.DragDataItem{}, Files: []string{path}, DragOperationsMask: 1}
		if err := chromedp.Run(ctx,
			input.DispatchDragEvent(input.DragEnter, x, y, data),
			input.DispatchDragEvent(input.DragOver, x, y, data),
			input.DispatchDragEvent(input.Drop, x, y, data),
		); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, "the dropped file in the session", `window.airlockViewer.files.uploads.some(u => u.name === 'dropped.txt' && u.state === 'uploaded')`)
		until(t, "the page's chooser filled with the dropped file", 0.5, 0.8, `window.airlockViewer.files.uploads.some(u => u.name === 'dropped.txt' && u.state === 'filled')`)
		want := "dropped.txt:" + content
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if got := s.received(); len(got) > 2 {
				if got[2] != want {
					t.Fatalf("the page's input got %q, want %q", got[2], want)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page's input got no dropped file (viewer's files %s)\nagent log:\n%s", files(), sessionLog(t, id))
			}
		}
	})

	t.Run("audit", func(t *testing.T) {
		st, err := store.Open(context.Background(), filepath.Join(env.data, "airlock.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		events, err := st.ListAudit(context.Background(), airlock.AuditFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(s.small)
		want := map[string]bool{"file.download report.bin " + hex.EncodeToString(sum[:]): false, "file.upload notes.txt": false}
		for _, e := range events {
			var d struct {
				Name   string `json:"name"`
				SHA256 string `json:"sha256"`
			}
			_ = json.Unmarshal([]byte(e.Detail), &d)
			if e.Target != id || e.Actor != "admin" {
				continue
			}
			for k := range want {
				if strings.HasPrefix(k, e.Action+" "+d.Name) && (e.Action != "file.download" || strings.HasSuffix(k, d.SHA256)) {
					want[k] = true
				}
			}
			if e.Action == "file.download" && d.Name != "report.bin" {
				t.Errorf("a refused download was audited: %+v", e)
			}
		}
		for k, ok := range want {
			if !ok {
				t.Errorf("no audit event %q in %d events", k, len(events))
			}
		}
	})

	// A workspace without transfers: the viewer hears both are off and
	// shows no upload button.
	t.Run("transfers-off", func(t *testing.T) {
		id = launch(t, "e2e-files-off")
		waitJS(t, ctx, "the files channel's limits, off", `(() => { const f = window.airlockViewer.files; return f && f.hello && f.downloadMax === 0 && f.uploadMax === 0 })()`)
		var hidden bool
		if err := chromedp.Run(ctx, chromedp.Evaluate(`document.getElementById('upload').hidden`, &hidden)); err != nil || !hidden {
			t.Fatalf("the upload button is shown with uploads off (%v)", err)
		}
		before := len(s.received())
		// The page's file chooser is answered by the agent, not left open
		// for the user: the viewer says uploads are off.
		if err := chromedp.Run(ctx, chromedp.Evaluate(`document.getElementById('toast-text').textContent = ''`, nil)); err != nil {
			t.Fatal(err)
		}
		until(t, "the viewer told that the page's chooser is refused", 0.5, 0.8, `document.getElementById('toast-text').textContent.includes('uploads are off in this workspace')`)
		// A viewer that sends a file all the same (here the portal's own
		// check undone, as a modified viewer would) is refused by the
		// agent, and the page gets nothing.
		path := filepath.Join(t.TempDir(), "forced.txt")
		if err := os.WriteFile(path, []byte("not allowed"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Run(ctx, chromedp.Evaluate(`window.airlockViewer.files.uploadMax = 1 << 20`, nil)); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Run(ctx, chromedp.SetUploadFiles("#upload-input", []string{path}, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, "the agent's refusal of the upload", `window.airlockViewer.files.uploads.some((u) => u.name === 'forced.txt' && u.state === 'refused' && (u.message || '').includes('uploads are off in this workspace'))`)
		if got := s.received(); len(got) != before {
			t.Fatalf("the page's input got %q with uploads off", got[before:])
		}
	})
}

// sessionLog is the end of one session container's log: the agent's
// lines and Chromium's.
func sessionLog(t *testing.T, session string) string {
	cli := dockertest.Client(t)
	ctx := context.Background()
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", airlock.LabelSession+"="+session))})
	if err != nil || len(list) == 0 {
		return fmt.Sprintf("no container of session %s: %v", session, err)
	}
	rc, err := cli.ContainerLogs(ctx, list[0].ID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "400"})
	if err != nil {
		return err.Error()
	}
	defer rc.Close()
	var out bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &out, rc)
	var lines []string
	for _, l := range strings.Split(out.String(), "\n") {
		if !strings.Contains(l, "dbus") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines[max(0, len(lines)-60):], "\n")
}

// killBrowser kills the session's Chromium (its browser process, the one
// without --type=), as a crash would; the agent starts it again.
func killBrowser(t *testing.T, session string) {
	t.Helper()
	cli := dockertest.Client(t)
	ctx := context.Background()
	list, err := cli.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", airlock.LabelSession+"="+session))})
	if err != nil || len(list) == 0 {
		t.Fatalf("no container of session %s: %v", session, err)
	}
	top, err := cli.ContainerTop(ctx, list[0].ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	pidCol, cmdCol := -1, -1
	for i, title := range top.Titles {
		switch title {
		case "PID":
			pidCol = i
		case "CMD", "COMMAND":
			cmdCol = i
		}
	}
	if pidCol < 0 || cmdCol < 0 {
		t.Fatalf("docker top titles %v", top.Titles)
	}
	for _, p := range top.Processes {
		cmd := p[cmdCol]
		if strings.Contains(cmd, "chromium") && strings.Contains(cmd, "--remote-debugging-pipe") && !strings.Contains(cmd, "--type=") && !strings.HasPrefix(cmd, "/bin/sh") && !strings.Contains(cmd, "bash") {
			pid, err := strconv.Atoi(p[pidCol])
			if err != nil {
				t.Fatalf("pid %q: %v", p[pidCol], err)
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill the session's Chromium (%d): %v", pid, err)
			}
			return
		}
	}
	t.Fatalf("no Chromium browser process in %v", top.Processes)
}
