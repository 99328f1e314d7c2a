package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/bench/internal/viewer"
)

// The baseline: Debian's ffmpeg grabbing the session's display with
// x11grab and encoding it with libvpx (the library the agent's encoder
// links, libvpx7 of bookworm) in the same realtime configuration.
const (
	ffmpegImage = "airlock/bench-ffmpeg:latest"
	// labelDockerfile is the SHA-256 of the Dockerfile the image was
	// built from: a changed Dockerfile builds it again.
	labelDockerfile  = "airlock.bench.dockerfile"
	ffmpegDockerfile = `# bench/stream's baseline: ffmpeg with x11grab and libvpx.
FROM debian:bookworm-slim
RUN set -eux; \
	apt-get update; \
	apt-get install -y --no-install-recommends ffmpeg; \
	apt-get clean; \
	rm -rf /var/lib/apt/lists/*
USER 1000:1000
ENTRYPOINT ["ffmpeg"]
`
)

// ffmpegArgs encode like images/chromium/encoder/airlock-encoder.c:
// VP8, realtime deadline, VP8E_SET_CPUUSED -16 (ffmpeg passes -cpu-used
// to that control as is), no lag, error resilient, CBR at the agent's
// start bitrate (4 Mbit/s) and quantizers 4-56, two threads, no
// periodic keyframes, a static threshold of 1000. Not screen content mode
// (VP8E_SET_SCREEN_CONTENT_MODE 1 in the helper): bookworm's ffmpeg 5.1
// has no option for it with VP8. It grabs at 60 fps, the agent's cap,
// without the pointer (the agent does not draw it either).
func ffmpegArgs(s viewer.Size) []string {
	return []string{
		"-hide_banner", "-nostdin", "-loglevel", "info", "-nostats", "-progress", "pipe:1", "-stats_period", "0.5",
		"-f", "x11grab", "-draw_mouse", "0", "-framerate", "60", "-video_size", fmt.Sprintf("%dx%d", s.W, s.H), "-i", ":0",
		"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "-16", "-lag-in-frames", "0", "-error-resilient", "default",
		"-b:v", "4M", "-minrate", "4M", "-maxrate", "4M", "-qmin", "4", "-qmax", "56",
		"-g", "1000000", "-static-thresh", "1000",
		"-threads", "2", "-f", "null", "-",
	}
}

// ensureFFmpegImage builds the baseline's image unless it was built from
// this Dockerfile already. It reports whether it built.
func ensureFFmpegImage(ctx context.Context, socket *client.Client) (bool, error) {
	sum := sha256.Sum256([]byte(ffmpegDockerfile))
	want := hex.EncodeToString(sum[:])
	img, err := socket.ImageInspect(ctx, ffmpegImage)
	if err == nil && img.Config != nil && img.Config.Labels[labelDockerfile] == want {
		return false, nil
	}
	if err != nil && !errdefs.IsNotFound(err) {
		return false, fmt.Errorf("inspect image %s: %w", ffmpegImage, err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(ffmpegDockerfile))}); err != nil {
		return false, err
	}
	if _, err := tw.Write([]byte(ffmpegDockerfile)); err != nil {
		return false, err
	}
	if err := tw.Close(); err != nil {
		return false, err
	}
	resp, err := socket.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{ffmpegImage}, Remove: true, ForceRemove: true,
		Labels: map[string]string{labelDockerfile: want}})
	if err != nil {
		return false, fmt.Errorf("build image %s: %w", ffmpegImage, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var tail []string
	for {
		var msg struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return true, nil
		} else if err != nil {
			return false, fmt.Errorf("build image %s: read progress: %w", ffmpegImage, err)
		}
		if msg.Stream != "" {
			tail = append(tail, msg.Stream)
			if len(tail) > 30 {
				tail = tail[1:]
			}
		}
		if msg.Error != "" {
			return false, fmt.Errorf("build image %s: %s\n%s", ffmpegImage, msg.Error, strings.Join(tail, ""))
		}
	}
}
