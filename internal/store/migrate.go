package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migrations are applied in the order of their file names,
// NNNN_description.sql, each once, in its own transaction. A released
// migration is never edited; a change is a new file.
//
//go:embed migrations/*.sql
var migrations embed.FS

// dialectWords are the only words the two dialects spell differently in
// the migrations.
var dialectWords = map[dialect]*strings.Replacer{
	dialectSQLite: strings.NewReplacer(
		"{{bytes}}", "BLOB",
		"{{serial_pk}}", "INTEGER PRIMARY KEY AUTOINCREMENT",
	),
	dialectPostgres: strings.NewReplacer(
		"{{bytes}}", "BYTEA",
		"{{serial_pk}}", "BIGSERIAL PRIMARY KEY",
	),
}

// migrationLock is the pg_advisory_xact_lock key that serializes
// migrations between api processes starting together ("airlock" in
// ASCII).
const migrationLock = 0x6169726c6f636b

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the embedded migrations in order.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", e.Name())
		}
		b, err := migrations.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share a version", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// migrate applies the migrations the database lacks.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := db.apply(ctx, m); err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
	}
	return nil
}

// apply runs one migration unless schema_migrations lists it. On
// PostgreSQL the transaction first takes an advisory lock, so of several
// processes starting together one migrates and the others then see its
// version; on SQLite the transaction begins IMMEDIATE, which serializes
// them the same way.
func (db *DB) apply(ctx context.Context, m migration) (err error) {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	if db.dialect == dialectPostgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var one int
	err = tx.QueryRowContext(ctx, db.rebind("SELECT 1 FROM schema_migrations WHERE version = ?"), m.version).Scan(&one)
	switch {
	case err == nil:
		return tx.Commit() // already applied
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	if _, err := tx.ExecContext(ctx, dialectWords[db.dialect].Replace(forDialect(m.sql, db.dialect))); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, db.rebind("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)"),
		m.version, micros(db.now())); err != nil {
		return fmt.Errorf("record version: %w", err)
	}
	return tx.Commit()
}

// forDialect keeps the lines of a migration meant for d: those between
// "-- {{if sqlite}}" (or postgres) and "-- {{end}}" only on that
// dialect, for what the two spell too differently for dialectWords
// (triggers).
func forDialect(sql string, d dialect) string {
	var b strings.Builder
	only := ""
	for line := range strings.Lines(sql) {
		switch t := strings.TrimSpace(line); {
		case strings.HasPrefix(t, "-- {{if ") && strings.HasSuffix(t, "}}"):
			only = strings.TrimSuffix(strings.TrimPrefix(t, "-- {{if "), "}}")
			continue
		case t == "-- {{end}}":
			only = ""
			continue
		}
		if only == "" || only == d.String() {
			b.WriteString(line)
		}
	}
	return b.String()
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}
