package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/stats"
	"github.com/airlock-rbi/airlock/bench/internal/viewer"
	"github.com/airlock-rbi/airlock/images"
)

// Targets.
const (
	targetConnectP50MS = 1000.0
	targetClickP50MS   = 30.0 // at viewer.HD
	targetFPS          = 30.0 // at either size
	targetIdleCPUPct   = 1.0
	targetToneP50MS    = 150.0
	// At viewer.FullHD.
	targetFullHDClickP50MS = 40.0
)

// pct is the p-th percentile (nearest rank, as every benchmark in bench/)
// of f over xs, in milliseconds. Samples where f is 0 (not seen) are
// left out.
func pct[T any](xs []T, p float64, f func(T) float64) float64 {
	var ds []time.Duration
	for _, x := range xs {
		if v := f(x); v != 0 {
			ds = append(ds, time.Duration(v*float64(time.Millisecond)))
		}
	}
	return stats.MS(stats.Percentile(ds, p))
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// report prints the tables and returns the BENCH line.
func report(out io.Writer, env environment, b *bench, st staticResult, an animResult, tones []toneSample, hd *fullHDResult) string {
	reportHeader(out, env, b)

	c50, c95 := pct(st.connects, 50, func(c connectSample) float64 { return c.firstShown }), pct(st.connects, 95, func(c connectSample) float64 { return c.firstShown })
	connectOK := c50 <= targetConnectP50MS
	reportConnect(out, st.connects, c50, c95, connectOK)

	k50, k95 := pct(st.clicks, 50, func(c clickSample) float64 { return c.photon }), pct(st.clicks, 95, func(c clickSample) float64 { return c.photon })
	clickOK := k50 <= targetClickP50MS
	reportClicks(out, st.clicks, b.o.clickWarmup, k50, k95, targetClickP50MS, clickOK)

	fps := an.anim.video.fps
	fpsOK := fps >= targetFPS
	reportFPS(out, an, b.o.window, fpsOK)

	idle := st.still.cpu.container.agentEncoder()
	idleOK := idle <= targetIdleCPUPct
	ratio, perFrame := reportCPU(out, st, an, b.o.window, idle, idleOK)

	reportMemory(out, st.mem, an.mem)

	w := warm(tones)
	t50, t95 := pct(w, 50, func(t toneSample) float64 { return t.ms }), pct(w, 95, func(t toneSample) float64 { return t.ms })
	toneOK := t50 <= targetToneP50MS
	cold := reportTones(out, tones, t50, t95, toneOK)

	ok := connectOK && clickOK && fpsOK && idleOK && toneOK
	hdFields := ""
	if hd != nil {
		var hdOK bool
		hdFields, hdOK = reportFullHD(out, b, *hd, k50, an)
		ok = ok && hdOK
	}
	result := verdict(ok)
	return fmt.Sprintf("BENCH stream connect_p50_ms=%.1f connect_p95_ms=%.1f click_p50_ms=%.1f click_p95_ms=%.1f fps=%.1f remote_fps=%.1f "+
		"idle_cpu_pct=%.2f anim_cpu_pct=%.1f ffmpeg_cpu_pct=%.1f cpu_ratio=%.2f cpu_per_frame_ratio=%.2f "+
		"agent_display_rss_mib=%.1f chromium_pss_mib=%.1f tone_p50_ms=%.1f tone_p95_ms=%.1f tone_cold_ms=%.1f idle_audio_cpu_pct=%.2f "+
		"targets=connect:%s,click:%s,fps:%s,idle_cpu:%s,tone:%s result=%s",
		c50, c95, k50, k95, fps, an.anim.rafFPS, idle, an.anim.cpu.container.agentEncoder(), an.base.cpu.total(), ratio, perFrame,
		mib(an.mem.agentDisplay(false)), mib(an.mem.pss[groupChromium]), t50, t95, cold,
		st.still.cpu.container.pct[groupAudio]+st.still.cpu.container.pct[groupSound],
		verdict(connectOK), verdict(clickOK), verdict(fpsOK), verdict(idleOK), verdict(toneOK), result) + hdFields
}

// reportFullHD prints phase 8 beside the 1280×720 figures and returns its
// BENCH fields and whether it met its targets.
func reportFullHD(out io.Writer, b *bench, hd fullHDResult, hdClickP50 float64, an animResult) (string, bool) {
	fmt.Fprintf(out, "\nAt %s (new sessions, the same pages)\n", viewer.FullHD)
	k50, k95 := pct(hd.clicks, 50, func(c clickSample) float64 { return c.photon }), pct(hd.clicks, 95, func(c clickSample) float64 { return c.photon })
	clickOK := k50 <= targetFullHDClickP50MS
	reportClicks(out, hd.clicks, b.o.clickWarmup, k50, k95, targetFullHDClickP50MS, clickOK)
	v := hd.anim.video
	fpsOK := v.fps >= targetFPS
	fmt.Fprintf(out, "Frame rate under full-screen animation, %v window, video %d×%d\n", b.o.window, v.w, v.h)
	fmt.Fprintf(out, "  viewer: %.1f fps shown, %.1f decoded, %.1f received; %d dropped, %d packets lost, %d freezes; %.0f kbit/s; decode %.1f ms a frame\n",
		v.fps, v.decodedFPS, v.receivedFPS, v.dropped, v.lost, v.freezes, v.kbps, v.decodeMS)
	fmt.Fprintf(out, "  remote page: %.1f animation frames a second\n", hd.anim.rafFPS)
	cpu := hd.anim.cpu.container.agentEncoder()
	perFrame := msPerFrame(cpu, v.receivedFPS)
	fmt.Fprintf(out, "  agent + encoder: %.1f %% of a core, %.2f ms a frame (at %s: %.1f %%, %.2f ms a frame); Xvfb %.1f %%, Chromium %.1f %%; machine busy %.0f %%\n",
		cpu, perFrame, viewer.HD, an.anim.cpu.container.agentEncoder(), msPerFrame(an.anim.cpu.container.agentEncoder(), an.anim.video.receivedFPS),
		hd.anim.cpu.container.pct[groupDisplay], hd.anim.cpu.container.pct[groupChromium], 100*hd.anim.cpu.busy)
	fmt.Fprintf(out, "  %.1f fps; target >= %.0f fps: %s\n", v.fps, targetFPS, verdict(fpsOK))
	fmt.Fprintf(out, "  click to photon p50: %.1f ms at %s, %.1f ms at %s\n", hdClickP50, viewer.HD, k50, viewer.FullHD)
	return fmt.Sprintf(" fullhd_click_p50_ms=%.1f fullhd_click_p95_ms=%.1f fullhd_fps=%.1f fullhd_remote_fps=%.1f fullhd_anim_cpu_pct=%.1f fullhd_cpu_ms_per_frame=%.2f targets_fullhd=click:%s,fps:%s",
		k50, k95, v.fps, hd.anim.rafFPS, cpu, perFrame, verdict(clickOK), verdict(fpsOK)), clickOK && fpsOK
}

// reportTones prints phase 9 and returns the cold tone's time.
func reportTones(out io.Writer, tones []toneSample, p50, p95 float64, ok bool) (cold float64) {
	w := warm(tones)
	for _, t := range tones {
		if t.cold {
			cold = t.ms
		}
	}
	fmt.Fprintf(out, "\nTone to ear: the remote page starts a tone, the viewer's analyser hears it (%d tones on a running audio context)\n", len(w))
	fmt.Fprintf(out, "  p50 %.1f ms, p95 %.1f ms; the first, cold (audio context and sound stream opened, sink woken): %.1f ms\n", p50, p95, cold)
	fmt.Fprintf(out, "  p50 target <= %.0f ms: %s\n", targetToneP50MS, verdict(ok))
	return cold
}

// reportHeader prints what the run ran on.
func reportHeader(out io.Writer, env environment, b *bench) {
	fmt.Fprintf(out, "Streaming a %s session at %s (and %s where said) to a viewer on this host (loopback and the Docker bridge); pages on %s\n", images.Chromium, viewer.HD, viewer.FullHD, b.site.base)
	fmt.Fprintf(out, "%s, %s; viewer: %s (headless)\n", env.docker, env.cpu, env.browser)
	fmt.Fprintf(out, "images: %s %.19s%s, %s %.19s%s\n", images.Chromium, env.chromiumImage, built(env.builtChromium),
		ffmpegImage, env.ffmpegImageID, built(env.builtFFmpeg))
	if b.foreign > 0 {
		fmt.Fprintf(out, "note: %d session(s) ran an image built from another airlock binary than this run's (a concurrent build retagged %s)\n", b.foreign, images.Chromium)
	}
	if b.lost > 0 {
		fmt.Fprintf(out, "note: %d phase(s) were run again: another Airlock deployment on this daemon removed their session's container\n", b.lost)
	}
	fmt.Fprintln(out)
}

func built(b bool) string {
	if b {
		return " (built by this run)"
	}
	return ""
}

func verdict(ok bool) string { return stats.Verdict(ok) }

func reportConnect(out io.Writer, cs []connectSample, p50, p95 float64, ok bool) {
	fmt.Fprintf(out, "Connect to first frame (n=%d, each a reload of the viewer for the same running session), ms after the viewer's POST …/connect\n", len(cs))
	fmt.Fprintf(out, "  %-46s %8s %8s\n", "step (viewer's clock)", "p50", "p95")
	rows := []struct {
		name string
		f    func(connectSample) float64
	}{
		{"POST …/connect answered", func(c connectSample) float64 { return c.answered }},
		{"signal WebSocket open", func(c connectSample) float64 { return c.wsOpen }},
		{"agent-ready received", func(c connectSample) float64 { return c.agentReady }},
		{"RTCPeerConnection made (the offer starts)", func(c connectSample) float64 { return c.pcMade }},
		{"agent's answer received", func(c connectSample) float64 { return c.answer }},
		{"peer connection connected (ICE + DTLS)", func(c connectSample) float64 { return c.pcConnected }},
		{"data channel open (SCTP)", func(c connectSample) float64 { return c.dcOpen }},
		{"video track", func(c connectSample) float64 { return c.track }},
		{"first frame received (receiveTime)", func(c connectSample) float64 { return c.firstRecv }},
		{"first frame presented (presentationTime)", func(c connectSample) float64 { return c.firstPresent }},
		{"first frame on screen (expectedDisplayTime)", func(c connectSample) float64 { return c.firstShown }},
		{"first rAF with totalVideoFrames > 0", func(c connectSample) float64 { return c.firstPoll }},
	}
	for _, r := range rows {
		fmt.Fprintf(out, "  %-46s %8.1f %8.1f\n", r.name, pct(cs, 50, r.f), pct(cs, 95, r.f))
	}
	fmt.Fprintf(out, "  connect to first frame on screen: p50 %.1f ms, p95 %.1f ms; target p50 <= %.0f ms: %s\n\n", p50, p95, targetConnectP50MS, verdict(ok))
}

func reportClicks(out io.Writer, cs []clickSample, warmup int, p50, p95, target float64, ok bool) {
	fmt.Fprintf(out, "Click to photon (n=%d after %d warm-up), ms after the viewer's pointerdown on #screen\n", len(cs), warmup)
	fmt.Fprintf(out, "  %-58s %8s %8s\n", "step", "p50", "p95")
	rows := []struct {
		name string
		f    func(clickSample) float64
	}{
		{"remote page's mousedown handler runs (input path)", func(c clickSample) float64 { return c.remoteDown }},
		{"remote page's next animation frame", func(c clickSample) float64 { return c.raf1 }},
		{"remote page's animation frame after that", func(c clickSample) float64 { return c.raf2 }},
		{"new colour's frame received (receiveTime)", func(c clickSample) float64 { return c.recv }},
		{"new colour's frame presented (presentationTime)", func(c clickSample) float64 { return c.present }},
		{"new colour's frame callback runs (now)", func(c clickSample) float64 { return c.now }},
		{"new colour's frame: expectedDisplayTime", func(c clickSample) float64 { return c.shown }},
		{"new colour on screen (first animation frame to find it)", func(c clickSample) float64 { return c.photon }},
	}
	for _, r := range rows {
		fmt.Fprintf(out, "  %-58s %8.1f %8.1f\n", r.name, pct(cs, 50, r.f), pct(cs, 95, r.f))
	}
	legs := []struct {
		name string
		f    func(clickSample) float64
	}{
		{"input: viewer → data channel → agent → XTest → remote page", func(c clickSample) float64 { return c.remoteDown }},
		{"remote page, capture, encode, send: mousedown → received", func(c clickSample) float64 { return c.recv - c.remoteDown }},
		{"viewer: received → on screen (jitter buffer, decode, paint)", func(c clickSample) float64 { return c.photon - c.recv }},
	}
	fmt.Fprintln(out, "  split (median of each click's own difference; remote times are the container's epoch clock, the host's):")
	for _, l := range legs {
		fmt.Fprintf(out, "    %-60s %8.1f\n", l.name, median(cs, l.f))
	}
	var gapped []clickSample
	for _, c := range cs {
		if c.recvGap != 0 {
			gapped = append(gapped, c)
		}
	}
	if len(gapped) > 0 {
		fmt.Fprintf(out, "  the new colour's frame and the frame before it (%d clicks): RTP timestamps %.1f ms apart, received %.1f ms apart (medians)\n",
			len(gapped), median(gapped, func(c clickSample) float64 { return c.rtpGap }), median(gapped, func(c clickSample) float64 { return c.recvGap }))
		var ahead, rest []clickSample
		for _, c := range gapped {
			if c.rtpGap-c.recvGap > 20 {
				ahead = append(ahead, c)
			} else {
				rest = append(rest, c)
			}
		}
		held := func(c clickSample) float64 { return c.photon - c.recv }
		fmt.Fprintf(out, "    RTP timestamp advanced > 20 ms more than the arrival did: %d clicks, received → on screen median %.1f ms (timestamp lead median %.1f ms)\n",
			len(ahead), median(ahead, held), median(ahead, func(c clickSample) float64 { return c.rtpGap - c.recvGap }))
		fmt.Fprintf(out, "    the others: %d clicks, received → on screen median %.1f ms\n", len(rest), median(rest, held))
	}
	fixed := 0
	for _, c := range cs {
		if c.shownFixed {
			fixed++
		}
	}
	if fixed > 0 {
		fmt.Fprintf(out, "  %d click(s): the frame's expectedDisplayTime was before its receiveTime; its presentationTime stands in for it in the row above\n", fixed)
	}
	frames := 0
	for _, c := range cs {
		frames += c.frames
	}
	fmt.Fprintf(out, "  video frames read back per click: %.1f on average (the new colour's included)\n", float64(frames)/float64(max(len(cs), 1)))
	fmt.Fprintf(out, "  click to photon (first animation frame to find the new colour): p50 %.1f ms, p95 %.1f ms; target p50 <= %.0f ms: %s\n\n", p50, p95, target, verdict(ok))
}

// median is the median of f over xs, negative values included.
func median[T any](xs []T, f func(T) float64) float64 {
	var ds []time.Duration
	for _, x := range xs {
		ds = append(ds, time.Duration(f(x)*float64(time.Millisecond)))
	}
	return stats.MS(stats.Percentile(ds, 50))
}

func reportFPS(out io.Writer, an animResult, window time.Duration, ok bool) {
	v := an.anim.video
	fmt.Fprintf(out, "Frame rate under full-screen animation, %v window, video %d×%d\n", window, v.w, v.h)
	fmt.Fprintf(out, "  viewer: %.1f fps shown (totalVideoFrames), %.1f decoded, %.1f received; %d dropped, %d packets lost, %d freezes; %.0f kbit/s; decode %.1f ms a frame\n",
		v.fps, v.decodedFPS, v.receivedFPS, v.dropped, v.lost, v.freezes, v.kbps, v.decodeMS)
	if len(v.intervals) > 0 {
		iv := func(x float64) float64 { return x }
		fmt.Fprintf(out, "  time between frames received: median %.1f ms, p95 %.1f ms (%d intervals)\n", median(v.intervals, iv), pct(v.intervals, 95, iv), len(v.intervals))
	}
	fmt.Fprintf(out, "  remote page: %.1f animation frames a second (its own count, %d reports)\n", an.anim.rafFPS, an.anim.rafReports)
	fmt.Fprintf(out, "  %.1f fps; target >= %.0f fps: %s\n\n", v.fps, targetFPS, verdict(ok))
}

// reportCPU prints the CPU table and returns agent+encoder / ffmpeg, by
// CPU time and by CPU time per frame.
func reportCPU(out io.Writer, st staticResult, an animResult, length time.Duration, idle float64, ok bool) (ratio, perFrame float64) {
	fmt.Fprintf(out, "CPU, %% of one core over %v windows (schedstat of every thread of each process; the cgroup's total beside)\n", length)
	cols := []struct {
		name string
		w    window
	}{{"still", st.still.cpu}, {"animation", an.anim.cpu}, {"anim+ffmpeg", an.base.session.cpu}}
	fmt.Fprintf(out, "  %-34s", "")
	for _, c := range cols {
		fmt.Fprintf(out, " %12s", c.name)
	}
	fmt.Fprintln(out)
	rows := []struct {
		name string
		f    func(w window) float64
	}{
		{"agent", func(w window) float64 { return w.container.pct[groupAgent] }},
		{"encoder (airlock-encoder)", func(w window) float64 { return w.container.pct[groupEncoder] }},
		{"audio helper (airlock-audio)", func(w window) float64 { return w.container.pct[groupAudio] }},
		{"sound server (pulseaudio)", func(w window) float64 { return w.container.pct[groupSound] }},
		{"agent + encoders + sound", func(w window) float64 { return w.container.agentEncoder() }},
		{"display (Xvfb)", func(w window) float64 { return w.container.pct[groupDisplay] }},
		{"Chromium in the session", func(w window) float64 { return w.container.pct[groupChromium] }},
		{"other processes of the session", func(w window) float64 { return w.container.pct[groupOther] }},
		{"session container (cgroup total)", func(w window) float64 { return w.container.pct[groupAll] }},
		{"viewer (host Chromium, all procs)", func(w window) float64 { return w.viewer.pct["viewer"] }},
		{"whole machine busy", func(w window) float64 { return 100 * w.busy }},
	}
	for _, r := range rows {
		fmt.Fprintf(out, "  %-34s", r.name)
		for _, c := range cols {
			fmt.Fprintf(out, " %12.2f", r.f(c.w))
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "  %-34s %12s %12s %12.2f\n", "ffmpeg baseline (its container)", "-", "-", an.base.cpu.total())
	fmt.Fprintf(out, "  frames: viewer received %.1f/s (still), %.1f/s (animation), %.1f/s (anim+ffmpeg); ffmpeg encoded %.1f/s\n",
		st.still.video.receivedFPS, an.anim.video.receivedFPS, an.base.session.video.receivedFPS, an.base.fps)
	fmt.Fprintf(out, "  still screen: agent + encoder, audio helper and sound server included, %.2f %%; target <= %.0f %%: %s\n", idle, targetIdleCPUPct, verdict(ok))

	ae := an.anim.cpu.container.agentEncoder()
	ff := an.base.cpu.total()
	if ff > 0 {
		ratio = ae / ff
	}
	aeFrame := msPerFrame(ae, an.anim.video.receivedFPS)
	ffFrame := msPerFrame(ff, an.base.fps)
	if ffFrame > 0 {
		perFrame = aeFrame / ffFrame
	}
	fmt.Fprintf(out, "  animation: agent + encoder %.1f %% vs ffmpeg x11grab + libvpx %.1f %%: ratio %.2f\n", ae, ff, ratio)
	fmt.Fprintf(out, "  per frame: agent + encoder %.2f ms (%.1f fps sent) vs ffmpeg %.2f ms (%.1f fps, %d duplicated, %d dropped): ratio %.2f\n",
		aeFrame, an.anim.video.receivedFPS, ffFrame, an.base.fps, an.base.dup, an.base.drop, perFrame)
	if an.base.shm {
		fmt.Fprintln(out, "  ffmpeg's x11grab used MIT-SHM")
	} else {
		fmt.Fprintln(out, "  ffmpeg's x11grab could not use MIT-SHM (the session's IPC namespace is not shareable): every frame came through the X socket")
	}
	if an.base.info != "" {
		fmt.Fprintf(out, "  ffmpeg: %s\n", strings.ReplaceAll(an.base.info, "\n", "\n  ffmpeg: "))
	}
	fmt.Fprintln(out)
	return ratio, perFrame
}

// msPerFrame is the CPU milliseconds a frame from a % of a core at fps.
func msPerFrame(pctCore, fps float64) float64 {
	if fps <= 0 {
		return 0
	}
	return pctCore * 10 / fps
}

func reportMemory(out io.Writer, still, anim memUse) {
	fmt.Fprintln(out, "Memory per session, MiB: RSS (VmRSS; shared pages counted in every process) and PSS (smaps_rollup; shared pages divided)")
	fmt.Fprintf(out, "  %-30s %10s %10s %10s %10s\n", "", "still RSS", "still PSS", "anim RSS", "anim PSS")
	rows := []struct {
		name string
		f    func(m memUse, pss bool) int64
	}{
		{"agent", func(m memUse, pss bool) int64 { return pick(m, pss)[groupAgent] }},
		{"encoder", func(m memUse, pss bool) int64 { return pick(m, pss)[groupEncoder] }},
		{"display (Xvfb)", func(m memUse, pss bool) int64 { return pick(m, pss)[groupDisplay] }},
		{"agent and display", func(m memUse, pss bool) int64 { return m.agentDisplay(pss) }},
		{fmt.Sprintf("Chromium (%d / %d processes)", still.procs[groupChromium], anim.procs[groupChromium]),
			func(m memUse, pss bool) int64 { return pick(m, pss)[groupChromium] }},
		{"other", func(m memUse, pss bool) int64 { return pick(m, pss)[groupOther] }},
	}
	for _, r := range rows {
		fmt.Fprintf(out, "  %-30s %10.1f %10.1f %10.1f %10.1f\n", r.name,
			mib(r.f(still, false)), mib(r.f(still, true)), mib(r.f(anim, false)), mib(r.f(anim, true)))
	}
}

func pick(m memUse, pss bool) map[string]int64 {
	if pss {
		return m.pss
	}
	return m.rss
}
