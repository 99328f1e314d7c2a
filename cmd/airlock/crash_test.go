package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// crashProc is `airlock up` running as a real process in its own process
// group, so it can be SIGKILLed like a crashed server.
type crashProc struct {
	cmd    *exec.Cmd
	out    *lineWaiter
	errOut *syncBuffer
	// exited is closed once the process is reaped; err is Wait's error.
	exited chan struct{}
	err    error
	url    string
}

const crashPassword = "correct horse battery"

// crashStartUp runs `airlock up` on data, with extra flags, and waits for
// its login line.
func crashStartUp(t *testing.T, bin, data, listen string, extra ...string) *crashProc {
	t.Helper()
	p := &crashProc{
		out:    &lineWaiter{re: regexp.MustCompile(`login --server (https://\S+)`), found: make(chan string, 1)},
		errOut: &syncBuffer{},
		exited: make(chan struct{}),
	}
	p.cmd = exec.Command(bin, append([]string{"up", "--data", data, "--listen", listen, "--provision-listen", "127.0.0.1:0", "--metrics-listen", ""}, extra...)...)
	p.cmd.Env = append(os.Environ(), "AIRLOCK_ADMIN_PASSWORD="+crashPassword)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.errOut
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.kill() })
	select {
	case p.url = <-p.out.found:
	case <-p.exited:
		t.Fatalf("airlock up exited: %v\nstdout: %s\nstderr: %s", p.err, p.stdout(), p.errOut.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("airlock up did not come up in 60s\nstderr: %s", p.errOut.String())
	}
	return p
}

func (p *crashProc) stdout() string {
	p.out.mu.Lock()
	defer p.out.mu.Unlock()
	return p.out.buf.String()
}

// kill SIGKILLs the process group and reaps the process; it is a no-op
// once the process has exited.
func (p *crashProc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
	}
}

// crash SIGKILLs the process group, as a crash would end the server,
// and fails the test if the process survives it.
func (p *crashProc) crash(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("airlock up survived SIGKILL")
	}
}

// crashAPI calls the api of a server whose CA is in data.
type crashAPI struct {
	t      *testing.T
	base   string
	token  string
	client *http.Client
}

