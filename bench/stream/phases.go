package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/docker/docker/client"

	"github.com/airlock-rbi/airlock/bench/internal/airlockup"
	"github.com/airlock-rbi/airlock/bench/internal/viewer"
	"github.com/airlock-rbi/airlock/internal/dockertest"
)

// bench holds what every phase uses.
type bench struct {
	o      options
	api    *airlockup.Client
	socket *client.Client
	site   *site
	routed *dockertest.RoutedSite // where site listens
	viewer *viewer.Viewer
	runID  string
	trace  io.Writer
	// binary is the SHA-256 of the airlock binary built for this run;
	// foreign counts sessions whose image was built from another (a
	// concurrent build retagged airlock/chromium:latest).
	binary  string
	foreign int
	lost    int
}

// maxLost is how many times a run starts a phase again after another
// deployment removed its session's container.
const maxLost = 4

// withSession launches a session of workspace, whose start page is page,
// opens it in the viewer, waits for the page to load and for a
// video of the viewer's size, runs f, and ends the session. A phase whose
// session was removed under it is run again with a new one.
func (b *bench) withSession(ctx context.Context, s *site, workspace, page string, f func(sess *liveSession) error) error {
	for {
		err := b.oneSession(ctx, s, workspace, page, f)
		if errors.Is(err, errLost) && b.lost < maxLost {
			b.lost++
			fmt.Fprintf(os.Stderr, "bench/stream: %v; starting the phase again\n", err)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", workspace, err)
		}
		return nil
	}
}

func (b *bench) oneSession(ctx context.Context, s *site, workspace, page string, f func(sess *liveSession) error) (err error) {
	since := time.Now()
	sess, err := startSession(ctx, b.api, b.socket, workspace)
	if err != nil {
		return err
	}
	defer func() {
		// Leave the viewer first, so that it does not try to reconnect
		// to the session being ended.
		if ctx.Err() == nil {
			err = errors.Join(err, b.viewer.Leave(ctx))
		}
		if derr := b.api.DeleteSession(sess.id); derr != nil {
			err = errors.Join(err, fmt.Errorf("end session %s: %w", sess.id, derr))
		}
	}()
	if sess.binary != b.binary {
		b.foreign++
	}
	err = b.prepare(ctx, s, sess, page, since)
	if err == nil {
		err = f(sess)
	}
	if err == nil {
		err = sess.alive(ctx)
	}
	return sess.lost(err)
}

func (b *bench) prepare(ctx context.Context, s *site, sess *liveSession, page string, since time.Time) error {
	if err := b.viewer.Open(ctx, sess.id); err != nil {
		return err
	}
	if err := s.waitLoaded(ctx, page, since); err != nil {
		return err
	}
	if err := b.viewer.WaitFrames(ctx); err != nil {
		return err
	}
	return b.viewer.EnsureSize(ctx)
}

// staticResult is the click session's: connects, clicks, a still screen.
type staticResult struct {
	connects []connectSample
	clicks   []clickSample
	still    streamWindow
	mem      memUse
}

// runStatic measures on the click page: connect to first frame (reloads),
// click to photon, then CPU and memory with the screen still.
func (b *bench) runStatic(ctx context.Context) (r staticResult, err error) {
	err = b.withSession(ctx, b.site, "bench-click", "click", func(sess *liveSession) error {
		r = staticResult{}
		// A phase run again has a new page, counting from 1 again.
		b.site.forget()
		if err := sleep(ctx, 2*time.Second); err != nil {
			return err
		}
		if r.connects, err = measureConnect(ctx, b.viewer, b.o.connects, b.trace); err != nil {
			return fmt.Errorf("connect to first frame: %w", err)
		}
		if err := b.viewer.EnsureSize(ctx); err != nil {
			return err
		}
		if r.clicks, _, err = measureClicks(ctx, b.viewer, b.site, b.o.clickWarmup, b.o.clicks, 0, b.trace); err != nil {
			return fmt.Errorf("click to photon: %w", err)
		}
		if err := sleep(ctx, 3*time.Second); err != nil {
			return err
		}
		if r.still, err = measureWindow(ctx, b.viewer, b.site, sess, b.o.window); err != nil {
			return fmt.Errorf("still screen: %w", err)
		}
		if r.mem, err = measureMemory(sess.pid); err != nil {
			return fmt.Errorf("memory: %w", err)
		}
		return nil
	})
	return r, err
}

