package audio

import (
	"context"
	"log/slog"
	"time"
)

// Pauses between restarts of a failing helper or daemon: short for a
// one-off crash, growing so that a broken image does not spin.
const (
	minPause = 500 * time.Millisecond
	maxPause = 30 * time.Second
	// settled is how long a helper must have run for its next failure to
	// count as a new one rather than more of the same.
	settled = time.Minute
)

// Run keeps the sound going until ctx ends: it runs the helper on srv and
// hands every packet to send, starting the helper again when it exits and
// the daemon again when it exits. Sound is not worth a session: failures
// are logged and retried with a growing pause, never returned.
func Run(ctx context.Context, srv *Server, cfg CaptureConfig, log *slog.Logger, send func(Packet)) {
	pause := minPause
	for ctx.Err() == nil {
		select {
		case <-srv.Done():
			log.Warn("sound server exited; starting it again", "err", srv.Err())
			next, err := StartServer(ctx, srv.cfg)
			if err != nil {
				log.Warn("sound server", "err", err, "retry in", pause)
				pause = wait(ctx, pause)
				continue
			}
			srv = next
		default:
		}
		cfg.Server = srv.Address()
		began := time.Now()
		c, err := StartCapture(ctx, cfg)
		if err != nil {
			log.Warn("audio helper", "err", err, "retry in", pause)
			pause = wait(ctx, pause)
			continue
		}
		for {
			p, err := c.Read()
			if err != nil {
				if ctx.Err() == nil {
					if time.Since(began) > settled {
						pause = minPause
					}
					log.Warn("audio helper failed; starting it again", "err", err, "in", pause)
				}
				break
			}
			send(p)
		}
		_ = c.Close() // Read has reported how it ended
		pause = wait(ctx, pause)
	}
}

// wait sleeps for pause (or until ctx ends) and returns the next pause.
func wait(ctx context.Context, pause time.Duration) time.Duration {
	select {
	case <-ctx.Done():
	case <-time.After(pause):
	}
	return min(2*pause, maxPause)
}
