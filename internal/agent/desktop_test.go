package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestChromiumCommandLine: whatever the start URL, it is Chromium's last
// argument and comes after "--", so Chromium never reads it as a switch.
func TestChromiumCommandLine(t *testing.T) {
	for _, tc := range []struct {
		name, url string
	}{
		{"ok/https", "https://example.com/"},
		{"ok/blank", "about:blank"},
		{"attack/renderer-cmd-prefix", "--renderer-cmd-prefix=/bin/sh -c 'id > /tmp/pwned'"},
		{"attack/no-sandbox", "--no-sandbox"},
		{"attack/single-dash", "-incognito"},
		{"attack/javascript", "javascript:alert(1)"},
		{"attack/file", "file:///etc/passwd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := appCommand(context.Background(), ":0", DesktopConfig{App: "chromium", StartURL: tc.url, Width: 800, Height: 600, PolicyDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			argv := chromiumArgv(t, cmd)
			if argv[0] != "--" {
				t.Fatalf("the wrapper's own options are not ended first: %q", cmd.Args)
			}
			args := argv[1:]
			end := slices.Index(args, "--")
			if end < 0 {
				t.Fatalf("no \"--\" in %q", args)
			}
			if got := args[end+1:]; len(got) != 1 || got[0] != tc.url {
				t.Fatalf("after \"--\": %q, want only the start URL %q", got, tc.url)
			}
			for _, a := range args[:end] {
				if strings.Contains(a, tc.url) {
					t.Errorf("the start URL appears among the flags: %q", a)
				}
				if !strings.HasPrefix(a, "--") {
					t.Errorf("argument %q before \"--\" is not a flag of the agent's", a)
				}
			}
		})
	}
}

// TestChromiumWrapperPassesURLThrough runs Debian's chromium wrapper, the
// one the workspace image has, with the agent's argument layout: a start
// URL that looks like a switch must reach Chromium as a URL. With a lone
// "--" before the URL the wrapper drops it and Chromium prints its
// version for a URL of "--version".
func TestChromiumWrapperPassesURLThrough(t *testing.T) {
	const wrapper = "/usr/bin/chromium"
	if _, err := os.Stat(wrapper); err != nil {
		t.Fatalf("this test needs Debian's chromium (scripts/ensure-chromium.sh installs it): %v", err)
	}
	args := wrapperArgs([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--user-data-dir=" + t.TempDir(), "--dump-dom"}, "--version")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Through nice(1), as the agent starts it: nice must hand the
	// wrapper its leading "--" too.
	argv := append([]string{"-n", strconv.Itoa(appNice), wrapper}, args...)
	out, _ := exec.CommandContext(ctx, "nice", argv...).CombinedOutput()
	if strings.Contains(string(out), "Chromium 1") || !strings.Contains(string(out), "ERR_") {
		t.Fatalf("nice %q: the start URL was read as a switch, or not loaded as a URL:\n%s", argv, out)
	}
}

func TestProxyServer(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "http://10.213.0.1:3128", want: "http://10.213.0.1:3128"},
		{in: "http://10.213.0.1:3128/", want: "http://10.213.0.1:3128"},
		{in: "https://10.213.0.1:3128", err: "is not http://HOST:PORT"},
		{in: "http://10.213.0.1", err: "is not http://HOST:PORT"},
		{in: "http://u:p@10.213.0.1:3128", err: "is not http://HOST:PORT"},
		{in: "http://10.213.0.1:3128/x", err: "is not http://HOST:PORT"},
		{in: "10.213.0.1:3128", err: "egress proxy"},
		{in: "http://10.213.0.1:3128 --no-sandbox", err: "egress proxy"},
	} {
		got, err := ProxyServer(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ProxyServer(%q) = %q, %v; want an error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ProxyServer(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestChromiumUsesTheProxy runs the real Chromium with the flags a
// hardened session gets: a page on a name nothing resolves must come
// through the proxy, which is the only way the session reaches the web.
func TestChromiumUsesTheProxy(t *testing.T) {
	const wrapper = "/usr/bin/chromium"
	if _, err := os.Stat(wrapper); err != nil {
		t.Fatalf("this test needs Debian's chromium (scripts/ensure-chromium.sh installs it): %v", err)
	}
	asked := make(chan string, 64)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked <- r.Method + " " + r.URL.String()
		fmt.Fprint(w, "<html><body>through-the-proxy</body></html>")
	}))
	defer proxy.Close()
	flags := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--user-data-dir=" + t.TempDir(), "--dump-dom"}, proxyArgs(proxy.URL)...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, wrapper, wrapperArgs(flags, "http://page.airlock-test.invalid/")...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "through-the-proxy") {
		t.Fatalf("chromium with %q: %v; the page did not come through the proxy:\n%s", proxyArgs(proxy.URL), err, out)
	}
	// Chromium's own background requests (its clock check) may come
	// first: they go through the proxy too.
	var got []string
	for len(asked) > 0 {
		got = append(got, <-asked)
	}
	if !slices.Contains(got, "GET http://page.airlock-test.invalid/") {
		t.Fatalf("the proxy was asked %q, not for the page's absolute URI", got)
	}
}

