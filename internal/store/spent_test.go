package store

import (
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// testSpendOnce: a value is spent once; again before its time is over is
// a conflict; once over, its record goes (and the value is no longer
// refused: a state that old is refused by its own expiry).
func testSpendOnce(t *testing.T, db *DB) {
	ctx := t.Context()
	must(t, db.SpendOnce(ctx, "a", t0.Add(time.Minute), t0))
	wantCode(t, db.SpendOnce(ctx, "a", t0.Add(time.Minute), t0.Add(time.Second)), airlock.ECONFLICT)
	must(t, db.SpendOnce(ctx, "b", t0.Add(time.Minute), t0.Add(time.Second)))
	must(t, db.SpendOnce(ctx, "a", t0.Add(3*time.Minute), t0.Add(2*time.Minute)))
	var n int
	must(t, db.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM spent_states").Scan(&n))
	if n != 1 {
		t.Fatalf("%d records after the first two were over; want the new one alone", n)
	}
	// Racing spends of one value: one wins.
	oneWins(t, race(func() error { return db.SpendOnce(ctx, "c", t0.Add(time.Hour), t0.Add(2*time.Minute)) }), airlock.ECONFLICT)
}
