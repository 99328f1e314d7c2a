package agent

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/airlock-rbi/airlock/internal/audio"
	"github.com/airlock-rbi/airlock/internal/desktop"
	"github.com/airlock-rbi/airlock/internal/encoder"
	"github.com/airlock-rbi/airlock/internal/files"
	"github.com/airlock-rbi/airlock/internal/stream"
)

// DesktopConfig says what the agent shows the viewer.
type DesktopConfig struct {
	// App is the program to run on the display: "chromium".
	App string
	// StartURL is where the app starts; default about:blank.
	StartURL string
	// KeptHome, when set, is the app's home on a volume that outlives
	// a stop of the container (a session its workspace suspends at
	// expiry): a browser started again there finds its profile and
	// restores its last session instead of opening StartURL.
	KeptHome string
	// resumed: this is the agent's first start of the app, so a profile
	// that ran before is a container's earlier run (a resume), whose
	// tabs come back. A browser started again within one run (it exited,
	// or a hand-out asked for other settings) opens StartURL.
	resumed bool
	// Width and Height are the display's size until a viewer asks for
	// its own; default 1280×720.
	Width, Height int
	// Codec is "vp8" (default) or "h264"; Clipboard the workspace's policy.
	Codec     string
	Clipboard string
	// Audio sends the app's sound to the viewer (see AudioOn).
	Audio bool
	// Proxy is the node's egress proxy for a hardened session,
	// http://HOST:PORT (see ProxyServer); empty: none. Chromium then
	// reaches the web only through it, and WebRTC from pages only over
	// it, since the node's rules refuse a hardened session everything
	// else.
	Proxy string
	// Mode is ModeBrowser (default) or ModeKiosk.
	Mode string
	// Scale is Chromium's device scale factor (see Scale); 0 means 1.
	Scale float64
	// DownloadMax and UploadMax are the largest file in bytes that may
	// cross each way (see Limit); 0 turns that way off.
	DownloadMax, UploadMax int64
	// Policy is Chromium's managed policy (see ChromiumPolicy); nil is
	// Airlock's defaults. Locale and TimeZone are the session's (see
	// Locale and TimeZone); empty leaves Chromium's own defaults.
	Policy           map[string]any
	Locale, TimeZone string
	// PolicyDir is where the policy is written; empty is PolicyDir.
	PolicyDir string
}

// MaxScale is the largest device scale factor: a 4K display is 960×540
// CSS pixels at 4.
const MaxScale = 4

// Scale checks an AIRLOCK_SCALE value, a decimal from 1 to MaxScale;
// unset is 1.
func Scale(v string) (float64, error) {
	if v == "" {
		return 1, nil
	}
	s, err := strconv.ParseFloat(v, 64)
	// NaN fails both comparisons.
	if err != nil || !(s >= 1 && s <= MaxScale) {
		return 0, fmt.Errorf("scale %q: the device scale factor is a number from 1 to %d", v, MaxScale)
	}
	return s, nil
}

// The modes Chromium runs in.
const (
	// ModeBrowser is a whole browser: tabs, address bar, back and
	// forward, downloads.
	ModeBrowser = "browser"
	// ModeKiosk shows the start page and what its links lead to, with
	// no browser around it: for single-site workspaces.
	ModeKiosk = "kiosk"
)

// Mode checks an AIRLOCK_MODE value; unset is ModeBrowser.
func Mode(v string) (string, error) {
	switch v {
	case "", ModeBrowser:
		return ModeBrowser, nil
	case ModeKiosk:
		return ModeKiosk, nil
	}
	return "", fmt.Errorf("mode %q: the agent runs Chromium as %q or %q", v, ModeBrowser, ModeKiosk)
}

// ProxyServer checks an AIRLOCK_PROXY value and returns it as Chromium's
// --proxy-server wants it: http://HOST:PORT with nothing else, since
// anything more would be a value the node did not set.
func ProxyServer(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil {
		return "", fmt.Errorf("egress proxy %q: %w", v, err)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if u.Scheme != "http" || err != nil || host == "" || port == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("egress proxy %q is not http://HOST:PORT", v)
	}
	return "http://" + u.Host, nil
}

