package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/auth"
)

// doorServer is `airlock server` running as a process of its own, so its
// memory can be read from /proc.
type doorServer struct {
	cmd  *exec.Cmd
	addr string
	pool *x509.CertPool
}

var listeningRE = regexp.MustCompile(`msg="infra server listening".* addr=(\S+)`)

// startDoorServer runs `airlock server` on loopback with GOMAXPROCS=procs
// (which sets its number of password hashing slots).
func startDoorServer(t *testing.T, procs int) *doorServer {
	t.Helper()
	bin := airlockBinary(t)
	data := t.TempDir()
	out := &lineWaiter{re: listeningRE, found: make(chan string, 1)}
	cmd := exec.Command(bin, "server", "--data", data, "--listen", "127.0.0.1:0", "--metrics-listen", "",
		// No session is launched: the agents' URL is never used, but a
		// loopback listener needs one.
		"--agent-url", "https://127.0.0.1:9")
	cmd.Env = append(os.Environ(), "AIRLOCK_ADMIN_PASSWORD="+crashPassword, "GOMAXPROCS="+strconv.Itoa(procs))
	cmd.Stdout = io.Discard
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	s := &doorServer{cmd: cmd}
	select {
	case s.addr = <-out.found:
	case err := <-exited:
		t.Fatalf("airlock server exited: %v\n%s", err, out.text())
	case <-time.After(60 * time.Second):
		t.Fatalf("airlock server did not listen within 60s:\n%s", out.text())
	}
	pem, err := os.ReadFile(filepath.Join(data, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	s.pool = x509.NewCertPool()
	s.pool.AppendCertsFromPEM(pem)
	return s
}

func (w *lineWaiter) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// client is an HTTP/2 client whose connections come from the loopback
// address from (any of 127/8 is this host), so the server sees distinct
// clients.
func (s *doorServer) client(t *testing.T, from string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.pool}, ForceAttemptHTTP2: true, DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

func (s *doorServer) login(c *http.Client, user, password string) (int, error) {
	body, _ := json.Marshal(map[string]any{"user": user, "password": password, "token": true})
	resp, err := c.Post("https://"+s.addr+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.ProtoMajor != 2 {
		return 0, fmt.Errorf("answered over %s, want HTTP/2", resp.Proto)
	}
	return resp.StatusCode, nil
}

// procStatus reads a "Name:  N kB" field of /proc/PID/status, in bytes.
func procStatus(t *testing.T, pid int, name string) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, name)
	return 0
}

// TestLoginMemoryBounded is the memory case of the public door: 96
// concurrent sign-ins for unknown users, over HTTP/2 from 24 client
// addresses (4 streams each, within what the per-address throttle lets
// through at once, so every one of them asks for a hash). Each argon2id hash holds 64 MiB;
// unbounded, the server's peak RSS grew by about 64 MiB a request. With
// the hashes bounded to one slot per CPU, the peak may exceed the RSS held
// before the attack only by what the slots hold, twice over (the Go heap
// grows to twice its live size between collections), plus 64 MiB.
func TestLoginMemoryBounded(t *testing.T) {
	const procs = 2 // the server's GOMAXPROCS, and so its hash slots
	s := startDoorServer(t, procs)
	pid := s.cmd.Process.Pid
	// The first sign-in settles the server (and checks it answers).
	if code, err := s.login(s.client(t, "127.0.0.1"), "admin", crashPassword); err != nil || code != http.StatusOK {
		t.Fatalf("admin sign-in: %d %v", code, err)
	}
	baseline := procStatus(t, pid, "VmRSS")
	hash := int64(auth.DefaultPasswordParams.Memory) << 10
	bound := baseline + 2*procs*hash + 64<<20

	const addrs, streams = 24, 4
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for a := range addrs {
		c := s.client(t, fmt.Sprintf("127.0.1.%d", a+1))
		for i := range streams {
			wg.Go(func() {
				code, err := s.login(c, fmt.Sprintf("nobody-%d-%d", a, i), "a-wrong-password")
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("bad sign-in: %v", err)
					return
				}
				codes[code]++
			})
		}
	}
	wg.Wait()
	peak := procStatus(t, pid, "VmHWM")
	t.Logf("answers %v; RSS before %d MiB, peak %d MiB, bound %d MiB", codes, baseline>>20, peak>>20, bound>>20)
	for code := range codes {
		switch code {
		case http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusServiceUnavailable:
		default:
			t.Errorf("a bad sign-in was answered %d", code)
		}
	}
	if codes[http.StatusUnauthorized] == 0 {
		t.Error("no bad sign-in was checked at all")
	}
	if codes[http.StatusTooManyRequests] > 0 {
		t.Errorf("%d sign-ins were throttled: the test must load the hash slots, not the throttle", codes[http.StatusTooManyRequests])
	}
	if peak > bound {
		t.Fatalf("peak RSS %d MiB after %d concurrent bad sign-ins; the bound for %d hash slots of %d MiB is %d MiB",
			peak>>20, addrs*streams, procs, hash>>20, bound>>20)
	}
	// The door still opens for the right password, from a fresh address.
	if code, err := s.login(s.client(t, "127.0.2.1"), "admin", crashPassword); err != nil || code != http.StatusOK {
		t.Fatalf("admin sign-in after the attack: %d %v", code, err)
	}
}
