package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

const joinTokenCols = `id, secret_hash, created_by, created_at, expires_at, uses, uses_left, max_capacity, isolation`

func scanJoinToken(s scanner) (*airlock.JoinToken, error) {
	var t airlock.JoinToken
	var isolation string
	var created, expires int64
	if err := s.Scan(&t.ID, &t.SecretHash, &t.CreatedBy, &created, &expires, &t.Uses, &t.UsesLeft,
		&t.MaxCapacity, &isolation); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(isolation), &t.Isolation); err != nil {
		return nil, fmt.Errorf("join token %s: isolation: %w", t.ID, err)
	}
	t.CreatedAt, t.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &t, nil
}

// CreateJoinToken stores t; a zero CreatedAt is set to now. UsesLeft is
// set to Uses: a token starts unused.
func (db *DB) CreateJoinToken(ctx context.Context, t *airlock.JoinToken) error {
	if len(t.SecretHash) == 0 {
		return airlock.Errorf(airlock.EINVALID, "join token %q has no secret hash", t.ID)
	}
	if t.Uses < 1 || t.MaxCapacity < 1 || len(t.Isolation) == 0 {
		return airlock.Errorf(airlock.EINVALID, "join token %q needs at least one use, a capacity cap and an isolation level", t.ID)
	}
	iso, err := json.Marshal(t.Isolation)
	if err != nil {
		return fmt.Errorf("create join token %s: isolation: %w", t.ID, err)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = db.now()
	}
	t.CreatedAt = t.CreatedAt.UTC().Truncate(time.Microsecond)
	t.ExpiresAt = t.ExpiresAt.UTC().Truncate(time.Microsecond)
	t.UsesLeft = t.Uses
	_, err = db.exec(ctx, `INSERT INTO join_tokens (`+joinTokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.SecretHash, t.CreatedBy, micros(t.CreatedAt), micros(t.ExpiresAt), t.Uses, t.UsesLeft,
		t.MaxCapacity, string(iso))
	if err != nil {
		return writeErr(err, "join token", t.ID, "create join token "+t.ID)
	}
	return nil
}

// JoinTokenByHash returns the token whose secret hashes to hash.
func (db *DB) JoinTokenByHash(ctx context.Context, hash []byte) (*airlock.JoinToken, error) {
	if len(hash) == 0 {
		return nil, airlock.Errorf(airlock.ENOTFOUND, "join token not found")
	}
	t, err := scanJoinToken(db.queryRow(ctx, `SELECT `+joinTokenCols+` FROM join_tokens WHERE secret_hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		// Never name the hash: it is as good as the secret for a lookup.
		return nil, airlock.Errorf(airlock.ENOTFOUND, "join token not found")
	}
	if err != nil {
		return nil, fmt.Errorf("get join token: %w", err)
	}
	return t, nil
}

// ListJoinTokens returns every token, newest first.
func (db *DB) ListJoinTokens(ctx context.Context) ([]*airlock.JoinToken, error) {
	ts, err := list(ctx, db, scanJoinToken, `SELECT `+joinTokenCols+` FROM join_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list join tokens: %w", err)
	}
	return ts, nil
}

// DeleteJoinToken removes a token: it enrolls no node from now on. Nodes
// enrolled with it stay.
func (db *DB) DeleteJoinToken(ctx context.Context, id string) error {
	ok, err := db.execOne(ctx, `DELETE FROM join_tokens WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete join token %s: %w", id, err)
	}
	if !ok {
		return notFound("join token", id)
	}
	return nil
}

// EnrollNode takes a use of the token and inserts n in one transaction.
// The use is taken by a compare-and-set (uses_left > 0 in the UPDATE's
// own WHERE), so of racing enrollments exactly as many succeed as the
// token has uses: on PostgreSQL the second UPDATE waits for the first's
// row lock and re-checks the condition, on SQLite the immediate
// transaction serializes writers.
func (db *DB) EnrollNode(ctx context.Context, hash []byte, now time.Time, n *airlock.Node) (err error) {
	isolation, labels, err := nodeJSON(n)
	if err != nil {
		return fmt.Errorf("enroll node %s: %w", n.ID, err)
	}
	db.stamp(&n.CreatedAt, &n.UpdatedAt)
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("enroll node %s: %w", n.ID, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	res, err := tx.ExecContext(ctx, db.rebind(`UPDATE join_tokens SET uses_left = uses_left - 1
		WHERE secret_hash = ? AND uses_left > 0 AND expires_at > ?`), hash, micros(now))
	if err != nil {
		return fmt.Errorf("enroll node %s: take a join token use: %w", n.ID, err)
	}
	took, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("enroll node %s: take a join token use: %w", n.ID, err)
	}
	if took != 1 {
		return airlock.Errorf(airlock.EUNAUTHORIZED, "join token is unknown, expired or used up")
	}
	if err := db.insertNode(ctx, tx, n, isolation, labels); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("enroll node %s: %w", n.ID, err)
	}
	return nil
}
