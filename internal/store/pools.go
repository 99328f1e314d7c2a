package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// SetPool creates or replaces the pool of p.WorkspaceID. A pool of size
// 0 is kept, so that the lifecycle jobs stop its warm sessions; deleting
// the workspace deletes it.
func (db *DB) SetPool(ctx context.Context, p *airlock.Pool) error {
	db.touch(&p.UpdatedAt)
	_, err := db.exec(ctx, `INSERT INTO pools (workspace_id, size, max_age_ms, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (workspace_id) DO UPDATE SET size = excluded.size, max_age_ms = excluded.max_age_ms, updated_at = excluded.updated_at`,
		p.WorkspaceID, p.Size, p.MaxAge.Milliseconds(), micros(p.UpdatedAt))
	if err != nil {
		return fmt.Errorf("set pool of %s: %w", p.WorkspaceID, err)
	}
	return nil
}

// ListPools returns every pool by workspace ID.
func (db *DB) ListPools(ctx context.Context) ([]*airlock.Pool, error) {
	ps, err := list(ctx, db, func(s scanner) (*airlock.Pool, error) {
		var p airlock.Pool
		var age, updated int64
		if err := s.Scan(&p.WorkspaceID, &p.Size, &age, &updated); err != nil {
			return nil, err
		}
		p.MaxAge, p.UpdatedAt = millis(age), fromMicros(updated)
		return &p, nil
	}, `SELECT workspace_id, size, max_age_ms, updated_at FROM pools ORDER BY workspace_id`)
	if err != nil {
		return nil, fmt.Errorf("list pools: %w", err)
	}
	return ps, nil
}

// ClaimWarm hands the oldest warm session of workspace, on a ready and
// undrained node, out to h.UserID in one transaction that also checks
// the user's limit, under the lock session creation takes: two claims
// never get the same session, and a claim and a creation together never
// take a user over the limit. The session becomes ready, created at now.
func (db *DB) ClaimWarm(ctx context.Context, workspace string, h airlock.Handout, userLimit int, now time.Time) (s *airlock.Session, err error) {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("claim warm session of %s: %w", workspace, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	if db.dialect == dialectPostgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(sessionLock)); err != nil {
			return nil, fmt.Errorf("claim warm session of %s: lock: %w", workspace, err)
		}
	}
	if userLimit > 0 {
		where, args := sessionWhere(airlock.SessionFilter{UserID: h.UserID, States: airlock.ActiveStates})
		var n int
		if err := tx.QueryRowContext(ctx, db.rebind(`SELECT COUNT(*) FROM sessions`+where), args...).Scan(&n); err != nil {
			return nil, fmt.Errorf("claim warm session: count user's sessions: %w", err)
		}
		if n >= userLimit {
			return nil, airlock.Errorf(airlock.ELIMIT, "you have %d active sessions and your limit is %d; end one first", n, userLimit)
		}
	}
	var id string
	err = tx.QueryRowContext(ctx, db.rebind(`SELECT s.id FROM sessions s JOIN nodes n ON n.id = s.node_id
		WHERE s.workspace_id = ? AND s.state = ? AND n.state = ? AND NOT n.draining
		ORDER BY s.ready_at, s.id LIMIT 1`), workspace, string(airlock.SessionWarm), string(airlock.NodeReady)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, airlock.Errorf(airlock.ENOTFOUND, "no warm session of workspace %s", workspace)
	}
	if err != nil {
		return nil, fmt.Errorf("claim warm session of %s: %w", workspace, err)
	}
	policy, err := policyJSON(h.Policy)
	if err != nil {
		return nil, fmt.Errorf("claim warm session %s: %w", id, err)
	}
	s, err = scanSession(tx.QueryRowContext(ctx, db.rebind(`UPDATE sessions SET user_id = ?, launch_key = ?, state = ?, created_at = ?,
		updated_at = ?, expires_at = ?, viewer = ?, policy = ?, last_input_at = NULL, last_viewer_at = NULL
		WHERE id = ? AND state = ? RETURNING `+sessionCols),
		h.UserID, h.LaunchKey, string(airlock.SessionReady), micros(now), micros(now), micros(h.ExpiresAt), viewerJSON(h.Viewer), policy,
		id, string(airlock.SessionWarm)))
	if err != nil {
		if isUnique(err) && h.LaunchKey != "" {
			return nil, airlock.Errorf(airlock.ECONFLICT, "a session with launch key %q exists already", h.LaunchKey)
		}
		return nil, fmt.Errorf("claim warm session %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("claim warm session %s: %w", id, err)
	}
	return s, nil
}
