package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/airlock-rbi/airlock/bench/internal/viewer"
)

// ffmpegRun is a running baseline container.
type ffmpegRun struct {
	id  string
	pid int
	// sharedIPC: the container shares the session's IPC namespace, so
	// x11grab could use MIT-SHM.
	sharedIPC bool

	mu       sync.Mutex
	progress []progressPoint
	stderr   bytes.Buffer
	done     chan struct{} // the log stream ended: ffmpeg exited
}

// progressPoint is one block of ffmpeg's -progress output.
type progressPoint struct {
	at               time.Time // docker's timestamp of its last line
	frame, dup, drop int
}

// startFFmpeg runs the baseline in the session's network namespace (where
// Xvfb's abstract socket is), as the session's user. It first asks for
// the session's IPC namespace too; dockerd refuses that unless the session
// container's is shareable, and it then runs with its own.
func startFFmpeg(ctx context.Context, socket *client.Client, sess *liveSession, runID string, display viewer.Size) (*ffmpegRun, error) {
	var errs []error
	for _, shared := range []bool{true, false} {
		hc := &container.HostConfig{NetworkMode: container.NetworkMode("container:" + sess.container)}
		if shared {
			hc.IpcMode = container.IpcMode("container:" + sess.container)
		}
		cfg := &container.Config{Image: ffmpegImage, User: "1000:1000", Cmd: ffmpegArgs(display), Labels: map[string]string{runLabel: runID}}
		created, err := socket.ContainerCreate(ctx, cfg, hc, nil, nil, "")
		if err == nil {
			err = socket.ContainerStart(ctx, created.ID, container.StartOptions{})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("run %s (shared IPC %t): %w", ffmpegImage, shared, err))
			if created.ID != "" {
				_ = socket.ContainerRemove(context.WithoutCancel(ctx), created.ID, container.RemoveOptions{Force: true})
			}
			continue
		}
		r := &ffmpegRun{id: created.ID, sharedIPC: shared, done: make(chan struct{})}
		info, err := socket.ContainerInspect(ctx, created.ID)
		if err != nil {
			return r, fmt.Errorf("inspect the ffmpeg container: %w", err)
		}
		if info.State == nil || info.State.Pid == 0 {
			return r, fmt.Errorf("the ffmpeg container is not running (%+v)", info.State)
		}
		r.pid = info.State.Pid
		logs, err := socket.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true})
		if err != nil {
			return r, fmt.Errorf("logs of the ffmpeg container: %w", err)
		}
		go r.read(logs)
		return r, nil
	}
	return nil, errors.Join(errs...)
}

// read parses ffmpeg's -progress output (stdout) and keeps its stderr.
func (r *ffmpegRun) read(logs io.ReadCloser) {
	defer close(r.done)
	defer logs.Close()
	pr, pw := io.Pipe()
	go func() {
		errw := lockedWriter{mu: &r.mu, w: &r.stderr}
		_, err := stdcopy.StdCopy(pw, errw, logs)
		pw.CloseWithError(err)
	}()
	// A block of key=value lines, ended by progress=continue (or end).
	var cur progressPoint
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		stamp, line, _ := strings.Cut(sc.Text(), " ")
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(strings.TrimSpace(val))
		switch key {
		case "frame":
			cur.frame = n
		case "dup_frames":
			cur.dup = n
		case "drop_frames":
			cur.drop = n
		case "progress":
			at, err := time.Parse(time.RFC3339Nano, stamp)
			if err != nil {
				continue
			}
			cur.at = at
			r.mu.Lock()
			r.progress = append(r.progress, cur)
			r.mu.Unlock()
		}
	}
	_, _ = io.Copy(io.Discard, pr)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// frames is the last frame count ffmpeg reported.
func (r *ffmpegRun) frames() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.progress) == 0 {
		return 0
	}
	return r.progress[len(r.progress)-1].frame
}

