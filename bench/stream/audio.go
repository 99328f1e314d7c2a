package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/airlock-rbi/airlock/bench/internal/viewer"
)

// listenJS installs __audio in the viewer: a WebAudio analyser on the
// session's sound track (#sound) that, once armed, stamps the first moment
// (epoch milliseconds) the tone page's 1500 Hz is clearly in the received
// sound, checking every millisecond (timers clamp that to a few). A 512
// sample window (about 11 ms) keeps the detection's own delay short.
const listenJS = `(() => {
  const el = document.getElementById('sound');
  if (!el || !el.srcObject) return 'no sound track in the viewer';
  const ctx = new AudioContext({ latencyHint: 'interactive' });
  const an = ctx.createAnalyser();
  an.fftSize = 512;
  an.smoothingTimeConstant = 0;
  ctx.createMediaStreamSource(el.srcObject).connect(an);
  const buf = new Float32Array(an.frequencyBinCount);
  const bin = (f) => Math.round(f / (ctx.sampleRate / an.fftSize));
  const hears = () => {
    an.getFloatFrequencyData(buf);
    const at = buf[bin(1500)], off = buf[bin(4950)];
    return at > -70 && at - off > 25;
  };
  const st = { heard: null, armed: false, hears };
  st.arm = () => { st.heard = null; st.armed = true; return true; };
  setInterval(() => {
    if (st.armed && st.heard === null && hears()) {
      st.heard = performance.timeOrigin + performance.now();
      st.armed = false;
    }
  }, 1);
  window.__audio = st;
  return '';
})()`

// toneSample is one tone: from the remote page starting it to the viewer
// detecting it, in milliseconds.
type toneSample struct {
	ms   float64
	cold bool // the page's first: its audio context and sound stream opened for it
}

// measureTones clicks the middle of the tone page 1+n times to start a
// tone, each time timing it until the viewer hears it, and once more to
// stop it, waiting until the viewer no longer does. The first tone, cold,
// opens the page's audio context (and with it Chromium's sound stream, and
// wakes the suspended sink); the n others start on a context that plays on
// in silence, which the agent does not send.
func measureTones(ctx context.Context, v *viewer.Viewer, s *site, n int, trace io.Writer) ([]toneSample, error) {
	var msg string
	if err := v.Eval(ctx, listenJS, &msg); err != nil {
		return nil, err
	}
	if msg != "" {
		return nil, fmt.Errorf("listen: %s (viewer: %s)", msg, v.State(ctx))
	}
	var box struct{ X, Y, W, H float64 }
	if err := v.EvalJSON(ctx, `(() => { const r = document.querySelector('#screen').getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height} })()`, &box); err != nil {
		return nil, err
	}
	click := func(seq int) (toneEvent, error) {
		if err := v.Run(ctx, 10*time.Second, chromedp.MouseClickXY(box.X+box.W/2, box.Y+box.H/2)); err != nil {
			return toneEvent{}, err
		}
		return s.tone(ctx, seq)
	}
	var out []toneSample
	seq := 0
	for i := range 1 + n {
		var ok bool
		if err := v.Eval(ctx, `__audio.arm()`, &ok); err != nil {
			return nil, err
		}
		seq++
		on, err := click(seq)
		if err != nil {
			return nil, fmt.Errorf("tone %d: %w", i, err)
		}
		if !on.on {
			return nil, fmt.Errorf("tone %d: the page stopped a tone instead of starting one", i)
		}
		if err := v.Poll(ctx, fmt.Sprintf("tone %d in the viewer's sound", i), `__audio.heard !== null`, 5*time.Millisecond, 5*time.Second); err != nil {
			return nil, err
		}
		var heard float64
		if err := v.Eval(ctx, `__audio.heard`, &heard); err != nil {
			return nil, err
		}
		t := toneSample{ms: heard - on.at, cold: i == 0}
		if trace != nil {
			fmt.Fprintf(trace, "tone %2d cold=%-5t %.1f ms\n", i, t.cold, t.ms)
		}
		out = append(out, t)
		seq++
		if _, err := click(seq); err != nil {
			return nil, fmt.Errorf("tone %d, stop: %w", i, err)
		}
		if err := v.Poll(ctx, fmt.Sprintf("tone %d gone from the viewer's sound", i), `!__audio.hears()`, 20*time.Millisecond, 5*time.Second); err != nil {
			return nil, err
		}
		if err := sleep(ctx, 300*time.Millisecond); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// warm is the tones after the first.
func warm(ts []toneSample) []toneSample {
	var w []toneSample
	for _, t := range ts {
		if !t.cold {
			w = append(w, t)
		}
	}
	return w
}
