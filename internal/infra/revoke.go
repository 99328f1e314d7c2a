package infra

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// revocations keeps the revoked serials in memory for the TLS handshake,
// refreshed from the store, so a handshake never waits on the database.
type revocations struct {
	store airlock.Store
	log   *slog.Logger

	mu      sync.RWMutex
	serials map[string]bool
}

func newRevocations(st airlock.Store, log *slog.Logger) *revocations {
	r := &revocations{store: st, log: log, serials: map[string]bool{}}
	r.refresh(context.Background())
	return r
}

func (r *revocations) has(serial string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.serials[serial]
}

// add takes effect at once in this process (a node removed here).
func (r *revocations) add(serial string) {
	r.mu.Lock()
	r.serials[serial] = true
	r.mu.Unlock()
}

func (r *revocations) refresh(ctx context.Context) {
	list, err := r.store.ListRevokedCerts(ctx, airlock.Now())
	if err != nil {
		r.log.Error("refresh revoked certificates", "err", err)
		return
	}
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	r.mu.Lock()
	r.serials = m
	r.mu.Unlock()
}

func (r *revocations) run(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.refresh(ctx)
		}
	}
}