// AudioOn reads AIRLOCK_AUDIO: "on" or unset is on, "off" is off.
// Anything else is refused rather than guessed at.
func AudioOn(v string) (bool, error) {
	switch v {
	case "", "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("%s %q: want on or off", EnvAudio, v)
}

// audioDir holds the session's sound server (the root file system is
// read-only).
const audioDir = "/tmp/airlock/pulse"

// displayNumber is the X display inside the container: the only one.
const displayNumber = 0

// runDesktop runs the display, the app, the encoder and the streamer
// until ctx ends. It returns an error when one of them fails for good;
// the session then ends rather than showing a dead screen. With bound
// (a pool's session), everything starts at once, the relay included
// (no viewer can come before the hand-out), and the hand-out's settings
// apply when its answer comes.
func (a *Agent) runDesktop(ctx context.Context, cfg DesktopConfig, bound <-chan Registration) error {
	if cfg.Width == 0 || cfg.Height == 0 {
		cfg.Width, cfg.Height = 1280, 720
	}
	if cfg.StartURL == "" {
		cfg.StartURL = "about:blank"
	}
	// A resumed pool session starts with the settings of the viewer it
	// was handed out to, which its earlier run kept.
	if kept, ok := readHandout(cfg.KeptHome); ok {
		cfg.Locale, cfg.TimeZone, cfg.Scale = kept.Locale, kept.TimeZone, kept.Scale
	}
	kids := a.cfg.Children
	// Xvfb, not being root, will not create the socket directory itself.
	if err := os.MkdirAll("/tmp/.X11-unix", 0o1777); err != nil {
		return fmt.Errorf("make the X socket directory: %w", err)
	}
	// The display outlives ctx until the app has exited: a browser asked
	// to stop writes its profile (cookies, the session to restore) out,
	// which it cannot do once its display is gone.
	dctx, dcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer dcancel()
	disp, err := desktop.StartDisplay(dctx, desktop.DisplayConfig{Number: displayNumber, Width: cfg.Width, Height: cfg.Height, Runner: kids})
	if err != nil {
		return err
	}
	defer disp.Close()
	// Before the app, so that its first window is already managed.
	wm, err := desktop.StartWM(disp.Name, a.log.With("component", "wm"))
	if err != nil {
		return err
	}
	defer wm.Close()
	capture, err := desktop.OpenCapture(disp.Name)
	if err != nil {
		return err
	}
	defer capture.Close()
	input, err := desktop.NewInput(disp.Name)
	if err != nil {
		return err
	}
	defer input.Close()
	// One encoder thread: libvpx's VP8 threads wait for each other's rows
	// by spinning, and beside a busy Chromium (the other core of a small
	// host, or other sessions) a spinning thread burns the time its peer
	// needs. Measured on 2 cores kept busy by an image build: 48 ms of CPU
	// a 720p frame of full motion with 2 threads, 9.5 with one; on the
	// idle host 2 threads saved 14 % of a 1080p frame's wall time for 12 %
	// more CPU, and nothing at 720p.
	encCfg := encoder.Config{Codec: cfg.Codec, FPS: 60, BitrateKbps: 4000, Threads: 1, Start: kids.Start, Wait: kids.Wait}
	enc, err := newEncoders(func() (*encoder.Encoder, error) { return encoder.Start(ctx, encCfg) }, a.log.With("component", "encoder"))
	if err != nil {
		return err
	}
	defer enc.close()

	var clip stream.Clipboard
	// A pool's session may be handed to a user whose policy allows the
	// clipboard that its workspace's default does not.
	if cfg.Clipboard != stream.ClipboardOff || bound != nil {
		c, err := desktop.OpenClipboard(disp.Name, kids)
		if err != nil {
			return err
		}
		defer c.Close()
		clip = c
	}
	transfers, err := a.newFiles(ctx, cfg)
	if err != nil {
		return err
	}
	var sound *audio.Server
	if cfg.Audio {
		// Before the app: Chromium picks its sound output when it starts.
		// A session whose sound server cannot start goes on silent.
		if sound, err = audio.StartServer(ctx, audio.ServerConfig{Dir: audioDir, Start: kids.Start, Wait: kids.Wait}); err != nil {
			a.log.Error("no sound for this session", "err", err)
			cfg.Audio = false
		} else {
			defer sound.Close()
		}
	}
	s, err := stream.New(stream.Config{
		Files:           func(ch stream.FilesChannel) stream.FilesPeer { return transfers.Attach(ch) },
		Screen:          screen{capture},
		Prime:           true,
		Audio:           sound != nil,
		Encode:          enc.encode,
		Codec:           cfg.Codec,
		Input:           input,
		Clipboard:       clip,
		Cursor:          cursors(ctx, capture.Cursor()),
		ClipboardPolicy: cfg.Clipboard,
		Scale:           cfg.Scale,
		Resize:          growFirst(wm, disp),
		Log:             a.log.With("component", "stream"),
	})
	if err != nil {
		return err
	}
	a.streamer.Store(s)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 4)
	restart := make(chan DesktopConfig, 1)
	appDone := make(chan error, 1)
	go func() { appDone <- a.superviseApp(ctx, disp, cfg, transfers, restart) }()
	// On the way out the app is stopped first (asked, then killed after
	// its WaitDelay), and waited for, before the display goes. How it
	// stopped is logged: a browser that had to be killed, or whose
	// processes outlived it, may have lost what a resume would restore.
	defer func() {
		cancel()
		if err := <-appDone; err != nil {
			a.log.Warn("the app did not stop cleanly", "app", cfg.App, "err", err)
		}
	}()
	go func() { errc <- s.Run(ctx) }()
	go s.ForwardClipboard(ctx)
	go s.ForwardCursor(ctx)
	if sound != nil {
		go audio.Run(ctx, sound, audio.CaptureConfig{Start: kids.Start, Wait: kids.Wait}, a.log.With("component", "audio"),
			func(p audio.Packet) { s.WriteAudio(p.Data, p.Pos) })
	}
	if bound != nil {
		go func() {
			select {
			case <-ctx.Done():
			case b := <-bound:
				if b.Clipboard != "" {
					if err := s.SetClipboardPolicy(b.Clipboard); err != nil {
						errc <- fmt.Errorf("the hand-out's clipboard policy: %w", err)
						return
					}
				}
				if next, changed := handedOut(cfg, b); changed {
					a.log.Info("starting the app again with the viewer's settings", "locale", next.Locale, "timezone", next.TimeZone, "scale", next.Scale)
					if err := writeHandout(cfg.KeptHome, next); err != nil {
						a.log.Warn("the viewer's settings will not outlive a suspension", "err", err)
					}
					s.SetScale(next.Scale)
					restart <- next
				}
			}
		}()
	}
	go func() {
		errc <- s.Signal(ctx, stream.SignalConfig{Connect: a.connect, HTTPClient: &http.Client{Transport: a.tr}})
	}()
	select {
	case err := <-errc:
		return err
	case err := <-appDone:
		appDone <- nil // for the deferred wait: the error is returned here
		return err
	case <-disp.Done():
		return fmt.Errorf("the display exited: %v", disp.Err())
	}
}

