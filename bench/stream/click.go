package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/airlock-rbi/airlock/bench/internal/viewer"
)

// The click page's two colours (assets/click.html) and how far from one
// the mean of the 8×8 block read back may be, per channel.
const (
	clickColours = `[[220,40,40],[40,80,220]]`
	colourTol    = 60
)

// clickSample is one click, in milliseconds after the viewer's
// pointerdown.
type clickSample struct {
	// recv, present and shown are the first frame of the new colour's
	// receiveTime, presentationTime and expectedDisplayTime; now is its
	// callback's own time.
	recv, present, shown, now float64
	// photon is when the new colour reaches the screen: the start of the
	// viewer's first animation frame whose rendering step finds it as the
	// video's current frame. It is the same measure on both of Chromium's
	// paths for a remote video. On the smoothing path, which picks a frame
	// for each display frame as that begins, it comes within about a
	// millisecond of the frame's expectedDisplayTime. On the low-latency
	// path, which a playout delay of 0 selects and which hands each frame
	// to the compositor as soon as it is decoded, expectedDisplayTime is
	// the deadline of the last frame the smoothing algorithm chose, not
	// this one's, and the frame still waits for the next display frame.
	// Measured both ways (a playout delay extension on every packet, 30
	// clicks each): presentationTime 9.5 ms earlier, photon the same
	// (37.5 against 37.6 ms p50).
	photon float64
	// frames is how many video frames were read back until that one.
	frames int
	// remoteDown, raf1 and raf2: when the remote page's mousedown handler
	// ran, and its next two animation frames (epoch time converted; the
	// container shares this host's clock).
	remoteDown, raf1, raf2 float64
	// rtpGap and recvGap are how far the new colour's frame is from the
	// frame before it, by RTP timestamp (90 kHz, in ms) and by
	// receiveTime; 0 when there was no frame before it since arming.
	rtpGap, recvGap float64
	// shownFixed: shown is presentationTime, expectedDisplayTime having
	// been earlier than the frame's receiveTime.
	shownFixed bool
}

type hookClick struct {
	Down   *float64   `json:"down"`
	Frames int        `json:"frames"`
	Done   *frameInfo `json:"done"`
	Seen   *float64   `json:"seen"`
	Prev   *frameInfo `json:"prev"`
	Last   []int      `json:"last"`
}

// measureClicks clicks the middle of the video warmup+n times and times
// each click until a frame of the other colour is on screen. seq is how
// many mousedowns the remote page has seen so far; it returns the new
// count.
func measureClicks(ctx context.Context, v *viewer.Viewer, s *site, warmup, n, seq int, trace io.Writer) ([]clickSample, int, error) {
	var box struct{ X, Y, W, H float64 }
	if err := v.EvalJSON(ctx, `(() => { const r = document.querySelector('#screen').getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height} })()`, &box); err != nil {
		return nil, seq, err
	}
	var origin float64
	if err := v.Eval(ctx, `__bench.origin`, &origin); err != nil {
		return nil, seq, err
	}
	cx, cy := box.X+box.W/2, box.Y+box.H/2
	arm := fmt.Sprintf(`__bench.armClick(%d, %d, %s, %d)`, v.Size().W/2, v.Size().H/2, clickColours, colourTol)
	var out []clickSample
	for i := range warmup + n {
		// Arm once the screen shows one of the two colours.
		for try := 0; ; try++ {
			var armed struct {
				Error string
				RGB   []int
			}
			if err := v.EvalJSON(ctx, arm, &armed); err != nil {
				return nil, seq, fmt.Errorf("click %d: arm: %w", i, err)
			}
			if armed.Error == "" {
				break
			}
			if try == 20 {
				return nil, seq, fmt.Errorf("click %d: %s (rgb %v)", i, armed.Error, armed.RGB)
			}
			time.Sleep(250 * time.Millisecond)
		}
		if err := v.Run(ctx, 10*time.Second, chromedp.MouseClickXY(cx, cy)); err != nil {
			return nil, seq, fmt.Errorf("click %d: %w", i, err)
		}
		seq++
		if err := v.Poll(ctx, fmt.Sprintf("click %d's colour on screen", i), `__bench.click.done !== null && __bench.click.seen !== null`, 5*time.Millisecond, 5*time.Second); err != nil {
			var last hookClick
			_ = v.EvalJSON(ctx, `__bench.click`, &last)
			return nil, seq, fmt.Errorf("%w (pointerdown seen: %t, frames read: %d, last colour %v)", err, last.Down != nil, last.Frames, last.Last)
		}
		var h hookClick
		if err := v.EvalJSON(ctx, `__bench.click`, &h); err != nil {
			return nil, seq, err
		}
		if h.Down == nil || h.Done == nil || h.Seen == nil {
			return nil, seq, fmt.Errorf("click %d: the hook has no pointerdown or no frame: %+v", i, h)
		}
		ev, err := s.event(ctx, seq)
		if err != nil {
			return nil, seq, fmt.Errorf("click %d: %w", i, err)
		}
		down := *h.Down
		epochDown := origin + down
		c := clickSample{present: h.Done.Presentation - down, shown: h.Done.Expected - down, now: h.Done.Now - down, frames: h.Frames,
			remoteDown: ev.down - epochDown, raf1: ev.raf1 - epochDown, raf2: ev.raf2 - epochDown}
		if h.Done.Receive != nil {
			c.recv = *h.Done.Receive - down
		}
		c.photon = *h.Seen - down
		// Headless Chromium's frame clock now and then gives a frame an
		// expectedDisplayTime before it was even received; the time it
		// was submitted for composition stands in for it then.
		if c.recv != 0 && c.shown < c.recv {
			c.shown, c.shownFixed = c.present, true
		}
		if p := h.Prev; p != nil && p.RTP != nil && h.Done.RTP != nil && p.Receive != nil && h.Done.Receive != nil {
			c.rtpGap = float64(uint32(*h.Done.RTP)-uint32(*p.RTP)) / 90
			c.recvGap = *h.Done.Receive - *p.Receive
		}
		if trace != nil {
			fmt.Fprintf(trace, "click %2d warmup=%-5t %+v\n", i, i < warmup, c)
		}
		if i >= warmup {
			out = append(out, c)
		}
		// The screen is still once the new colour is shown: wait a little
		// before the next click.
		select {
		case <-ctx.Done():
			return nil, seq, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	return out, seq, nil
}
