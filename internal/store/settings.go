package store

import (
	"context"
	"fmt"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// Setting returns the value of key; ENOTFOUND if unset.
func (db *DB) Setting(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	if err := db.queryRow(ctx, `SELECT value FROM settings WHERE name = ?`, key).Scan(&v); err != nil {
		return nil, rowErr(err, "setting", key)
	}
	return nonNil(v), nil
}

// SetSetting stores value under key, replacing any value there.
func (db *DB) SetSetting(ctx context.Context, key string, value []byte) error {
	_, err := db.exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, key, nonNil(value))
	if err != nil {
		return fmt.Errorf("set setting %s: %w", key, err)
	}
	return nil
}

// SetSettingIfAbsent stores value unless key is set and returns what is
// stored after the call. The insert does nothing on a conflict, so of two
// processes racing the first writer wins and both read its value.
func (db *DB) SetSettingIfAbsent(ctx context.Context, key string, value []byte) ([]byte, error) {
	if _, err := db.exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
		key, nonNil(value)); err != nil {
		return nil, fmt.Errorf("set setting %s: %w", key, err)
	}
	return db.Setting(ctx, key)
}

// DeleteSetting removes key; removing an unset key is no error.
func (db *DB) DeleteSetting(ctx context.Context, key string) error {
	if _, err := db.exec(ctx, `DELETE FROM settings WHERE name = ?`, key); err != nil {
		return fmt.Errorf("delete setting %s: %w", key, err)
	}
	return nil
}

// nonNil makes an empty value a stored empty blob rather than NULL, and
// reads one back as empty, never nil.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// AppendAudit stores e and sets its ID; a zero Time is set to now.
func (db *DB) AppendAudit(ctx context.Context, e *airlock.AuditEvent) error {
	if e.Time.IsZero() {
		e.Time = db.now()
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	err := db.queryRow(ctx, `INSERT INTO audit_events (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		micros(e.Time), e.Actor, e.Action, e.Target, e.Detail).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("append audit event %s: %w", e.Action, err)
	}
	return nil
}

// ListAudit returns at most limit events, newest first. A limit below 1
// is EINVALID.
func (db *DB) ListAudit(ctx context.Context, limit int) ([]*airlock.AuditEvent, error) {
	if limit < 1 {
		return nil, airlock.Errorf(airlock.EINVALID, "audit limit %d must be at least 1", limit)
	}
	es, err := list(ctx, db, func(s scanner) (*airlock.AuditEvent, error) {
		var e airlock.AuditEvent
		var at int64
		if err := s.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, err
		}
		e.Time = fromMicros(at)
		return &e, nil
	}, `SELECT id, at, actor, action, target, detail FROM audit_events ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return es, nil
}
