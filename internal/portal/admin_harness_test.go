package portal_test

// The admin pages' browser tests run the portal as `airlock server`
// serves it: a real infra server in this process on loopback (api,
// gateway and portal, SQLite in a temporary directory, no Docker), and a
// real headless Chromium driven over CDP. This is an external test
// package because infra imports portal.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/airlock-rbi/airlock/internal/auth"
	"github.com/airlock-rbi/airlock/internal/browsertest"
	"github.com/airlock-rbi/airlock/internal/infra"
)

const adminPassword = "admin-password-1"

// server is a running infra server and an api client signed in as its
// first admin with an API token.
type server struct {
	t     *testing.T
	base  string // https://127.0.0.1:PORT
	srv   *infra.Server
	http  *http.Client
	token string
}

func startServer(t *testing.T) *server {
	t.Helper()
	return startServerWith(t, "127.0.0.1:0", nil)
}

// startServerWith is startServer listening on listen, with edit's changes
// to the server's configuration.
func startServerWith(t *testing.T, listen string, edit func(*infra.Config)) *server {
	t.Helper()
	if testing.Short() {
		t.Skip("real browser and server: not in -short")
	}
	data := t.TempDir()
	type up struct {
		addr string
		srv  *infra.Server
	}
	ready := make(chan up, 1)
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	var runErr error
	go func() {
		defer close(exited)
		// No session container is started, so the agents' URL is never
		// used; a loopback listener needs one all the same.
		cfg := infra.Config{DataDir: data, Listen: listen, AgentURL: "https://127.0.0.1:9", AccessLog: "off",
			AdminPassword: adminPassword, PasswordParams: &auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1},
			Ready: func(addr string, s *infra.Server) { ready <- up{addr, s} }}
		if edit != nil {
			edit(&cfg)
		}
		runErr = infra.Run(ctx, cfg)
	}()
	t.Cleanup(func() {
		cancel()
		<-exited
		if runErr != nil {
			t.Errorf("infra server: %v", runErr)
		}
	})
	var u up
	select {
	case u = <-ready:
	case <-exited:
		t.Fatalf("infra server exited before it was ready: %v", runErr)
	case <-time.After(30 * time.Second):
		t.Fatal("infra server did not come up in 30s")
	}
	pem, err := os.ReadFile(filepath.Join(data, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	s := &server{t: t, base: "https://" + u.addr, srv: u.srv, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	s.token = s.login("admin", adminPassword)
	return s
}

// apiError is the api's refusal: its status and message.
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %s", e.Status, e.Message) }

// call sends a request with token (none: unauthenticated) and decodes a
// 2xx answer into out; a refusal is an *apiError.
func (s *server) call(token, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+"/api/v1"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		var e struct{ Message string }
		_ = json.Unmarshal(b, &e)
		return &apiError{Status: res.StatusCode, Message: e.Message}
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

// must is call as the admin, failing the test on any error.
func (s *server) must(method, path string, body, out any) {
	s.t.Helper()
	if err := s.call(s.token, method, path, body, out); err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
}

// refusal is the api's message refusing a call as the admin; the call
// must be refused.
func (s *server) refusal(method, path string, body any) string {
	s.t.Helper()
	err := s.call(s.token, method, path, body, nil)
	e, ok := err.(*apiError)
	if !ok {
		s.t.Fatalf("%s %s: want a refusal, got %v", method, path, err)
	}
	return e.Message
}

// login signs in with a password and answers an API token.
func (s *server) login(user, password string) string {
	s.t.Helper()
	var res struct{ Token string }
	if err := s.call("", "POST", "/auth/login", map[string]any{"user": user, "password": password, "token": true}, &res); err != nil {
		s.t.Fatalf("sign in as %s: %v", user, err)
	}
	return res.Token
}

// page is one Chromium tab on the portal.
type page struct {
	t   *testing.T
	ctx context.Context
	s   *server
}

// openPortal starts Chromium, opens the portal and signs in as user
// through the sign-in form.
func (s *server) openPortal(user, password string) *page {
	s.t.Helper()
	p := s.openBrowser()
	p.run(chromedp.Navigate(s.base + "/"))
	// Typed only once the portal's modules run: before, Enter would
	// submit the form as a plain page load.
	p.waitFor(`window.airlockStarted === true && !document.getElementById('view-login').hidden`)
	p.run(chromedp.SendKeys("#login-user", user, chromedp.ByID),
		chromedp.SendKeys("#login-password", password+kb.Enter, chromedp.ByID))
	p.waitFor(`!document.getElementById('view-home').hidden`)
	return p
}

// openBrowser starts Chromium (the server's certificate is its own CA's,
// which this browser does not know) with a blank tab.
func (s *server) openBrowser() *page {
	t := s.t
	t.Helper()
	browser := browsertest.Chromium(t)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.Flag("ignore-certificate-errors", true))...)
	t.Cleanup(cancelA)
	// This chromedp does not know every event of this Chromium (the top
	// layer a modal dialog opens): those go to the test's log.
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelT)
	return &page{t: t, ctx: ctx, s: s}
}

