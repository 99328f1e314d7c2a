package store

import (
	"context"
	"fmt"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// SpendOnce records id as used until expires, and removes the records
// whose time is over at now. ECONFLICT when id was recorded already and
// its record is not over.
func (db *DB) SpendOnce(ctx context.Context, id string, expires, now time.Time) error {
	if _, err := db.exec(ctx, `DELETE FROM spent_states WHERE expires_at < ?`, micros(now)); err != nil {
		return fmt.Errorf("spend %s: drop the expired: %w", id, err)
	}
	res, err := db.exec(ctx, `INSERT INTO spent_states (id, expires_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, id, micros(expires))
	if err != nil {
		return fmt.Errorf("spend %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("spend %s: %w", id, err)
	}
	if n == 0 {
		return airlock.Errorf(airlock.ECONFLICT, "%s was used already", id)
	}
	return nil
}
