// Command stream measures a Chromium session's stream as its user sees
// it, and what the stream costs the host, in one run, all on this machine
// (loopback, the Docker bridge, and a network namespace it makes).
//
// Setup: the static airlock binary is built from this module;
// airlock/chromium:latest is made current for it (scripts/build-base-image.sh,
// then imagebuild.Ensure, as the browser test does); `airlock up` runs as a
// subprocess with a throwaway data directory. The benchmark serves two
// pages (assets/) on an address of TEST-NET-3 (203.0.113.120, or the next
// of 203.0.113.120-139 that this machine neither uses nor routes: ip route
// get, ip route show match, and not the address of a mirror it reaches by
// name, which here sit in TEST-NET-3 too) made an address of a network namespace of the
// run's own, routed from this host over a veth pair (transit
// 10.254.200-249.0/30, likewise the first free), the listener opened
// inside the namespace by a thread locked to it for the call: sessions
// have no path to this host's own addresses (issue 10), the Docker
// bridge's gateway included, while a standard session reaches a routed
// address like any web server. It creates a workspace for each (image airlock/chromium:latest, seccomp "chromium", clipboard
// "both", 512 MiB /dev/shm, 2 GiB), then one session at a time through the
// api. The user's browser is a headless Chromium on this host (chromedp),
// signed in to the portal, its window sized so that the page is 1280×720:
// the viewer asks the agent for a display of the page's size, and the
// benchmark checks that the display, the decoded video and the video
// element are all 1280×720 (asking itself with {"t":"resize"} otherwise),
// so video pixels are page pixels. A script installed before the portal's
// own (Page.addScriptToEvaluateOnNewDocument, bench/internal/viewer/hook.js) wraps fetch,
// WebSocket and RTCPeerConnection to timestamp each step of a connect, and
// follows every frame presented with requestVideoFrameCallback. Times in
// the viewer are its performance.now().
//
//  1. Connect to first frame (session 1, the click page, still): the
//     viewer page is reloaded -connects (10) times for the same running
//     session; each reload is a new signal connection, offer and peer
//     connection. Time from the page's POST /api/v1/sessions/{id}/connect
//     to the first video frame's expectedDisplayTime (requestVideoFrameCallback
//     metadata: when the browser expects it on screen), with each step
//     between. Target: p50 <= 1 s.
//
//  2. Click to photon (same session): the remote page is one flat colour
//     that switches between rgb(220,40,40) and rgb(40,80,220) on every
//     mousedown. The benchmark clicks the middle of the video with CDP
//     Input.dispatchMouseEvent (-click-warmup 2 unmeasured, then -clicks
//     20, each 300 ms after the previous one's colour arrived). A capturing
//     pointerdown listener on #screen stamps the click; then every
//     animation frame, and every requestVideoFrameCallback, draws the
//     video's middle 8×8 pixels to a canvas and reads them back until
//     their mean is the new colour (within 60 a channel). Photon time: the
//     first animation frame's time to find it, a measure that holds on
//     both of Chromium's paths for remote video (see clickSample.photon);
//     the frame callback gives the frame's receiveTime, presentationTime
//     and expectedDisplayTime beside it. The remote page reports, by fetch to the benchmark, when its
//     mousedown handler ran and its next two animation frames, in epoch time
//     (the container shares this host's clock), which splits the time into
//     the input path, the remote side up to the frame's receiveTime, and the
//     viewer. The report also compares the frame's RTP timestamp and its
//     receiveTime with those of the frame presented before it. Target:
//     p50 <= 30 ms.
//
//  3. CPU and memory with a still screen (same session, after 3 s of
//     rest, viewer connected): CPU over -window (10 s) of each process of
//     the container (its cgroup's cgroup.procs), the sum over the process's
//     threads of /proc/PID/task/TID/schedstat's run time, grouped as the
//     agent (the container's init process), the encoder (airlock-encoder),
//     the audio helper (airlock-audio), the sound server (pulseaudio),
//     the display (Xvfb), Chromium (chromium, chrome_crashpad_handler) and
//     other; the cgroup's own total (cpuacct.usage, or cpu.stat on cgroup
//     v2) beside it, and the viewer's (the host Chromium and its children)
//     and the whole machine's (/proc/stat). Target: agent + encoder, the
//     audio helper and the sound server included, <= 1 % of one core.
//
//  4. Frame rate and CPU under full-screen animation (session 2, the
//     animation page: a canvas repainted every animation frame with a
//     moving gradient and discs, so every pixel changes every frame), after
//     3 s: over -window, the viewer's frame rate
//     (getVideoPlaybackQuality().totalVideoFrames over the page's clock,
//     with the inbound RTP statistics and the time between frames received
//     beside it), the remote page's own animation frame rate (it reports
//     its count every second), and CPU as in 3. Target: >= 30 fps.
//
//  5. Baseline (same session, right after 4, animation running, viewer
//     connected, the agent streaming all along): ffmpeg's x11grab + libvpx
//     grabbing the session's display at 60 fps and encoding it to nowhere
//     with the agent's encoder settings (see ffmpegArgs: -cpu-used -16 is
//     the helper's VP8E_SET_CPUUSED -16), in a container of
//     airlock/bench-ffmpeg:latest (debian:bookworm-slim + ffmpeg, built once
//     with the Docker SDK and kept) in the session's network namespace,
//     where Xvfb's abstract socket is, as uid 1000. After 2 s of warm-up,
//     its CPU over -window (same method) and its frame rate from -progress;
//     the session is measured over the same window. Reported: agent +
//     encoder CPU of window 4 / ffmpeg's CPU, and the same per frame (the
//     agent's frames counted by the viewer's framesReceived). MIT-SHM: the
//     session container's IPC namespace is private (not shareable), so
//     x11grab cannot attach a segment and copies every frame through the X
//     socket, which makes the baseline dearer; the report says which it did.
//
//  6. Memory per session, at the end of windows 3 and 4: VmRSS and
//     smaps_rollup Pss of each process, summed by group: "agent and
//     display" is the agent, the encoder, the audio helper, the sound
//     server and Xvfb; Chromium's processes are
//     given both as the sum of their Pss (shared pages divided among the
//     processes that map them: the fair figure) and of their RSS.
//
//  9. Tone to ear (session 3, the tone page, after 5; its report comes
//     after 6): each mousedown on the page starts a 1500 Hz WebAudio tone,
//     or stops it (its audio context playing on, in silence), and the page
//     reports when, in epoch time. In the viewer a WebAudio analyser on the
//     received sound track (fftSize 512, checked every millisecond)
//     stamps, in epoch time too, the first moment the tone's bin is above
//     -70 dB and 25 dB above a bin far from it. The benchmark clicks the
//     middle of the video to start a tone, waits for the viewer to hear it,
//     clicks again to stop it and waits for the silence, 1 + -tones (10)
//     times. The first tone is cold (it opens the page's audio context,
//     Chromium's sound stream, and wakes the suspended sink) and is
//     reported apart; the others start on a running context. Target: p50
//     of the warm ones <= 150 ms.
//
//  8. Full HD (-full-hd, on by default; it runs after 9, its report
//     comes after 6): the viewer's page is made 1920×1080, so the sessions
//     it opens get a display of that size (checked as above), and 2 and 4
//     are run again on new sessions: click to photon (target p50 <= 40
//     ms, p95 reported) and, under the animation, the frame rate shown
//     (target >= 30 fps) with the agent's and encoder's CPU, in all and
//     per frame received. The page is made 1280×720 again before 7.
//
//  7. Isolation levels (-compare-isolation, on by default; -isolation-only
//     runs it alone): the same two pages on the same routed address. A
//     standard session reaches it over the host's route; a hardened one
//     only through the node's egress proxy, which refuses special-purpose
//     ranges (TEST-NET-3 among them) and this host's own addresses unless
//     the workspace's egress policy allows them: its workspaces allow that
//     /32 by CIDR. Serving the same pages there to both levels leaves the
//     isolation level the only difference. -isolation-rounds (2) rounds,
//     each a click session (-isolation-clicks 10 after -click-warmup, as
//     in 2) and an animation session (a -isolation-window 5 s window, as
//     in 4) of every level, the levels' order rotated each round, so that
//     drift on a shared machine falls on every level alike. Launch to
//     ready is each session's, from its POST to the long poll's ready
//     answer. Reported: per level, launch to ready p50, click p50/p95, fps
//     (the windows' mean) and the remote page's; hardened / standard
//     (targets: click p50 ratio <= 1.10, fps ratio >= 0.9: the proxy is not
//     on the stream's path). When dockerd has a runsc runtime and a node
//     offers sandboxed, sandboxed sessions (gVisor) are measured the same
//     way and reported against hardened, their runc twin (the same network
//     and egress path), and against standard, with no target; otherwise a
//     note says why not. No node offering hardened, or an API that takes
//     no egress policy, skips the phase with a note. Cost: about three
//     minutes.
//
//  10. Launch: the viewer opens the portal's catalog in a new document and
//     clicks Launch on a workspace of the click page, -launches (10) times
//     for one without a pool and as many for one with a pool of one,
//     interleaved; each is timed from the click to the first animation
//     frame that sees a decoded frame (and to the viewer's POST
//     …/connect), and its session ended, untimed. Before a warm launch
//     the run waits, untimed, for the pool to hold a warm session. Target:
//     warm p50 <= 200 ms. -launch-only runs this phase alone.
//
// The viewer runs on the same machine, so its decoding and compositing
// compete with the session for the same CPUs; the report gives its CPU and
// the machine's. Every `airlock up` removes session containers on the
// daemon that its own store does not know, so another deployment on the
// same daemon (a test) can remove this benchmark's; a phase that loses its
// session is run again (at most four times a run) and the report says so.
//
// Run it with `go run ./bench/stream` (-v prints every sample to stderr).
// It prints tables and, for scripts, a line starting with "BENCH" for
// phases 1-6 ("BENCH stream"), one for phase 7 ("BENCH
// stream-isolation") and one for phase 10 ("BENCH stream.launch"). A missed target is reported, not an error: the exit
// status is non-zero only when the run itself fails. Everything it creates
// (the subprocess, its session containers, the ffmpeg container, the
// namespace, the veth pair and the route, temporary files) is
// removed at exit, also on failure or interrupt; the images it builds are
// kept.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/airlockup"
	"github.com/airlock-rbi/airlock/bench/internal/benchmain"
	"github.com/airlock-rbi/airlock/bench/internal/viewer"
	"github.com/airlock-rbi/airlock/images"
	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// runLabel marks the ffmpeg container with the run's ID, so cleanup finds
