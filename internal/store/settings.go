package store

import (
	"context"
	"fmt"
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