// rate is ffmpeg's frame rate over its progress reports between from and
// to, and the frames it duplicated and dropped (-vsync) meanwhile.
func (r *ffmpegRun) rate(from, to time.Time) (fps float64, dup, drop int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first, last *progressPoint
	for i := range r.progress {
		p := &r.progress[i]
		if p.at.Before(from) || p.at.After(to) {
			continue
		}
		if first == nil {
			first = p
		}
		last = p
	}
	if first == nil || last == first || !last.at.After(first.at) {
		return 0, 0, 0
	}
	return float64(last.frame-first.frame) / last.at.Sub(first.at).Seconds(), last.dup - first.dup, last.drop - first.drop
}

// stderrText is what ffmpeg wrote to stderr so far.
func (r *ffmpegRun) stderrText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.String()
}

// usedSHM says whether x11grab kept MIT-SHM: it warns "Continuing
// without shared memory" when the X server could not attach its segment.
func (r *ffmpegRun) usedSHM() bool {
	return !strings.Contains(r.stderrText(), "without shared memory")
}

// stop removes the container.
func (r *ffmpegRun) stop(socket *client.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := socket.ContainerRemove(ctx, r.id, container.RemoveOptions{Force: true})
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove the ffmpeg container %.12s: %w", r.id, err)
	}
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
	}
	return nil
}

// baseline is the ffmpeg window's result.
type baseline struct {
	cpu       cpuUse // of the ffmpeg container
	fps       float64
	dup, drop int
	sharedIPC bool
	shm       bool
	session   streamWindow // the session and viewer over the same window
	info      string       // ffmpeg's input and output stream lines
}

// measureBaseline runs ffmpeg on the session's display, lets it warm up,
// then measures it (and the session beside it) for d.
func measureBaseline(ctx context.Context, socket *client.Client, v *viewer.Viewer, s *site, sess *liveSession, runID string, d time.Duration) (b baseline, err error) {
	r, err := startFFmpeg(ctx, socket, sess, runID, v.Size())
	if r != nil {
		defer func() {
			if serr := r.stop(socket); serr != nil {
				err = errors.Join(err, serr)
			}
		}()
	}
	if err != nil {
		return b, err
	}
	fail := func(what string) error {
		return fmt.Errorf("ffmpeg %s; its stderr:\n%s", what, tailOf(r.stderrText(), 3000))
	}
	// Warm up: until it has encoded for two seconds.
	deadline := time.Now().Add(time.Minute)
	for r.frames() == 0 {
		select {
		case <-r.done:
			return b, fail("exited")
		case <-ctx.Done():
			return b, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return b, fail("encoded no frame within a minute")
		}
	}
	select {
	case <-r.done:
		return b, fail("exited")
	case <-ctx.Done():
		return b, ctx.Err()
	case <-time.After(2 * time.Second):
	}
	f0, err := snapCgroup(r.pid)
	if err != nil {
		return b, err
	}
	t0 := time.Now()
	if b.session, err = measureWindow(ctx, v, s, sess, d); err != nil {
		return b, err
	}
	f1, err := snapCgroup(r.pid)
	if err != nil {
		return b, err
	}
	// Progress lines stamped within the window may still be on their way
	// through the log stream.
	time.Sleep(600 * time.Millisecond)
	b.cpu = use(f0, f1)
	b.fps, b.dup, b.drop = r.rate(t0, f1.at)
	b.sharedIPC, b.shm = r.sharedIPC, r.usedSHM()
	var lines []string
	for l := range strings.Lines(r.stderrText()) {
		_, t, _ := strings.Cut(l, " ") // docker's timestamp
		// The input stream and the mapping (the output stream's line shows
		// a default context's quantizers, not the encoder's).
		if t = strings.TrimSpace(t); strings.Contains(t, "Video: rawvideo") || strings.Contains(t, " -> ") || strings.Contains(t, "shared memory") {
			lines = append(lines, t)
		}
	}
	b.info = strings.Join(lines, "\n")
	return b, nil
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
