package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// auditLock is the pg_advisory_xact_lock key that serializes audit
// appends between api processes ("audit" in ASCII).
const auditLock = 0x6175646974

// auditPage is how many events an export or a verification reads at a
// time: no rows stay open while the caller writes (a slow client must not
// hold SQLite's one connection), and memory stays bounded.
const auditPage = 500

const auditColumns = `id, at, actor_kind, actor, action, target, outcome, client, session_id, detail, chain_v, prev_hash, hash`

// AppendAudit normalizes the events, chains them after the last one and
// stores them, all or none. It reads the last event and inserts the next
// ones in one transaction that holds the chain: on PostgreSQL a
// transaction-scoped advisory lock, on SQLite the write lock its IMMEDIATE
// transactions take at BEGIN, so appends from every process on the
// database form one chain. IDs are the last one plus one, chosen here
// rather than by the sequence, because they are part of what is hashed
// and must have no gaps.
func (db *DB) AppendAudit(ctx context.Context, events ...*airlock.AuditEvent) (err error) {
	if len(events) == 0 {
		return nil
	}
	for _, e := range events {
		if err := e.Normalize(db.now()); err != nil {
			return err
		}
	}
	what := events[0].Action
	if len(events) > 1 {
		what = fmt.Sprintf("%s and %d more", what, len(events)-1)
	}
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append audit event %s: %w", what, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	if db.dialect == dialectPostgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(auditLock)); err != nil {
			return fmt.Errorf("append audit event %s: lock: %w", what, err)
		}
	}
	var lastID int64
	var lastV int
	var lastHash []byte
	err = tx.QueryRowContext(ctx, `SELECT id, chain_v, hash FROM audit_events ORDER BY id DESC LIMIT 1`).Scan(&lastID, &lastV, &lastHash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("append audit event %s: read the chain's last: %w", what, err)
	}
	prev := airlock.ZeroHash
	if lastV != 0 {
		// After an unchained row (written before the chain existed) the
		// chain starts from zero.
		prev = lastHash
	}
	// The events get their chain fields only once all are stored: a
	// caller's events are untouched by a failed append.
	chained := make([]airlock.AuditEvent, len(events))
	for i, e := range events {
		c := *e
		c.ID, c.ChainV, c.PrevHash = lastID+1+int64(i), airlock.AuditChainV1, prev
		c.Hash = c.ChainHash(prev)
		prev = c.Hash
		if _, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO audit_events (`+auditColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			c.ID, micros(c.Time), string(c.ActorKind), c.Actor, c.Action, c.Target, string(c.Outcome), c.Client, c.Session, c.Detail,
			c.ChainV, c.PrevHash, c.Hash); err != nil {
			return fmt.Errorf("append audit event %s: %w", c.Action, err)
		}
		chained[i] = c
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append audit event %s: commit: %w", what, err)
	}
	for i, e := range events {
		*e = chained[i]
	}
	return nil
}

// auditWhere is the WHERE clause of f.
func auditWhere(f airlock.AuditFilter) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		conds = append(conds, cond)
		args = append(args, v)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if p, prefix := f.ActionPrefix(); prefix {
		// substr rather than LIKE: no wildcard in an action can match
		// more than it says.
		conds = append(conds, fmt.Sprintf("substr(action, 1, %d) = ?", len(p)))
		args = append(args, p)
	} else if p != "" {
		add("action = ?", p)
	}
	if f.Target != "" {
		add("target = ?", f.Target)
	}
	if f.Outcome != "" {
		add("outcome = ?", string(f.Outcome))
	}
	if !f.Since.IsZero() {
		add("at >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < ?", micros(f.Until))
	}
	if f.Before > 0 {
		add("id < ?", f.Before)
	}
	if f.After > 0 {
		add("id > ?", f.After)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func scanAudit(s scanner) (*airlock.AuditEvent, error) {
	var e airlock.AuditEvent
	var at int64
	var kind, outcome string
	if err := s.Scan(&e.ID, &at, &kind, &e.Actor, &e.Action, &e.Target, &outcome, &e.Client, &e.Session, &e.Detail,
		&e.ChainV, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.Time, e.ActorKind, e.Outcome = fromMicros(at), airlock.ActorKind(kind), airlock.AuditOutcome(outcome)
	return &e, nil
}

// ListAudit returns at most f.Limit events f selects, newest first. A
// limit below 1 is EINVALID.
func (db *DB) ListAudit(ctx context.Context, f airlock.AuditFilter) ([]*airlock.AuditEvent, error) {
	if f.Limit < 1 {
		return nil, airlock.Errorf(airlock.EINVALID, "audit limit %d must be at least 1", f.Limit)
	}
	where, args := auditWhere(f)
	es, err := list(ctx, db, scanAudit, `SELECT `+auditColumns+` FROM audit_events`+where+` ORDER BY id DESC LIMIT ?`,
		append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return es, nil
}

// ExportAudit calls fn with each event f selects, oldest first, a page
// at a time (f.Limit is ignored).
func (db *DB) ExportAudit(ctx context.Context, f airlock.AuditFilter, fn func(*airlock.AuditEvent) error) error {
	f.Limit = auditPage
	for {
		where, args := auditWhere(f)
		page, err := list(ctx, db, scanAudit, `SELECT `+auditColumns+` FROM audit_events`+where+` ORDER BY id LIMIT ?`,
			append(args, auditPage)...)
		if err != nil {
			return fmt.Errorf("export audit events after %d: %w", f.After, err)
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) < auditPage {
			return nil
		}
		f.After = page[len(page)-1].ID
	}
}

// VerifyAudit walks the whole chain, oldest first, and reports the first
// broken link.
func (db *DB) VerifyAudit(ctx context.Context) (*airlock.AuditVerification, error) {
	var c airlock.AuditChecker
	stop := errors.New("broken")
	err := db.ExportAudit(ctx, airlock.AuditFilter{}, func(e *airlock.AuditEvent) error {
		if !c.Add(e) {
			return stop
		}
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		return nil, fmt.Errorf("verify the audit chain: %w", err)
	}
	return c.Result(), nil
}
