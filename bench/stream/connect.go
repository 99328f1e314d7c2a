package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/viewer"
)

// connectSample is one connect of the viewer, as hook.js saw it: every
// field is milliseconds after the page's POST …/connect (0: not seen).
type connectSample struct {
	answered, wsOpen, agentReady, pcMade, answer, pcConnected, dcOpen, track float64
	// firstRecv, firstPresent and firstShown are the first video frame's
	// receiveTime, presentationTime and expectedDisplayTime
	// (requestVideoFrameCallback); firstPoll the first animation frame
	// that saw totalVideoFrames > 0.
	firstRecv, firstPresent, firstShown, firstPoll float64
}

// hookConnect is what hook.js records of a connect.
type hookConnect struct {
	Conn *struct {
		Post, Answered, WSOpen, AgentReady, PCMade, Answer, PCConnected, DCOpen, Track float64
	} `json:"conn"`
	First     *frameInfo `json:"first"`
	FirstPoll *float64   `json:"firstPoll"`
}

// frameInfo is a requestVideoFrameCallback's now and metadata.
type frameInfo struct {
	Now, Expected, Presentation float64
	Receive                     *float64
	RTP                         *int64 // the RTP timestamp, 90 kHz
	Width, Height               int
}

// measureConnect reloads the viewer n times and times each new
// connection from its POST …/connect to its first frame on screen.
func measureConnect(ctx context.Context, v *viewer.Viewer, n int, trace io.Writer) ([]connectSample, error) {
	var out []connectSample
	for i := range n {
		if err := v.Reload(ctx); err != nil {
			return nil, err
		}
		if err := v.WaitFrames(ctx); err != nil {
			return nil, fmt.Errorf("connect %d: %w", i, err)
		}
		// The frame callback runs in the same rendering step as the
		// polling animation frame, or the next one.
		if err := v.Poll(ctx, "the first frame's callback", `__bench.first !== null`, 10*time.Millisecond, 2*time.Second); err != nil {
			return nil, fmt.Errorf("connect %d: %w", i, err)
		}
		var h hookConnect
		if err := v.EvalJSON(ctx, `{conn: __bench.conn, first: __bench.first, firstPoll: __bench.firstPoll}`, &h); err != nil {
			return nil, fmt.Errorf("connect %d: read the hook: %w", i, err)
		}
		if h.Conn == nil || h.First == nil || h.FirstPoll == nil {
			return nil, fmt.Errorf("connect %d: the hook saw no connect or no frame: %+v", i, h)
		}
		c := h.Conn
		rel := func(t float64) float64 {
			if t == 0 {
				return 0
			}
			return t - c.Post
		}
		s := connectSample{answered: rel(c.Answered), wsOpen: rel(c.WSOpen), agentReady: rel(c.AgentReady), pcMade: rel(c.PCMade),
			answer: rel(c.Answer), pcConnected: rel(c.PCConnected), dcOpen: rel(c.DCOpen), track: rel(c.Track),
			firstPresent: rel(h.First.Presentation), firstShown: rel(h.First.Expected), firstPoll: rel(*h.FirstPoll)}
		if h.First.Receive != nil {
			s.firstRecv = rel(*h.First.Receive)
		}
		if trace != nil {
			fmt.Fprintf(trace, "connect %2d: %+v\n", i, s)
		}
		out = append(out, s)
		// Let the previous connection's teardown and the new one's start
		// settle before the next reload.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return out, nil
}