func (p *page) run(actions ...chromedp.Action) {
	p.t.Helper()
	if err := chromedp.Run(p.ctx, actions...); err != nil {
		p.t.Fatalf("browser: %v\npage shows: %s", err, p.text())
	}
}

// text is what the page shows, for failure messages.
func (p *page) text() string {
	var s string
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	_ = chromedp.Run(ctx, chromedp.Evaluate(`document.body.innerText`, &s))
	return strings.Join(strings.Fields(s), " ")
}

// eval evaluates a JS expression into out.
func (p *page) eval(expr string, out any) {
	p.t.Helper()
	p.run(chromedp.Evaluate(expr, out))
}

// waitFor polls a JS expression until it is true.
func (p *page) waitFor(expr string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ok bool
		if err := chromedp.Run(p.ctx, chromedp.Evaluate(expr, &ok)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the page did not get to %s\npage shows: %s", expr, p.text())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// keys types text (kb.Enter and friends included) into what has the
// focus, as a keyboard does.
func (p *page) keys(text string) {
	p.t.Helper()
	p.run(chromedp.KeyEvent(text))
}

// tabTo presses Tab until the focus is on the element selector finds (a
// CSS selector), at most 200 times, so the element is proven reachable
// with the keyboard alone.
func (p *page) tabTo(selector string) {
	p.t.Helper()
	q, err := json.Marshal(selector)
	if err != nil {
		p.t.Fatal(err)
	}
	expr := fmt.Sprintf(`document.activeElement === document.querySelector(%s)`, q)
	for range 200 {
		var ok bool
		p.eval(expr, &ok)
		if ok {
			return
		}
		p.keys(kb.Tab)
	}
	var at string
	p.eval(`(document.activeElement.id || document.activeElement.getAttribute('aria-label') || document.activeElement.tagName)`, &at)
	p.t.Fatalf("Tab never reached %s (the focus is on %s)\npage shows: %s", selector, at, p.text())
}

// focused is the focused element's id or, without one, its aria-label.
func (p *page) focused() string {
	var s string
	p.eval(`document.activeElement.id || document.activeElement.getAttribute('aria-label') || document.activeElement.tagName`, &s)
	return s
}

// textOf is an element's text.
func (p *page) textOf(selector string) string {
	q, _ := json.Marshal(selector)
	var s string
	p.eval(fmt.Sprintf(`(document.querySelector(%s) || {}).textContent || ''`, q), &s)
	return strings.TrimSpace(s)
}

// adminPage goes to an admin page with the keyboard: from the home
// view's Administration link, then the navigation's link to it.
func (p *page) adminPage(path, title string) {
	p.t.Helper()
	p.run(chromedp.Navigate(p.s.base + "/#/"))
	p.waitFor(`!document.getElementById('view-home').hidden && !document.getElementById('nav-admin').hidden`)
	p.run(chromedp.Evaluate(`document.activeElement && document.activeElement.blur()`, nil))
	p.tabTo("#nav-admin")
	p.keys(kb.Enter)
	p.waitFor(`document.getElementById('admin-title').textContent === 'Users'`)
	if path != "users" {
		p.tabTo(fmt.Sprintf(`#admin-nav a[data-page=%q]`, path))
		p.keys(kb.Enter)
	}
	p.waitFor(fmt.Sprintf(`document.getElementById('admin-title').textContent === %q`, title))
	p.waitFor(`document.querySelector('#admin-page tbody') && document.querySelector('#admin-page tbody').children.length > 0`)
}

// waitStatus waits until the live region says want.
func (p *page) waitStatus(want string) {
	p.t.Helper()
	q, _ := json.Marshal(want)
	p.waitFor(fmt.Sprintf(`document.getElementById('admin-status').textContent === %s`, q))
}

// confirmDialog checks the confirmation is open with the focus on
// Cancel, and answers it with the keyboard: Escape, or Tab to the
// confirm button and Enter.
func (p *page) confirmDialog(yes bool) {
	p.t.Helper()
	p.waitFor(`document.getElementById('admin-confirm').open`)
	if got := p.focusSettles("admin-confirm-cancel"); got != "admin-confirm-cancel" {
		p.t.Fatalf("the confirmation opened with the focus on %s, want its Cancel button", got)
	}
	if yes {
		p.keys(kb.Tab)
		if got := p.focusSettles("admin-confirm-ok"); got != "admin-confirm-ok" {
			p.t.Fatalf("Tab from Cancel went to %s, want the confirm button", got)
		}
		p.keys(kb.Enter)
	} else {
		p.keys(kb.Escape)
	}
	p.waitFor(`!document.getElementById('admin-confirm').open`)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// focusSettles waits up to 5 s for the focus to be on want (an id or an
// aria-label): a page moves it once its list is loaded again, after
// announcing the result. It answers where the focus is.
func (p *page) focusSettles(want string) string {
	p.t.Helper()
	got := ""
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = p.focused(); got == want {
			break
		}
	}
	return got
}

// evalAwait evaluates a JS expression whose value is a promise and
// stores what it resolves to.
func evalAwait(expr string, out any) chromedp.Action {
	return chromedp.Evaluate(expr, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	})
}
