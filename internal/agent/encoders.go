package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/airlock-rbi/airlock/internal/encoder"
	"github.com/airlock-rbi/airlock/internal/stream"
)

// Restarts of the encoder helper allowed within restartWindow before a
// failing helper ends the session instead: a helper that dies on every
// frame is a broken image, not bad luck.
const (
	maxRestarts   = 3
	restartWindow = time.Minute
)

// encoders keeps an encoder helper running for the stream. A helper that
// dies (a crash, the OOM killer) costs the viewer one frame, not the
// session: it is started again and the stream goes on from a keyframe.
type encoders struct {
	start    func() (*encoder.Encoder, error)
	log      *slog.Logger
	now      func() time.Time
	enc      *encoder.Encoder
	began    time.Time // the PTS clock
	restarts []time.Time
}

func newEncoders(start func() (*encoder.Encoder, error), log *slog.Logger) (*encoders, error) {
	enc, err := start()
	if err != nil {
		return nil, err
	}
	return &encoders{start: start, log: log, now: time.Now, enc: enc, began: time.Now()}, nil
}

// encode hands a frame to the helper: by the id of the shared memory it
// was grabbed into, which the helper reads in place (the same container,
// the same IPC namespace), so a 720p frame is not copied through a pipe
// twice.
func (e *encoders) encode(f stream.Frame, key bool, kbps int) ([]byte, bool, error) {
	p, err := e.enc.Encode(encoder.Frame{Pix: f.Pix, Width: f.Width, Height: f.Height, Stride: f.Stride,
		Shared: f.Shared, ShmID: f.ShmID, Repeat: f.Repeat, Keyframe: key, BitrateKbps: kbps, PTS: e.now().Sub(e.began)})
	if err == nil || errors.Is(err, encoder.ErrInvalidFrame) {
		return p.Data, p.Keyframe, err
	}
	// The helper is gone; Close reports how it ended, which err has.
	_ = e.enc.Close()
	now := e.now()
	recent := e.restarts[:0]
	for _, t := range e.restarts {
		if now.Sub(t) < restartWindow {
			recent = append(recent, t)
		}
	}
	e.restarts = recent
	if len(recent) >= maxRestarts {
		return nil, false, fmt.Errorf("encoder failed %d times within %v, the last: %w", len(recent)+1, restartWindow, err)
	}
	e.log.Warn("encoder failed; starting it again", "err", err)
	enc, serr := e.start()
	if serr != nil {
		return nil, false, errors.Join(err, fmt.Errorf("restart encoder: %w", serr))
	}
	e.enc = enc
	e.restarts = append(e.restarts, now)
	return nil, false, fmt.Errorf("%w: %w", stream.ErrEncoderRestarted, err)
}

func (e *encoders) close() error { return e.enc.Close() }