func newCrashAPI(t *testing.T, base, data string) *crashAPI {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(data, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca.pem holds no certificate")
	}
	return &crashAPI{t: t, base: base, client: &http.Client{Timeout: 15 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
}

// do sends a JSON request and decodes a JSON answer into out; it returns
// the status and the raw body.
func (a *crashAPI) do(method, path string, body, out any) (int, string) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, string(raw)
}

func (a *crashAPI) login() {
	a.t.Helper()
	var resp struct {
		Token string `json:"token"`
	}
	status, body := a.do(http.MethodPost, "/api/v1/auth/login",
		map[string]any{"user": "admin", "password": crashPassword, "token": true, "token_name": "crash-test"}, &resp)
	if status != http.StatusOK || resp.Token == "" {
		a.t.Fatalf("login: %d %s", status, body)
	}
	a.token = resp.Token
}

type crashSession struct {
	ID        string `json:"id"`
	Node      string `json:"node_id"`
	Container string `json:"container"`
	State     string `json:"state"`
	Reason    string `json:"reason"`
}

// sessionContainers lists the containers labelled with a session ID, by ID.
func sessionContainers(t *testing.T, socket *client.Client, ids []string) map[string][]container.Summary {
	t.Helper()
	out := map[string][]container.Summary{}
	for _, id := range ids {
		list, err := socket.ContainerList(context.Background(), container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", airlock.LabelSession+"="+id))})
		if err != nil {
			t.Fatalf("list containers of session %s: %v", id, err)
		}
		out[id] = list
	}
	return out
}

// TestServerKilledMidLaunch SIGKILLs `airlock up` while the launches of
// its sessions run in the background, restarts it on the same data
// directory, and checks that every session ends ready (container running,
// agent registered) or failed with a reason, that none is left starting,
// and that no container outlives its session.
//
// The api listens on the same port after the restart: the agents of the
// containers that did start were given https://host.docker.internal:PORT
// and can only register there, as they would with a server restarted on
// its configured port. The provision node gets a new port, so sessions
// whose container was made through the old node URL are handled through
// the node record EnsureLocalNode updates (same dockerd).
func TestServerKilledMidLaunch(t *testing.T) {
	socket := dockertest.Client(t)
	bin := airlockBinary(t)
	data := t.TempDir()
	start := time.Now()

	var ids []string
	t.Cleanup(func() {
		// Remove whatever the sessions left, whatever the outcome.
		for _, list := range sessionContainers(t, socket, ids) {
			for _, c := range list {
				_ = socket.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
			}
		}
	})

	first := crashStartUp(t, bin, data, ":0")
	api := newCrashAPI(t, first.url, data)
	api.login()
	oldToken := api.token
	u, err := url.Parse(first.url)
	if err != nil {
		t.Fatal(err)
	}
	apiPort := u.Port()

	create := func() string {
		t.Helper()
		var s crashSession
		status, body := api.do(http.MethodPost, "/api/v1/sessions", map[string]string{"workspace": "minimal"}, &s)
		if status != http.StatusCreated || s.ID == "" || s.State != "starting" {
			t.Fatalf("create session: %d %s", status, body)
		}
		ids = append(ids, s.ID)
		return s.ID
	}
	// waitContainer waits until the session's container exists (and, with
	// running, runs).
	waitContainer := func(id string, running bool) {
		t.Helper()
		for end := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			list := sessionContainers(t, socket, []string{id})[id]
			if len(list) > 0 && (!running || list[0].State == "running") {
				return
			}
			if time.Now().After(end) {
				t.Fatalf("no container for session %s after 30s: %+v\nstderr: %s", id, list, first.errOut.String())
			}
		}
	}
	// Three sessions (the default limit) cut short at different points:
	// the first's container runs (its agent registers before or after the
	// crash), the second's was just created on the old node URL, the
	// third is killed right after its 201, before any container.
	waitContainer(create(), true)
	waitContainer(create(), false)
	create()
	// Mid-launch: the 201s are out, the launches run in goroutines.
	first.crash(t)
	killed := time.Now()
	atKill := sessionContainers(t, socket, ids)
	for _, id := range ids {
		var states []string
		for _, c := range atKill[id] {
			states = append(states, c.State)
		}
		t.Logf("at SIGKILL (%.1fs): session %s containers %v", killed.Sub(start).Seconds(), id, states)
	}

	// Restart on the same data directory and api port; the listener of a
	// killed process is gone at once, so the port is free.
	second := crashStartUp(t, bin, data, ":"+apiPort)
	restarted := time.Now()
	t.Logf("restarted in %.1fs", restarted.Sub(killed).Seconds())
	if strings.Contains(second.stdout(), "First admin account") {
		t.Errorf("the restart made a new admin: %s", second.stdout())
	}
	api = newCrashAPI(t, second.url, data)
	api.token = oldToken
	if status, body := api.do(http.MethodGet, "/api/v1/me", nil, nil); status != http.StatusOK {
		t.Errorf("the token from before the crash: %d %s", status, body)
	}
	api.login()

	// Every session must leave starting within the bound.
	const bound = 40 * time.Second
	deadline := restarted.Add(bound)
	last := map[string]crashSession{}
	for {
		settled := true
		for _, id := range ids {
			var s crashSession
			if status, body := api.do(http.MethodGet, "/api/v1/sessions/"+id, nil, &s); status != http.StatusOK {
				t.Fatalf("get session %s: %d %s", id, status, body)
			}
			if prev := last[id]; prev.State != s.State {
				t.Logf("+%.1fs after restart: session %s %s %s", time.Since(restarted).Seconds(), id, s.State, s.Reason)
			}
			last[id] = s
			settled = settled && s.State != "starting" && s.State != "pending"
		}
		if settled || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	containers := sessionContainers(t, socket, ids)
	for _, id := range ids {
		s := last[id]
		var states []string
		for _, c := range containers[id] {
			states = append(states, c.State)
		}
		switch s.State {
		case "ready":
			if len(containers[id]) != 1 || containers[id][0].State != "running" {
				hint := ""
				if len(containers[id]) == 0 && !strings.Contains(first.errOut.String()+second.errOut.String(), "session="+id) {
					hint = " (this server did not remove it: another deployment on the same dockerd may have, " +
						"as its reconciliation removes every session container it does not know)"
				}
				t.Errorf("session %s is ready but its containers are %v%s", id, states, hint)
			}
		case "failed":
			if s.Reason == "" {
				t.Errorf("session %s failed without a reason", id)
			}
		default:
			t.Errorf("session %s is still %s %.0fs after the restart (containers %v, at SIGKILL %d); "+
				"the lifecycle jobs fail a starting session only after RegisterTimeout (90s) or, without a container, OrphanGrace (2m)",
				id, s.State, bound.Seconds(), states, len(atKill[id]))
		}
		// No orphans: a container is only allowed for an active session.
		if len(containers[id]) > 0 && (s.State == "failed" || s.State == "stopped") {
			// Removal happens before the state changes; give the round a moment.
			gone := false
			for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
				if len(sessionContainers(t, socket, []string{id})[id]) == 0 {
					gone = true
					break
				}
			}
			if !gone {
				t.Errorf("orphan: session %s is %s (%s) but its containers %v remain", id, s.State, s.Reason, states)
			}
		}
	}

	// The local node's record follows the node to its new port, and a
	// session whose container was made through the old URL is removed
	// through the new one.
	m := regexp.MustCompile(`provision node listening.* addr=(\S+)`).FindStringSubmatch(second.errOut.String())
	var nodes []struct {
		Name  string `json:"name"`
		URL   string `json:"url"`
		State string `json:"state"`
	}
	if status, body := api.do(http.MethodGet, "/api/v1/nodes", nil, &nodes); status != http.StatusOK || m == nil ||
		len(nodes) != 1 || nodes[0].URL != "https://"+m[1] || nodes[0].State != "ready" {
		t.Errorf("nodes after the restart: %d %s (node listens on %v)", status, body, m)
	}
	for _, id := range ids {
		if last[id].State != "ready" {
			continue
		}
		var s crashSession
		if status, body := api.do(http.MethodDelete, "/api/v1/sessions/"+id, nil, &s); status != http.StatusOK || s.State != "stopped" {
			t.Errorf("delete session %s: %d %s", id, status, body)
		}
		if list := sessionContainers(t, socket, []string{id})[id]; len(list) != 0 {
			t.Errorf("session %s deleted but its containers remain: %+v", id, list)
		}
	}

	// A clean stop.
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	termed := time.Now()
	select {
	case <-second.exited:
		if second.err != nil {
			t.Errorf("airlock up after SIGTERM: %v\nstderr: %s", second.err, tail(second.errOut.String(), 4000))
		} else {
			t.Logf("airlock up exited 0 %.1fs after SIGTERM", time.Since(termed).Seconds())
		}
	case <-time.After(15 * time.Second):
		t.Errorf("airlock up did not exit within 15s of SIGTERM\nstderr: %s", tail(second.errOut.String(), 4000))
	}
	if t.Failed() {
		t.Logf("first run stderr:\n%s", tail(first.errOut.String(), 6000))
		t.Logf("second run stderr:\n%s", tail(second.errOut.String(), 6000))
	}
	t.Logf("total %.1fs", time.Since(start).Seconds())
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