func TestMode(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "", want: ModeBrowser},
		{in: "browser", want: ModeBrowser},
		{in: "kiosk", want: ModeKiosk},
		{in: "Kiosk", err: `mode "Kiosk"`},
		{in: "app", err: `mode "app"`},
		{in: "kiosk --no-sandbox", err: "runs Chromium as"},
	} {
		got, err := Mode(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Mode(%q) = %q, %v; want an error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Mode(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestChromiumMode: a kiosk is --kiosk; a browser is a normal window
// that starts maximized.
func TestChromiumMode(t *testing.T) {
	for _, tc := range []struct {
		mode      string
		has, hasn []string
	}{
		{ModeBrowser, []string{"--start-maximized"}, []string{"--kiosk"}},
		{ModeKiosk, []string{"--kiosk"}, []string{"--start-maximized"}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			args := chromiumArgs("/tmp/home", DesktopConfig{App: "chromium", StartURL: "about:blank", Width: 800, Height: 600, Mode: tc.mode})
			for _, a := range tc.has {
				if !slices.Contains(args, a) {
					t.Errorf("%q lacks %s", args, a)
				}
			}
			for _, a := range tc.hasn {
				if slices.Contains(args, a) {
					t.Errorf("%q has %s", args, a)
				}
			}
		})
	}
}

func TestScale(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		flag string
		err  bool
	}{
		{in: "", want: 1, flag: "--force-device-scale-factor=1"},
		{in: "1", want: 1, flag: "--force-device-scale-factor=1"},
		{in: "1.5", want: 1.5, flag: "--force-device-scale-factor=1.5"},
		{in: "2", want: 2, flag: "--force-device-scale-factor=2"},
		{in: "4", want: 4, flag: "--force-device-scale-factor=4"},
		{in: "0.5", err: true},
		{in: "4.01", err: true},
		{in: "0", err: true},
		{in: "-2", err: true},
		{in: "NaN", err: true},
		{in: "Inf", err: true},
		{in: "2x", err: true},
		{in: "2 --no-sandbox", err: true},
	} {
		got, err := Scale(tc.in)
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), "from 1 to 4") {
				t.Errorf("Scale(%q) = %v, %v; want an error saying the range", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Scale(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		args := chromiumArgs("/tmp/home", DesktopConfig{App: "chromium", StartURL: "about:blank", Width: 800, Height: 600, Scale: got})
		if !slices.Contains(args, tc.flag) {
			t.Errorf("scale %v: %q lacks %s", got, args, tc.flag)
		}
	}
}

// chromiumArgv is what the chromium wrapper is given, after the nice(1)
// that lowers the app below the stream: it checks that prefix.
func chromiumArgv(t *testing.T, cmd *exec.Cmd) []string {
	t.Helper()
	want := []string{"nice", "-n", strconv.Itoa(appNice), "chromium"}
	if len(cmd.Args) <= len(want) || !slices.Equal(cmd.Args[:len(want)], want) {
		t.Fatalf("command %q: want it to start %q", cmd.Args, want)
	}
	return cmd.Args[len(want):]
}

// TestAppHome: a kept home where a browser ran is restored, with the
// last run's singleton lock gone; a fresh one opens the start URL.
func TestAppHome(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ran     bool
		restore bool
	}{
		{"fresh", false, false},
		{"ran-before", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			profile := filepath.Join(dir, "chromium")
			if tc.ran {
				if err := os.MkdirAll(filepath.Join(profile, "Default", "Sessions"), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("airlock-1234-42", filepath.Join(profile, "SingletonLock")); err != nil {
					t.Fatal(err)
				}
			}
			home, restore, err := appHome(DesktopConfig{KeptHome: dir})
			if err != nil || home != dir || restore != tc.restore {
				t.Fatalf("appHome = %q, %v, %v; want %q, %v", home, restore, err, dir, tc.restore)
			}
			if _, err := os.Lstat(filepath.Join(profile, "SingletonLock")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the last run's singleton lock is still there: %v", err)
			}
		})
	}
	if _, err := keptHome(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("a kept home that cannot be written was taken")
	}
	args := restoreArgs(chromiumArgs("/home/airlock", DesktopConfig{StartURL: "https://example.com/", Width: 800, Height: 600}))
	if slices.Contains(args, "https://example.com/") || args[len(args)-1] != "--restore-last-session" || args[0] != "--" {
		t.Fatalf("restore args %q: want the start URL gone, --restore-last-session last, the leading -- kept", args)
	}
}

// TestHandedOut: a pool's browser is started again only when the viewer
// it is handed to wants another language, time zone or scale.
func TestHandedOut(t *testing.T) {
	base := DesktopConfig{App: "chromium", Locale: "en-US", TimeZone: "UTC", Scale: 1}
	for _, tc := range []struct {
		name    string
		b       Registration
		want    DesktopConfig
		changed bool
	}{
		{"same", Registration{Locale: "en-US", TimeZone: "UTC", Scale: 1}, base, false},
		{"none-given", Registration{}, base, false},
		{"scale-1-is-unset", Registration{Scale: 1}, base, false},
		{"locale", Registration{Locale: "ja-JP"}, DesktopConfig{App: "chromium", Locale: "ja-JP", TimeZone: "UTC", Scale: 1}, true},
		{"timezone-and-scale", Registration{TimeZone: "Asia/Tokyo", Scale: 2},
			DesktopConfig{App: "chromium", Locale: "en-US", TimeZone: "Asia/Tokyo", Scale: 2}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := handedOut(base, tc.b)
			if changed != tc.changed || got.Locale != tc.want.Locale || got.TimeZone != tc.want.TimeZone || got.Scale != tc.want.Scale {
				t.Errorf("got %+v, changed %v; want %+v, %v", got, changed, tc.want, tc.changed)
			}
		})
	}
	// A browser started without a language or time zone has Chromium's
	// defaults: a viewer asking for those needs no restart.
	if _, changed := handedOut(DesktopConfig{App: "chromium"}, Registration{Locale: "en-US", TimeZone: "UTC", Scale: 1}); changed {
		t.Error("a viewer of en-US and UTC restarted a browser started with the defaults")
	}
	if _, changed := handedOut(DesktopConfig{App: "chromium"}, Registration{Locale: "fr-FR"}); !changed {
		t.Error("a viewer of fr-FR did not restart a browser started with the defaults")
	}
}

// TestHandoutKept: the viewer settings a pool's session was started
// again with are found by the agent of its resume; a file the app wrote
// wrong is ignored.
func TestHandoutKept(t *testing.T) {
	home := t.TempDir()
	if _, ok := readHandout(home); ok {
		t.Fatal("settings read from a home that has none")
	}
	want := DesktopConfig{Locale: "ja-JP", TimeZone: "Asia/Tokyo", Scale: 2}
	if err := writeHandout(home, want); err != nil {
		t.Fatal(err)
	}
	if got, ok := readHandout(home); !ok || got.Locale != want.Locale || got.TimeZone != want.TimeZone || got.Scale != want.Scale {
		t.Fatalf("readHandout = %+v, %v; want %+v", got, ok, want)
	}
	for _, bad := range []string{`{"locale":"--renderer-cmd-prefix=x"}`, `{"scale":9}`, `not json`} {
		if err := os.WriteFile(filepath.Join(home, handoutFile), []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, ok := readHandout(home); ok {
			t.Errorf("readHandout(%s) = %+v, want ignored", bad, got)
		}
	}
	if _, ok := readHandout(""); ok {
		t.Error("settings read without a kept home")
	}
}