// growFirst resizes the display, growing the windows first when the
// screen grows: without, the viewer sees black along the new edges until
// Chromium has repainted at the new size (see desktop.WM.Prepare).
func growFirst(wm *desktop.WM, disp *desktop.Display) func(ctx context.Context, w, h int) error {
	return func(ctx context.Context, w, h int) error {
		if err := wm.Prepare(ctx, w, h); err != nil {
			wm.Settle()
			return err
		}
		if err := disp.Resize(ctx, w, h); err != nil {
			wm.Settle()
			return err
		}
		return nil
	}
}

// screen adapts a desktop.Capture to stream.Screen.
type screen struct{ c *desktop.Capture }

func (s screen) Changed() <-chan struct{} { return s.c.Changed() }
func (s screen) Size() (int, int)         { return s.c.Size() }
func (s screen) Grab() (stream.Frame, error) {
	f, err := s.c.Grab()
	return stream.Frame{Pix: f.Pix, Width: f.Width, Height: f.Height, Stride: f.Stride, Shared: true, ShmID: f.ShmID}, err
}

// connect asks the api for a signal relay token with the current
// credential.
func (a *Agent) connect(ctx context.Context) (stream.ConnectInfo, error) {
	cred := a.cred.Load()
	if cred == nil {
		return stream.ConnectInfo{}, errors.New("not registered yet")
	}
	ans, err := a.api.AgentConnect(ctx, *cred)
	if err = refused(err); errors.Is(err, ErrRefused) {
		return stream.ConnectInfo{}, fmt.Errorf("%w: %w", stream.ErrGone, err)
	} else if err != nil {
		return stream.ConnectInfo{}, err
	}
	info := stream.ConnectInfo{Token: ans.Token, SignalURL: ans.SignalURL, ExpiresAt: ans.ExpiresAt}
	for _, s := range ans.ICEServers {
		info.ICEServers = append(info.ICEServers, stream.ICEServer(s))
	}
	return info, nil
}

