package infra

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// revocations keeps the revoked serials in memory for the TLS handshake,
// refreshed from the store, so a handshake never waits on the database.
type revocations struct {
	list func(ctx context.Context) ([]string, error)
	log  *slog.Logger

	mu      sync.RWMutex
	serials map[string]bool
}

// newRevocations loads the list once. Failing that, it fails: a server
// that does not know which certificates are revoked would accept them
// all, so unknown means no start.
func newRevocations(ctx context.Context, st airlock.Store, log *slog.Logger) (*revocations, error) {
	return newRevocationsFrom(ctx, func(ctx context.Context) ([]string, error) { return st.ListRevokedCerts(ctx, airlock.Now()) }, log)
}

// newRevocationsFrom is newRevocations with the list read by list: the
// store's, or the api's for a gateway in another process.
func newRevocationsFrom(ctx context.Context, list func(ctx context.Context) ([]string, error), log *slog.Logger) (*revocations, error) {
	r := &revocations{list: list, log: log, serials: map[string]bool{}}
	if err := r.load(ctx); err != nil {
		return nil, fmt.Errorf("load the certificate revocation list (the server does not start without it): %w", err)
	}
	return r, nil
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

// refresh reloads the list; on failure the last good list stays.
func (r *revocations) refresh(ctx context.Context) {
	if err := r.load(ctx); err != nil {
		r.log.Error("refresh revoked certificates; keeping the last list", "err", err)
	}
}

func (r *revocations) load(ctx context.Context) error {
	list, err := r.list(ctx)
	if err != nil {
		return err
	}
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	r.mu.Lock()
	r.serials = m
	r.mu.Unlock()
	return nil
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
