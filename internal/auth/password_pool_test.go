package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPasswordHasherBound runs many more callers than slots and checks that
// no more than the slots were ever inside at once, and that every caller
// got its turn (the wait is far longer than the queue takes).
func TestPasswordHasherBound(t *testing.T) {
	for _, tc := range []struct {
		name           string
		slots, callers int
	}{
		{"one slot", 1, 20},
		{"two slots", 2, 50},
		{"more slots than callers", 8, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewPasswordHasher(tc.slots, time.Minute)
			var in, peak, ran atomic.Int32
			var wg sync.WaitGroup
			for range tc.callers {
				wg.Go(func() {
					err := h.do(context.Background(), Priority(len(tc.name)%2), func() {
						n := in.Add(1)
						for {
							p := peak.Load()
							if n <= p || peak.CompareAndSwap(p, n) {
								break
							}
						}
						time.Sleep(time.Millisecond) // let the others pile up
						in.Add(-1)
						ran.Add(1)
					})
					if err != nil {
						t.Errorf("do: %v", err)
					}
				})
			}
			wg.Wait()
			if p := peak.Load(); p > int32(tc.slots) {
				t.Errorf("%d hashes in flight at once; the bound is %d", p, tc.slots)
			}
			if r := ran.Load(); r != int32(tc.callers) {
				t.Errorf("%d of %d callers ran", r, tc.callers)
			}
		})
	}
}

// TestPasswordHasherBusy fills the only slot and checks what a second
// caller gets: ErrHashBusy after the wait, or its context's error, and in
// neither case is its hash run.
func TestPasswordHasherBusy(t *testing.T) {
	h := NewPasswordHasher(1, 20*time.Millisecond)
	release := make(chan struct{})
	held := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- h.do(context.Background(), Urgent, func() { close(held); <-release }) }()
	<-held

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"slot stays taken", context.Background(), ErrHashBusy},
		{"caller gone", cancelled, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ran := false
			err := h.do(tc.ctx, Urgent, func() { ran = true })
			if !errors.Is(err, tc.want) || ran {
				t.Fatalf("do = %v (ran %v); want %v without running", err, ran, tc.want)
			}
		})
	}
	_, err := h.Verify(context.Background(), Normal, "password", "$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	if !errors.Is(err, ErrHashBusy) {
		t.Fatalf("Verify with the slot taken = %v; want ErrHashBusy", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The slot is free again: the real work runs.
	enc, err := h.Hash(context.Background(), Urgent, "correct horse", testParams)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := h.Verify(context.Background(), Normal, "correct horse", enc); !ok || err != nil {
		t.Fatalf("Verify = %v, %v; want true", ok, err)
	}
}

func TestNewPasswordHasherDefaults(t *testing.T) {
	h := NewPasswordHasher(0, 0)
	if h.Slots() < 1 || h.Wait() != DefaultHashWait {
		t.Fatalf("defaults: %d slots, wait %s", h.Slots(), h.Wait())
	}
}

// TestPasswordHasherPriority: when a slot frees up, an urgent waiter gets
// it before normal ones that came earlier; among equals, the first come.
func TestPasswordHasherPriority(t *testing.T) {
	h := NewPasswordHasher(1, time.Minute)
	release, err := h.Acquire(context.Background(), Normal)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	queued := func(n int) {
		// Wait until n callers are queued, so the order of arrival is known.
		for {
			h.mu.Lock()
			got := h.queues[Urgent].Len() + h.queues[Normal].Len()
			h.mu.Unlock()
			if got >= n {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	for i, c := range []struct {
		name string
		pri  Priority
	}{{"normal-1", Normal}, {"normal-2", Normal}, {"urgent-1", Urgent}, {"urgent-2", Urgent}} {
		wg.Go(func() {
			if err := h.do(context.Background(), c.pri, func() {
				mu.Lock()
				order = append(order, c.name)
				mu.Unlock()
			}); err != nil {
				t.Error(err)
			}
		})
		queued(i + 1)
	}
	release()
	wg.Wait()
	want := "urgent-1 urgent-2 normal-1 normal-2"
	if got := strings.Join(order, " "); got != want {
		t.Fatalf("served %s; want %s", got, want)
	}
	// Every slot came back.
	if h.free != 1 {
		t.Fatalf("%d free slots after all ended; want 1", h.free)
	}
}