// Chromium's language and time zone when none is set: what a viewer
// asking for these needs no restart for.
const (
	defaultLocale   = "en-US"
	defaultTimeZone = "UTC"
)

// handedOut is cfg with the settings of a pool's session's hand-out b,
// and whether they differ from those the app was started with (unset
// being Chromium's defaults).
func handedOut(cfg DesktopConfig, b Registration) (DesktopConfig, bool) {
	next := cfg
	if b.Locale != "" {
		next.Locale = b.Locale
	}
	if b.TimeZone != "" {
		next.TimeZone = b.TimeZone
	}
	if b.Scale != 0 {
		next.Scale = b.Scale
	}
	or := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	return next, or(next.Locale, defaultLocale) != or(cfg.Locale, defaultLocale) ||
		or(next.TimeZone, defaultTimeZone) != or(cfg.TimeZone, defaultTimeZone) || max(next.Scale, 1) != max(cfg.Scale, 1)
}

// superviseApp runs the app and starts it again when it exits (a user
// may close the last window, or the app may crash), with a growing pause
// so that an app that cannot start does not spin; a config from restart
// stops the app and starts it again with that config at once.
func (a *Agent) superviseApp(ctx context.Context, disp *desktop.Display, cfg DesktopConfig, transfers *files.Service, restart <-chan DesktopConfig) error {
	pause := time.Second
	var err error
	if cfg.KeptHome, err = keptHome(cfg.KeptHome); err != nil {
		a.log.Warn("the app's state will not outlive a suspension of the session", "err", err)
	}
	cfg.resumed = cfg.KeptHome != ""
	for {
		cmd, err := appCommand(ctx, disp.Name, cfg)
		cfg.resumed = false
		if err != nil {
			return err
		}
		pipes, err := devtoolsPipe(cmd)
		if err != nil {
			return err
		}
		start := time.Now()
		if err := a.cfg.Children.Start(cmd); err != nil {
			pipes.Close()
			return fmt.Errorf("start %s: %w", cfg.App, err)
		}
		stopDevtools := a.connectDevtools(ctx, pipes, transfers)
		waited := make(chan error, 1)
		go func() { waited <- a.cfg.Children.Wait(cmd) }()
		var next *DesktopConfig
		select {
		case err = <-waited:
		case c := <-restart:
			next = &c
			// Asked to stop, the browser saves its state; the new one
			// opens the same start page.
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err = <-waited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				err = <-waited
			}
		}
		// Whatever the browser left of its tree (renderers, the zygote,
		// a crash's orphans) goes before another starts on its profile:
		// a process of the old one still holding it would take the new
		// one's page through the profile's lock.
		if gerr := endGroup(cmd.Process.Pid, 5*time.Second); gerr != nil {
			stopDevtools()
			return fmt.Errorf("stop %s: %w", cfg.App, gerr)
		}
		stopDevtools()
		if ctx.Err() != nil {
			if killed(err) {
				return fmt.Errorf("stop %s: it was killed after it did not exit within %s of being asked", cfg.App, cmd.WaitDelay)
			}
			return nil
		}
		if next != nil {
			// The hand-out changes what the viewer asked for; the home
			// stays the one this run found writable.
			cfg.Locale, cfg.TimeZone, cfg.Scale = next.Locale, next.TimeZone, next.Scale
			continue
		}
		if time.Since(start) > time.Minute {
			pause = time.Second
		}
		a.log.Warn("app exited; starting it again", "app", cfg.App, "err", err, "in", pause)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		pause = min(2*pause, 30*time.Second)
	}
}

// killed reports whether err is the exit of a process killed by SIGKILL.
func killed(err error) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// appNice is the niceness the app runs at, above the agent, its encoder
// and the display server. A frame the app draws is worth something only
// once it has been captured, encoded and sent; when the CPU is short (a
// full-screen animation on a small host), the app drawing frames that
// the encoder then has no time for helps nobody, so the stream's side
// gets the CPU first and the app draws at the rate that can be sent.
// Raising one's own children's niceness needs no privilege.
const appNice = 5

