package infra

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/oidc"
	"github.com/airlock-rbi/airlock/internal/store"
)

// TestStoreSpent: a login state spent on the store is refused as
// replayed by a second process on the same store, and by this one after
// a restart, until it expires.
func TestStoreSpent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	one, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	two, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer two.Close()
	exp := time.Now().Add(10 * time.Minute)
	if err := (storeSpent{one}).Spend(ctx, "s1", exp); err != nil {
		t.Fatal(err)
	}
	if err := (storeSpent{two}).Spend(ctx, "s1", exp); !errors.Is(err, oidc.ErrStateReplayed) {
		t.Fatalf("the same state at another process: %v; want it refused as replayed", err)
	}
	if err := (storeSpent{two}).Spend(ctx, "s2", exp); err != nil {
		t.Fatalf("another state: %v", err)
	}
	one.Close()
	again, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := (storeSpent{again}).Spend(ctx, "s2", exp); !errors.Is(err, oidc.ErrStateReplayed) {
		t.Fatalf("after a restart: %v; want it refused as replayed", err)
	}
}
