package main

import (
	"context"
	"fmt"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/viewer"
)

// videoSample is what hook.js's videoSample reports: the video element's
// playback quality and the inbound video statistics of the peer
// connection.
type videoSample struct {
	T                             float64 // the page's performance.now()
	Total, Dropped                int     // getVideoPlaybackQuality()
	W, H                          int
	Received, Decoded, RTCDropped int
	Bytes                         float64
	Keyframes                     int
	DecodeTime                    float64 // seconds, all frames
	Lost, Freezes                 int
}

// readVideo reads hook.js's videoSample.
func readVideo(ctx context.Context, v *viewer.Viewer) (videoSample, error) {
	var s videoSample
	err := v.EvalJSON(ctx, `__bench.videoSample()`, &s)
	return s, err
}

// videoRate is what the viewer got over a window.
type videoRate struct {
	seconds float64
	// fps: totalVideoFrames; decodedFPS, receivedFPS: the inbound RTP
	// statistics' framesDecoded and framesReceived.
	fps, decodedFPS, receivedFPS float64
	dropped, lost, freezes       int
	kbps                         float64
	decodeMS                     float64 // per frame decoded
	w, h                         int
	// intervals are the times between the receipts of consecutive frames
	// presented (receiveTime), ms.
	intervals []float64
}

func rate(a, b videoSample) videoRate {
	r := videoRate{seconds: (b.T - a.T) / 1000, w: b.W, h: b.H}
	if r.seconds <= 0 {
		return r
	}
	r.fps = float64(b.Total-a.Total) / r.seconds
	r.decodedFPS = float64(b.Decoded-a.Decoded) / r.seconds
	r.receivedFPS = float64(b.Received-a.Received) / r.seconds
	r.dropped = b.Dropped - a.Dropped + b.RTCDropped - a.RTCDropped
	r.lost = b.Lost - a.Lost
	r.freezes = b.Freezes - a.Freezes
	r.kbps = (b.Bytes - a.Bytes) * 8 / 1000 / r.seconds
	if n := b.Decoded - a.Decoded; n > 0 {
		r.decodeMS = (b.DecodeTime - a.DecodeTime) * 1000 / float64(n)
	}
	return r
}

// streamWindow is one measuring window with the viewer connected: what
// the viewer got, what the remote page drew, and what the CPU did.
type streamWindow struct {
	video videoRate
	// rafFPS is the remote page's own animation frame rate (0 for a still
	// page) over rafReports of its reports.
	rafFPS     float64
	rafReports int
	cpu        window
}

// measureWindow watches the stream for d.
func measureWindow(ctx context.Context, v *viewer.Viewer, s *site, sess *liveSession, d time.Duration) (streamWindow, error) {
	var w streamWindow
	v0, err := readVideo(ctx, v)
	if err != nil {
		return w, fmt.Errorf("video statistics: %w", err)
	}
	t0 := time.Now()
	c0, err := startWindow(sess.pid, v.PID())
	if err != nil {
		return w, err
	}
	select {
	case <-ctx.Done():
		return w, ctx.Err()
	case <-time.After(d):
	}
	if w.cpu, err = c0.end(sess.pid, v.PID()); err != nil {
		return w, err
	}
	v1, err := readVideo(ctx, v)
	if err != nil {
		return w, fmt.Errorf("video statistics: %w", err)
	}
	w.video = rate(v0, v1)
	var recv []float64
	if err := v.EvalJSON(ctx, fmt.Sprintf(`__bench.receivedBetween(%f, %f)`, v0.T, v1.T), &recv); err != nil {
		return w, fmt.Errorf("frame receive times: %w", err)
	}
	for i := 1; i < len(recv); i++ {
		w.video.intervals = append(w.video.intervals, recv[i]-recv[i-1])
	}
	w.rafFPS, w.rafReports = s.rafRate(t0, time.Now())
	return w, nil
}
