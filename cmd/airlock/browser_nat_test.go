package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/airlock-rbi/airlock/internal/browsertest"
	"github.com/airlock-rbi/airlock/internal/dockertest"
	"github.com/airlock-rbi/airlock/internal/hostaddr"
)

// TestBrowserNAT is a viewer at home: its browser in a network namespace
// on a private LAN, behind a router namespace that masquerades it, with
// a route to the server's address alone. airlock up runs with its TURN
// defaults but for the ports (the address it advertises is the one it
// detects), so the session's container network, which the viewer cannot
// reach, is reached through the relay: over UDP, and over TURN over TLS
// when the router lets only TCP to the HTTPS ports out.
func TestBrowserNAT(t *testing.T) {
	if testing.Short() {
		t.Skip("browser behind a NAT: not in -short")
	}
	s := startSite(t)
	browser := browsertest.Chromium(t)
	server, err := hostaddr.Outbound()
	if err != nil {
		t.Skipf("no outbound address to serve the NAT's viewer on: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	nat, err := dockertest.StartNAT(ctx, server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nat.Close(); err != nil {
			t.Error(err)
		}
	})
	turnPort, tlsPort := freePort(t, server.String()), freePort(t, server.String())
	for tlsPort == turnPort {
		tlsPort = freePort(t, server.String())
	}
	env := startUp(t, "--turn-listen", ":"+strconv.Itoa(turnPort), "--turn-tls-listen", ":"+strconv.Itoa(tlsPort))
	ensureChromiumImage(t, airlockBinary(t))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", env.logTail(60))
		}
	})
	c, _, err := apiClient()
	if err != nil {
		t.Fatal(err)
	}
	ws := map[string]any{"name": "e2e-nat", "description": "Chromium for the NAT test", "image": dockertest.ChromiumImage(),
		"seccomp": "chromium", "clipboard": "both", "shm_size": 512 << 20, "memory": 2 << 30, "start_url": s.url}
	if err := c.Do(ctx, "POST", "/api/v1/workspaces", ws, nil); err != nil {
		t.Fatalf("create workspace: %v", err)
	}
	// The viewer reaches the portal at the server's address, as a user
	// at home would at its public one.
	u, err := url.Parse(env.server)
	if err != nil {
		t.Fatal(err)
	}
	portalPort, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("the server's URL %s has no port", env.server)
	}
	u.Host = net.JoinHostPort(server.String(), u.Port())
	natEnv := *env
	natEnv.server = u.String()

	for _, tc := range []struct {
		name       string
		allowTCP   []int // the router lets only these TCP ports out; none: all
		query      string
		relayProto string
	}{
		// The viewer keeps only the UDP TURN URL: with every path open,
		// ICE may nominate whichever relay answers first.
		{"udp", nil, "?relay=udp", "udp"},
		// Every URL the server offers: only turns: gets through.
		{"https-only", []int{portalPort, tlsPort}, "", "tls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := nat.AllowOnly(ctx, tc.allowTCP...); err != nil {
				t.Fatal(err)
			}
			actx := natBrowser(t, ctx, nat, browser)
			viewSessionIn(t, actx, &natEnv, s, "e2e-nat", tc.query, "relay", tc.relayProto, "VP8")
		})
	}
}

var devtoolsURL = regexp.MustCompile(`DevTools listening on (ws://127\.0\.0\.1:(\d+)/\S+)`)

// natBrowser starts a headless Chromium in the NAT's viewer namespace
// and returns an allocator context for it. Its DevTools port is on the
// namespace's loopback; a proxy on this host's loopback reaches it.
func natBrowser(t *testing.T, ctx context.Context, nat *dockertest.NAT, browser string) context.Context {
	t.Helper()
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+nat.Viewer, browser,
		"--headless", "--no-sandbox", "--remote-debugging-port=0", "--user-data-dir="+t.TempDir(),
		"--ignore-certificate-errors", "--autoplay-policy=no-user-gesture-required", "--window-size=1280,800",
		"--no-first-run", "--no-default-browser-check", "--disable-background-networking", "--disable-sync",
		"--mute-audio", "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the viewer's browser in %s: %v", nat.Viewer, err)
	}
	// Its own process group, so that the renderers and helpers go with
	// it before its profile directory is removed.
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		for deadline := time.Now().Add(10 * time.Second); syscall.Kill(-cmd.Process.Pid, 0) == nil && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
	})
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := devtoolsURL.FindStringSubmatch(sc.Text()); m != nil {
				found <- m
				break
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	var m []string
	select {
	case m = <-found:
	case <-time.After(60 * time.Second):
		t.Fatal("the viewer's browser printed no DevTools address in 60s")
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	inner := net.JoinHostPort("127.0.0.1", m[2])
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				d, err := dockertest.DialInNetns(ctx, nat.Viewer, inner)
				if err != nil {
					t.Logf("devtools proxy: %v", err)
					return
				}
				defer d.Close()
				go io.Copy(d, c)
				io.Copy(c, d)
			}()
		}
	}()
	wsURL, err := url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	wsURL.Host = ln.Addr().String()
	actx, cancel := chromedp.NewRemoteAllocator(ctx, wsURL.String(), chromedp.NoModifyURL)
	t.Cleanup(cancel)
	return actx
}