// it.
const runLabel = "airlock.bench.run"

type options struct {
	connects, clicks, clickWarmup int
	window                        time.Duration
	// tones is how many warm tones phase 9 measures.
	tones int
	// verbose prints every sample to stderr.
	verbose bool
	// keepLog keeps the log of `airlock up` and prints its path.
	keepLog bool
	// compareIsolation runs the isolation levels' comparison (phase 7);
	// isolationOnly runs nothing else.
	compareIsolation, isolationOnly bool
	// fullHD runs phases 2 and 4 again at 1920×1080 (phase 8).
	fullHD               bool
	isoRounds, isoClicks int
	isoWindow            time.Duration
	// launches is how many clicks on Launch each of the cold and the
	// warm workspace gets (phase 10); launchOnly runs nothing else.
	launches   int
	launchOnly bool
	// densityIdle are the counts of idle sessions phase 11 measures at,
	// in increasing order (none: the phase is not run); densityOnly runs
	// nothing else.
	densityIdle []int
	densityOnly bool
}

func main() {
	var o options
	flag.IntVar(&o.connects, "connects", 10, "measured connects (viewer reloads)")
	flag.IntVar(&o.clicks, "clicks", 20, "measured clicks")
	flag.IntVar(&o.clickWarmup, "click-warmup", 2, "unmeasured clicks before measuring")
	flag.IntVar(&o.tones, "tones", 10, "measured tones (after the first, cold one)")
	flag.DurationVar(&o.window, "window", 10*time.Second, "length of each CPU and frame rate window")
	flag.BoolVar(&o.verbose, "v", false, "print every sample to stderr")
	flag.BoolVar(&o.keepLog, "keep-log", false, "keep the log of `airlock up` and print its path")
	flag.BoolVar(&o.compareIsolation, "compare-isolation", true, "compare standard, hardened and (with runsc) sandboxed sessions")
	flag.BoolVar(&o.fullHD, "full-hd", true, "measure click to photon, frame rate and CPU at 1920×1080 too")
	flag.BoolVar(&o.isolationOnly, "isolation-only", false, "run only the isolation comparison")
	flag.IntVar(&o.isoRounds, "isolation-rounds", 2, "rounds of the isolation comparison (a click and an animation session of every level each)")
	flag.IntVar(&o.isoClicks, "isolation-clicks", 10, "measured clicks of each click session of the isolation comparison")
	flag.DurationVar(&o.isoWindow, "isolation-window", 5*time.Second, "length of each animation window of the isolation comparison")
	flag.IntVar(&o.launches, "launches", 10, "clicks on Launch in the portal, each of a cold and of a pooled (warm) workspace, timed to the first frame")
	flag.BoolVar(&o.launchOnly, "launch-only", false, "run only the launch measurement")
	density := flag.String("density", "0,10,20", "counts of idle sessions to measure density and click to photon at, increasing (empty: no density phase)")
	flag.BoolVar(&o.densityOnly, "density-only", false, "run only the density measurement")
	flag.Parse()
	var derr error
	if o.densityIdle, derr = parseCounts(*density); derr != nil || (o.densityOnly && len(o.densityIdle) == 0) {
		fmt.Fprintf(os.Stderr, "bench/stream: -density: want increasing counts such as 0,10,20 (and some with -density-only): %v\n", derr)
		os.Exit(2)
	}
	if o.isolationOnly {
		o.compareIsolation = true
	}
	if o.launches < 1 || o.connects < 1 || o.clicks < 1 || o.tones < 1 || o.clickWarmup < 0 || o.window < time.Second || o.isoRounds < 1 || o.isoClicks < 1 || o.isoWindow < time.Second || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "bench/stream: -launches, -connects, -clicks, -tones, -isolation-rounds and -isolation-clicks must be at least 1, -click-warmup at least 0, -window and -isolation-window at least 1s; no arguments")
		os.Exit(2)
	}
	benchmain.Run("stream", func(ctx context.Context, out io.Writer) error { return run(ctx, o, out) })
}

