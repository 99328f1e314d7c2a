package enroll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/apiclient"
	"github.com/airlock-rbi/airlock/internal/pki"
)

// Reporter sends an enrolled node's refusals (its policy's and its
// egress proxy's) to the api's audit log in batches, with the node's
// client certificate. Report never blocks the path that refused: events
// wait in a bounded queue, and when the api is unreachable long enough
// for the queue to fill, the newest are dropped and counted, and the
// count goes with the next report that gets through.
type Reporter struct {
	Server string
	TLSDir string
	Log    *slog.Logger
	// Every is how often queued events are sent; default 5s. A full batch
	// goes at once.
	Every time.Duration
	// Capacity bounds the queue; default 1000.
	Capacity int
	// Send posts one batch; default an HTTPS POST to
	// Server/api/v1/nodes/events with the certificate in TLSDir.
	Send func(ctx context.Context, b airlock.NodeEventBatch) error

	once sync.Once
	wake chan struct{}
	mu   sync.Mutex
	// queue and dropped are guarded by mu. dropped counts the events
	// not queued since the last report that got through.
	queue   []airlock.NodeEvent
	dropped int64
	// droppedTotal counts every event ever dropped, for Dropped.
	droppedTotal int64
}

func (r *Reporter) init() {
	r.once.Do(func() {
		r.wake = make(chan struct{}, 1)
		if r.Every <= 0 {
			r.Every = 5 * time.Second
		}
		if r.Capacity <= 0 {
			r.Capacity = 1000
		}
		if r.Log == nil {
			r.Log = slog.New(slog.DiscardHandler)
		}
		if r.Send == nil {
			r.Send = r.post
		}
	})
}

// Report queues e, or counts it dropped when the queue is full. Fields
// are cut to what the api accepts, so one long refusal cannot have its
// whole batch refused.
func (r *Reporter) Report(e airlock.NodeEvent) {
	r.init()
	e.Target, e.Session, e.Client = cut(e.Target, airlock.MaxAuditField), cut(e.Session, airlock.MaxAuditField), cut(e.Client, airlock.MaxAuditField)
	// The api prefixes the node's time to the detail.
	e.Detail = cut(e.Detail, airlock.MaxAuditDetail-64)
	r.mu.Lock()
	full := len(r.queue) >= r.Capacity
	if full {
		r.dropped++
		r.droppedTotal++
		if r.dropped == 1 {
			r.Log.Warn("audit report queue full: refusals are dropped and counted until the api takes reports again", "capacity", r.Capacity)
		}
	} else {
		r.queue = append(r.queue, e)
	}
	batch := len(r.queue) >= airlock.MaxNodeEvents
	r.mu.Unlock()
	if batch {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// Dropped is how many events were dropped since the start.
func (r *Reporter) Dropped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.droppedTotal
}

// Run sends batches until ctx ends, then tries once more, briefly, to
// send what is queued.
func (r *Reporter) Run(ctx context.Context) {
	r.init()
	t := time.NewTicker(r.Every)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = r.flush(fctx)
			cancel()
			return
		case <-t.C:
		case <-r.wake:
		}
		err := r.flush(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			r.Log.Warn("audit report failed; the refusals stay queued", "err", err)
			failing = true
		case err == nil && failing:
			r.Log.Info("audit reports go through again")
			failing = false
		}
	}
}

// flush sends the queue, a batch at a time; a batch stays queued until
// the api took it.
func (r *Reporter) flush(ctx context.Context) error {
	for {
		r.mu.Lock()
		n := min(len(r.queue), airlock.MaxNodeEvents)
		b := airlock.NodeEventBatch{Events: append([]airlock.NodeEvent(nil), r.queue[:n]...), Dropped: r.dropped}
		r.mu.Unlock()
		if n == 0 && b.Dropped == 0 {
			return nil
		}
		err := r.Send(ctx, b)
		refused := errors.Is(err, ErrBatchRefused)
		if err != nil && !refused {
			return err
		}
		r.mu.Lock()
		r.queue = r.queue[n:]
		if refused {
			// The api will never take this batch: drop it, counted,
			// rather than hold every later refusal behind it.
			r.Log.Error("audit report refused by the api; its events are dropped", "events", n, "err", err)
			r.dropped += int64(n)
			r.droppedTotal += int64(n)
		} else {
			r.dropped -= b.Dropped
		}
		more := len(r.queue) > 0
		r.mu.Unlock()
		if !more {
			return nil
		}
	}
}

// ErrBatchRefused is a Send's answer for a batch the api refused as
// invalid, which no retry will change.
var ErrBatchRefused = errors.New("the api refused the batch")

// post sends a batch with the node's certificate, to the infra server
// only (see acceptOnlyServer).
func (r *Reporter) post(ctx context.Context, b airlock.NodeEventBatch) error {
	cfg, err := pki.ClientTLSConfig(r.TLSDir)
	if err != nil {
		return err
	}
	if err := acceptOnlyServer(cfg, r.Server, cfg.RootCAs); err != nil {
		return err
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	api, err := newAPI(r.Server, tr, 1<<20)
	if err != nil {
		return err
	}
	if err := api.ReportNodeEvents(ctx, b); err != nil {
		if apiclient.StatusOf(err) == http.StatusBadRequest {
			return fmt.Errorf("%w: %w", ErrBatchRefused, answered(err))
		}
		return fmt.Errorf("report refusals: %w", answered(err))
	}
	return nil
}

// cut shortens s to at most n bytes, on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