// animResult is the animation session's: frame rate, CPU and memory
// under full-screen animation, and the ffmpeg baseline.
type animResult struct {
	anim streamWindow
	mem  memUse
	base baseline
}

func (b *bench) runAnim(ctx context.Context) (r animResult, err error) {
	err = b.withSession(ctx, b.site, "bench-anim", "anim", func(sess *liveSession) error {
		r = animResult{}
		if err := sleep(ctx, 3*time.Second); err != nil {
			return err
		}
		if r.anim, err = measureWindow(ctx, b.viewer, b.site, sess, b.o.window); err != nil {
			return fmt.Errorf("animation: %w", err)
		}
		if r.mem, err = measureMemory(sess.pid); err != nil {
			return fmt.Errorf("memory: %w", err)
		}
		if r.base, err = measureBaseline(ctx, b.socket, b.viewer, b.site, sess, b.runID, b.o.window); err != nil {
			return fmt.Errorf("ffmpeg baseline: %w", err)
		}
		return nil
	})
	return r, err
}

// runAudio measures, on the tone page, from the page starting a tone to
// the viewer hearing it.
func (b *bench) runAudio(ctx context.Context) (r []toneSample, err error) {
	err = b.withSession(ctx, b.site, "bench-tone", "tone", func(sess *liveSession) error {
		b.site.forget()
		if err := sleep(ctx, 2*time.Second); err != nil {
			return err
		}
		if r, err = measureTones(ctx, b.viewer, b.site, b.o.tones, b.trace); err != nil {
			return fmt.Errorf("tone to ear: %w", err)
		}
		return nil
	})
	return r, err
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// fullHDResult is the full HD phase's: click to photon on the click page,
// then frame rate and CPU under full-screen animation, at viewer.FullHD.
type fullHDResult struct {
	clicks []clickSample
	anim   streamWindow
}

// runFullHD makes the viewer's page 1920×1080, so that the sessions it
// opens get a display of that size, measures a click session and an
// animation session as phases 2 and 4 do, and makes the page 1280×720
// again.
func (b *bench) runFullHD(ctx context.Context) (r fullHDResult, err error) {
	if err := b.viewer.Resize(ctx, viewer.FullHD); err != nil {
		return r, fmt.Errorf("full HD: %w", err)
	}
	defer func() {
		if rerr := b.viewer.Resize(ctx, viewer.HD); rerr != nil {
			err = errors.Join(err, fmt.Errorf("after full HD: %w", rerr))
		}
	}()
	err = b.withSession(ctx, b.site, "bench-click", "click", func(sess *liveSession) error {
		b.site.forget()
		if err := sleep(ctx, 2*time.Second); err != nil {
			return err
		}
		var err error
		if r.clicks, _, err = measureClicks(ctx, b.viewer, b.site, b.o.clickWarmup, b.o.clicks, 0, b.trace); err != nil {
			return fmt.Errorf("full HD click to photon: %w", err)
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	err = b.withSession(ctx, b.site, "bench-anim", "anim", func(sess *liveSession) error {
		if err := sleep(ctx, 3*time.Second); err != nil {
			return err
		}
		var err error
		if r.anim, err = measureWindow(ctx, b.viewer, b.site, sess, b.o.window); err != nil {
			return fmt.Errorf("full HD animation: %w", err)
		}
		return nil
	})
	return r, err
}