func run(ctx context.Context, o options, out io.Writer) (err error) {
	socket, err := dockertest.Connect(ctx)
	if err != nil {
		return err
	}
	defer socket.Close()
	dir, cleanup, err := airlockup.WorkDir("stream", o.keepLog)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()
	runID := rand.Text()
	var deployment string
	defer func() {
		if rerr := airlockup.RemoveContainers(socket, runLabel, runID, deployment); rerr != nil {
			err = errors.Join(err, fmt.Errorf("clean up containers: %w", rerr))
		}
	}()

	root, err := airlockup.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	bin, err := airlockup.Build(ctx, dir)
	if err != nil {
		return err
	}
	var env environment
	if env.builtChromium, err = airlockup.EnsureChromiumImage(ctx, socket, root, bin, images.Chromium); err != nil {
		return err
	}
	if env.builtFFmpeg, err = ensureFFmpegImage(ctx, socket); err != nil {
		return err
	}
	browser, err := viewer.Browser(ctx, root)
	if err != nil {
		return err
	}
	if err := env.read(ctx, socket, browser); err != nil {
		return err
	}
	raw, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(raw)

	// The density phase runs up to its largest count of idle sessions
	// beside a measured one, all the admin's.
	most := strconv.Itoa(64 + slices.Max(append([]int{0}, o.densityIdle...)))
	up, err := airlockup.StartAdmin(ctx, bin, dir, "bench-stream", "--capacity="+most, "--max-sessions="+most)
	if err != nil {
		return err
	}
	deployment = up.Deployment
	// Stop it before its containers are removed (deferred above), so its
	// lifecycle jobs are not racing the cleanup.
	defer func() {
		if serr := up.Stop(); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	api := up.API
	// Sessions have no path to this host's own addresses (issue 10): the
	// pages are served from a namespace of the run's own, routed to.
	rs, err := dockertest.StartRoutedSite(ctx, dockertest.SiteAddrs(120, 140))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := rs.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("remove the routed site: %w", cerr))
		}
	}()
	s, err := serveSite(rs.Listener)
	if err != nil {
		return err
	}
	defer s.close()
	for _, w := range []struct{ name, page string }{{"bench-click", "click"}, {"bench-anim", "anim"}, {"bench-tone", "tone"}, {"bench-idle", "idle"}} {
		if err := createWorkspace(ctx, api, w.name, s.base+w.page); err != nil {
			return err
		}
	}
	v, err := viewer.Start(ctx, browser, up.Server, "admin", up.Password)
	if err != nil {
		return err
	}
	defer v.Close()

	b := &bench{o: o, api: api, socket: socket, site: s, routed: rs, viewer: v, runID: runID, binary: hex.EncodeToString(sum[:])}
	if o.verbose {
		b.trace = os.Stderr
	}
	var lines []string
	if o.densityOnly {
		d, err := b.runDensity(ctx)
		if err != nil {
			return b.failed(ctx, err, up.Proc)
		}
		reportHeader(out, env, b)
		fmt.Fprintln(out)
		fmt.Fprintln(out, reportDensity(out, d, runtime.NumCPU()))
		return nil
	}
	var launches []launchSample
	if !o.isolationOnly {
		if launches, err = b.runLaunch(ctx, o.launches); err != nil {
			return b.failed(ctx, err, up.Proc)
		}
	}
	if o.launchOnly {
		reportHeader(out, env, b)
		lines = append(lines, reportLaunch(out, launches))
	}
	if !o.isolationOnly && !o.launchOnly {
		st, err := b.runStatic(ctx)
		if err != nil {
			return b.failed(ctx, err, up.Proc)
		}
		an, err := b.runAnim(ctx)
		if err != nil {
			return b.failed(ctx, err, up.Proc)
		}
		tones, err := b.runAudio(ctx)
		if err != nil {
			return b.failed(ctx, err, up.Proc)
		}
		var hd *fullHDResult
		if o.fullHD {
			r, err := b.runFullHD(ctx)
			if err != nil {
				return b.failed(ctx, err, up.Proc)
			}
			hd = &r
		}
		lines = append(lines, report(out, env, b, st, an, tones, hd), reportLaunch(out, launches))
		if len(o.densityIdle) > 0 {
			d, err := b.runDensity(ctx)
			if err != nil {
				return b.failed(ctx, err, up.Proc)
			}
			lines = append(lines, reportDensity(out, d, runtime.NumCPU()))
		}
	}
	if o.compareIsolation && !o.launchOnly {
		iso, err := b.runIsolation(ctx)
		if err != nil {
			return b.failed(ctx, err, up.Proc)
		}
		if o.isolationOnly {
			reportHeader(out, env, b)
		}
		lines = append(lines, reportIsolation(out, o, iso))
	}
	fmt.Fprintln(out)
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	return nil
}

// failed adds the end of the server's log to a failure.
func (b *bench) failed(ctx context.Context, err error, up *airlockup.Proc) error {
	if ctx.Err() != nil {
		return err
	}
	return fmt.Errorf("%w\nlog of airlock up (end):\n%s", err, up.Tail())
}

// parseCounts reads a comma-separated list of increasing counts of at
// least 0; the empty string is none.
func parseCounts(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a count", f)
		}
		if len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("%d after %d: counts must increase", n, out[len(out)-1])
		}
		out = append(out, n)
	}
	return out, nil
}