// appCommand builds the app's command line. The app gets a clean
// environment: nothing of the agent's (its CA, its server) leaks to it.
func appCommand(ctx context.Context, display string, cfg DesktopConfig) (*exec.Cmd, error) {
	home, ranBefore, err := appHome(cfg)
	if err != nil {
		return nil, err
	}
	restore := ranBefore && cfg.resumed
	env := []string{"DISPLAY=" + display, "HOME=" + home, "PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=C.UTF-8", "XDG_CONFIG_HOME=" + home + "/.config", "XDG_CACHE_HOME=" + home + "/.cache"}
	env = append(env, localeEnv(cfg.Locale, cfg.TimeZone)...)
	env = append(env, audioEnv(cfg)...)
	switch cfg.App {
	case "chromium":
		if err := writePolicy(cmp.Or(cfg.PolicyDir, PolicyDir), cfg); err != nil {
			return nil, err
		}
		args := chromiumArgs(home, cfg)
		if restore {
			args = restoreArgs(args)
		}
		cmd := exec.CommandContext(ctx, "nice", append([]string{"-n", strconv.Itoa(appNice), "chromium"}, args...)...)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.SysProcAttr = appGroup()
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = 5 * time.Second
		return cmd, nil
	}
	return nil, fmt.Errorf("app %q: this agent runs chromium", cfg.App)
}

// appHome is the app's home: cfg.KeptHome when set (see keptHome),
// else /tmp/home, and whether a browser ran there before (whose last
// session a resume restores). The profile's singleton lock of that
// browser names a process of the container's last run, which a new
// process may now hold the number of: it is removed, as this agent runs
// the only browser.
func appHome(cfg DesktopConfig) (home string, ranBefore bool, err error) {
	home = cmp.Or(cfg.KeptHome, "/tmp/home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return "", false, fmt.Errorf("app home: %w", err)
	}
	profile := filepath.Join(home, "chromium")
	for _, f := range []string{"SingletonLock", "SingletonSocket", "SingletonCookie"} {
		if err := os.Remove(filepath.Join(profile, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", false, fmt.Errorf("app home: stale browser lock: %w", err)
		}
	}
	_, err = os.Stat(filepath.Join(profile, "Default", "Sessions"))
	return home, err == nil, nil
}

// keptHome is dir if the app can keep its state there, else "" with
// why: an image without the directory gets a volume only root may
// write.
func keptHome(dir string) (string, error) {
	if dir == "" {
		return "", nil
	}
	probe, err := os.CreateTemp(dir, ".airlock-probe-*")
	if err != nil {
		return "", fmt.Errorf("the kept home is not writable: %w", err)
	}
	probe.Close()
	return dir, os.Remove(probe.Name())
}

// handoutFile, in a kept home, holds the settings of the viewer a pool's
// session was handed out to, for the agent of a resume (whose container
// has the workspace's): JSON of Locale, TimeZone and Scale.
const handoutFile = ".airlock-handout.json"

type handout struct {
	Locale   string  `json:"locale,omitempty"`
	TimeZone string  `json:"timezone,omitempty"`
	Scale    float64 `json:"scale,omitempty"`
}

// readHandout is what writeHandout kept in home, if anything valid.
func readHandout(home string) (DesktopConfig, bool) {
	if home == "" {
		return DesktopConfig{}, false
	}
	raw, err := os.ReadFile(filepath.Join(home, handoutFile))
	if err != nil {
		return DesktopConfig{}, false
	}
	var h handout
	if json.Unmarshal(raw, &h) != nil {
		return DesktopConfig{}, false
	}
	// Checked as the environment's are: the file is in the app's reach.
	loc, lerr := Locale(h.Locale)
	tz, terr := TimeZone(h.TimeZone)
	if lerr != nil || terr != nil || h.Scale < 0 || h.Scale > 4 {
		return DesktopConfig{}, false
	}
	return DesktopConfig{Locale: loc, TimeZone: tz, Scale: h.Scale}, true
}

// writeHandout keeps cfg's viewer settings in home (none: nothing to do).
func writeHandout(home string, cfg DesktopConfig) error {
	if home == "" {
		return nil
	}
	raw, err := json.Marshal(handout{Locale: cfg.Locale, TimeZone: cfg.TimeZone, Scale: cfg.Scale})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(home, handoutFile), raw, 0o600)
}

// restoreArgs is a Chromium command line that restores the profile's
// last session instead of opening the start URL (which would add a
// tab to the restored ones): the "--" and URL that wrapperArgs ends
// with give way to the switch.
func restoreArgs(args []string) []string {
	if n := len(args); n >= 2 && args[n-2] == "--" {
		args = args[:n-2]
	}
	return append(slices.Clip(args), "--restore-last-session")
}

