package enroll

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// fakeAPI takes batches, or fails while down.
type fakeAPI struct {
	mu      sync.Mutex
	down    bool
	refuse  bool
	batches []airlock.NodeEventBatch
}

func (f *fakeAPI) send(_ context.Context, b airlock.NodeEventBatch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.down:
		return errors.New("connection refused")
	case f.refuse:
		f.refuse = false
		return fmt.Errorf("%w: 400", ErrBatchRefused)
	}
	f.batches = append(f.batches, b)
	return nil
}

func (f *fakeAPI) got() (events int, dropped int64, batches int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.batches {
		events += len(b.Events)
		dropped += b.Dropped
		if len(b.Events) > airlock.MaxNodeEvents {
			panic("batch over the bound")
		}
	}
	return events, dropped, len(f.batches)
}

func ev(i int) airlock.NodeEvent {
	return airlock.NodeEvent{Time: time.Now(), Action: airlock.NodeEgressRefused, Target: fmt.Sprint(i)}
}

func TestReporterBatchesAndBounds(t *testing.T) {
	api := &fakeAPI{down: true}
	r := &Reporter{Capacity: 150, Send: api.send}
	for i := range 200 {
		r.Report(ev(i)) // never blocks, api down or not
	}
	if got := r.Dropped(); got != 50 {
		t.Fatalf("dropped %d, want the 50 past the capacity", got)
	}
	if err := r.flush(t.Context()); err == nil {
		t.Fatal("flush to a down api reported success")
	}
	api.mu.Lock()
	api.down = false
	api.mu.Unlock()
	if err := r.flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	events, dropped, batches := api.got()
	if events != 150 || dropped != 50 || batches != 2 {
		t.Fatalf("api got %d events in %d batches, %d dropped; want 150 in 2, 50", events, batches, dropped)
	}
	// The count went through: it is not sent again.
	r.Report(ev(1))
	if err := r.flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, dropped, _ := api.got(); dropped != 50 {
		t.Fatalf("dropped sent again: %d", dropped)
	}
}

func TestReporterRefusedBatchIsCounted(t *testing.T) {
	api := &fakeAPI{refuse: true}
	r := &Reporter{Send: api.send}
	for i := range 3 {
		r.Report(ev(i))
	}
	if err := r.flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.Report(ev(9))
	if err := r.flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	events, dropped, _ := api.got()
	if events != 1 || dropped != 3 {
		t.Fatalf("got %d events, %d dropped; want the later one and the refused 3 counted", events, dropped)
	}
}

func TestReporterCutsFields(t *testing.T) {
	api := &fakeAPI{}
	r := &Reporter{Send: api.send}
	r.Report(airlock.NodeEvent{Time: time.Now(), Action: airlock.NodeProvisionRefused, Target: strings.Repeat("é", 1000),
		Detail: strings.Repeat("x", 3*airlock.MaxAuditDetail)})
	if err := r.flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := api.batches[0].Events[0]
	e.Detail = "at 2025-06-01T12:00:00.000000Z: " + e.Detail // as the api records it
	ae := &airlock.AuditEvent{Action: e.Action, Target: e.Target, Detail: e.Detail}
	if err := ae.Normalize(time.Now()); err != nil || ae.Target != e.Target {
		t.Fatalf("a cut event does not fit the api's bounds: %v", err)
	}
}

// TestReporterRunSendsAndStops: Run sends on its period, a full batch at
// once, and what is queued when it stops.
func TestReporterRunSendsAndStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{}
		r := &Reporter{Every: time.Hour, Send: api.send}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		for i := range airlock.MaxNodeEvents {
			r.Report(ev(i))
		}
		synctest.Wait()
		if n, _, _ := api.got(); n != airlock.MaxNodeEvents {
			t.Fatalf("a full batch: %d sent before the period", n)
		}
		r.Report(ev(0))
		synctest.Wait()
		if n, _, _ := api.got(); n != airlock.MaxNodeEvents {
			t.Fatalf("one event went before the period: %d sent", n)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if n, _, _ := api.got(); n != airlock.MaxNodeEvents+1 {
			t.Fatalf("after the period %d sent, want %d", n, airlock.MaxNodeEvents+1)
		}
		r.Report(ev(1))
		cancel()
		<-done
		if n, _, _ := api.got(); n != airlock.MaxNodeEvents+2 {
			t.Fatalf("%d events sent by the end, want %d", n, airlock.MaxNodeEvents+2)
		}
	})
}
