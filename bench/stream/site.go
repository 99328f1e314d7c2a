package main

import (
	"context"
	"embed"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

//go:embed assets
var assets embed.FS

// site serves the pages the remote Chromium opens, on the routed site's
// address (see dockertest.RoutedSite), and records what they report: mousedowns,
// their animation frame counts, and loads.
type site struct {
	base string // http://ADDRESS/
	srv  *http.Server

	mu     sync.Mutex
	events map[int]clickEvent // by the click page's sequence number
	tones  map[int]toneEvent  // by the tone page's sequence number
	rafs   []rafReport
	loaded map[string]time.Time
	wake   chan struct{} // closed and replaced on every report
}

// clickEvent is what the click page reported of one mousedown, in epoch
// milliseconds of the container (the host's clock).
type clickEvent struct {
	down, raf1, raf2 float64
}

// toneEvent is what the tone page reported of one mousedown: whether it
// started the tone or stopped it, and when (epoch milliseconds).
type toneEvent struct {
	on bool
	at float64
}

// rafReport is one of the animation page's per-second reports.
type rafReport struct {
	at     time.Time // when it arrived here
	frames int       // frames drawn so far
	pageMS float64   // the page's performance.now()
}

// serveSite serves the pages on l, which it closes with the site.
func serveSite(l net.Listener) (*site, error) {
	s := &site{events: map[int]clickEvent{}, tones: map[int]toneEvent{}, loaded: map[string]time.Time{}, wake: make(chan struct{})}
	mux := http.NewServeMux()
	for _, page := range []string{"click", "anim", "tone", "idle"} {
		raw, err := assets.ReadFile("assets/" + page + ".html")
		if err != nil {
			l.Close()
			return nil, err
		}
		mux.HandleFunc("GET /"+page, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write(raw)
		})
	}
	mux.HandleFunc("GET /ev", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		seq, _ := strconv.Atoi(q.Get("seq"))
		var e clickEvent
		e.down, _ = strconv.ParseFloat(q.Get("down"), 64)
		e.raf1, _ = strconv.ParseFloat(q.Get("raf1"), 64)
		e.raf2, _ = strconv.ParseFloat(q.Get("raf2"), 64)
		s.report(func() { s.events[seq] = e })
	})
	mux.HandleFunc("GET /tone-ev", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		seq, _ := strconv.Atoi(q.Get("seq"))
		at, _ := strconv.ParseFloat(q.Get("t"), 64)
		s.report(func() { s.tones[seq] = toneEvent{on: q.Get("on") == "1", at: at} })
	})
	mux.HandleFunc("GET /raf", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		t, _ := strconv.ParseFloat(r.URL.Query().Get("t"), 64)
		s.report(func() { s.rafs = append(s.rafs, rafReport{at: time.Now(), frames: n, pageMS: t}) })
	})
	mux.HandleFunc("GET /loaded", func(w http.ResponseWriter, r *http.Request) {
		page := r.URL.Query().Get("page")
		s.report(func() { s.loaded[page] = time.Now() })
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	s.base = "http://" + l.Addr().String() + "/"
	if ap, err := netip.ParseAddrPort(l.Addr().String()); err == nil && ap.Port() == 80 {
		s.base = "http://" + ap.Addr().String() + "/"
	}
	return s, nil
}

// forget drops the click and tone reports: those pages count mousedowns
// from 1 in every session, so a site serving one session after another
// starts each afresh.
func (s *site) forget() {
	s.report(func() { clear(s.events); clear(s.tones) })
}

func (s *site) close() error { return s.srv.Close() }

// report changes the state under the lock and wakes the waiters.
func (s *site) report(f func()) {
	s.mu.Lock()
	f()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

// wait calls cond under the lock until it is true, ctx ends or timeout
// passes.
func (s *site) wait(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, wake := cond(), s.wake
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%s: nothing within %v", what, timeout)
		}
	}
}

// waitLoaded waits until page has reported its load after since.
func (s *site) waitLoaded(ctx context.Context, page string, since time.Time) error {
	return s.wait(ctx, 2*time.Minute, "the remote "+page+" page to load", func() bool {
		return s.loaded[page].After(since)
	})
}

// event waits for the click page's report of its seq-th mousedown.
func (s *site) event(ctx context.Context, seq int) (clickEvent, error) {
	var e clickEvent
	err := s.wait(ctx, 5*time.Second, fmt.Sprintf("the remote page's report of mousedown %d", seq), func() bool {
		var ok bool
		e, ok = s.events[seq]
		return ok
	})
	return e, err
}

// tone waits for the tone page's report of its seq-th mousedown.
func (s *site) tone(ctx context.Context, seq int) (toneEvent, error) {
	var e toneEvent
	err := s.wait(ctx, 5*time.Second, fmt.Sprintf("the remote page's report of tone click %d", seq), func() bool {
		var ok bool
		e, ok = s.tones[seq]
		return ok
	})
	return e, err
}

// rafRate is the animation page's own frame rate over the reports that
// arrived between from and to, by its clock, and how many it used.
func (s *site) rafRate(from, to time.Time) (fps float64, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var in []rafReport
	for _, r := range s.rafs {
		if !r.at.Before(from) && !r.at.After(to) {
			in = append(in, r)
		}
	}
	if len(in) < 2 {
		return 0, len(in)
	}
	a, b := in[0], in[len(in)-1]
	if b.pageMS <= a.pageMS {
		return 0, len(in)
	}
	return float64(b.frames-a.frames) / ((b.pageMS - a.pageMS) / 1000), len(in)
}