// chromiumArgs is Chromium's command line after the program name. The
// start URL comes last, after "--": Chromium reads no flag after it, so
// a start URL that reached the agent unchecked (an old catalog entry, a
// bug in validation) still cannot become a switch such as
// --renderer-cmd-prefix.
func chromiumArgs(home string, cfg DesktopConfig) []string {
	return wrapperArgs(append([]string{
		"--no-first-run", "--no-default-browser-check", "--disable-default-apps",
		"--noerrdialogs", "--disable-infobars", "--disable-session-crashed-bubble",
		"--password-store=basic", "--user-data-dir=" + home + "/chromium",
		"--ozone-platform=x11", scaleArg(cfg.Scale),
		"--window-position=0,0", "--window-size=" + strconv.Itoa(cfg.Width) + "," + strconv.Itoa(cfg.Height),
		// No GPU in the container: skip SwiftShader's emulated GL,
		// which costs more CPU than software compositing.
		"--disable-gpu", "--disable-features=" + disabledFeatures,
	}, append(append(append(modeArgs(cfg.Mode), proxyArgs(cfg.Proxy)...), devtoolsArgs()...), localeArgs(cfg.Locale)...)...), cfg.StartURL)
}

// disabledFeatures are Chromium features a session has no use for.
// Chromium 156 draws the omnibox's suggestions in a WebUI page
// (WebUIOmniboxPopup, WebUIOmniboxAimPopup) that PreloadTopChromeWebUI
// keeps loaded in a renderer of its own from the start, hidden, in kiosk
// mode too: 46 MiB of PSS in an idle session, measured here, about a
// sixth of it. Without them the omnibox uses its native popup, as it did
// for years, and no hidden page is kept.
const disabledFeatures = "Translate,MediaRouter,DialMediaRouteProvider,WebUIOmniboxPopup,WebUIOmniboxAimPopup,PreloadTopChromeWebUI"

// scaleArg has Chromium draw at the viewer's device pixel ratio: the
// display is then that many device pixels per CSS pixel of the viewer,
// and text is as sharp as on the viewer's own screen.
func scaleArg(scale float64) string {
	return "--force-device-scale-factor=" + strconv.FormatFloat(max(scale, 1), 'f', -1, 64)
}

// modeArgs makes Chromium a kiosk or a browser window. The window
// manager keeps either maximized; --start-maximized has the browser
// say so from its first frame, so it never draws itself restored.
func modeArgs(mode string) []string {
	if mode == ModeKiosk {
		return []string{"--kiosk"}
	}
	return []string{"--start-maximized"}
}

// proxyArgs sends every request through the egress proxy, and keeps
// WebRTC from pages off UDP that would bypass it (their ICE then uses
// TCP through the proxy, or fails): the host rules refuse such packets
// anyway, and this spares the page the wait.
func proxyArgs(proxy string) []string {
	if proxy == "" {
		return nil
	}
	return []string{"--proxy-server=" + proxy, "--force-webrtc-ip-handling-policy=disable_non_proxied_udp"}
}

// wrapperArgs is the argument list for Debian's chromium wrapper script
// (/usr/bin/chromium, which also reads /etc/chromium.d): flags, then the
// URL after "--". The wrapper stops its own option parsing at the first
// "--" and drops it, and moves the flags it saw before it behind the
// rest, so a lone "--" before the URL would vanish and the URL would come
// first, read as a switch again. A leading "--" makes the wrapper pass
// everything after it through untouched, the URL's "--" included.
func wrapperArgs(flags []string, url string) []string {
	args := append([]string{"--"}, flags...)
	return append(args, "--", url)
}

// audioEnv points the app at the session's sound server. Without it (the
// workspace has no sound) Chromium finds none, since autospawn is off in
// the image, and plays into nothing.
func audioEnv(cfg DesktopConfig) []string {
	if !cfg.Audio {
		return nil
	}
	// PULSE_LATENCY_MSEC caps the buffer of Chromium's sound stream: by
	// default it fills one of its own choosing, and what sits in it is
	// delay before the sound reaches the helper.
	return []string{"PULSE_SERVER=" + audio.Address(audioDir), "PULSE_LATENCY_MSEC=30"}
}

// cursors passes the display's cursor changes on to the streamer.
func cursors(ctx context.Context, in <-chan desktop.Cursor) <-chan stream.Cursor {
	out := make(chan stream.Cursor, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case c := <-in:
				select {
				case out <- stream.Cursor{CSS: c.CSS, PNG: c.PNG, HotX: c.HotX, HotY: c.HotY}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}
