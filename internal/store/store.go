// Package store keeps Airlock's state: it implements airlock.Store on
// SQLite (modernc.org/sqlite, pure Go, so the binary stays static and
// cgo-free) and on PostgreSQL (pgx through database/sql). Both share one
// set of queries and the same embedded migrations, and one contract suite
// tests both.
//
// It is the only package that opens the database. The api owns the *DB
// and hands its handlers the narrow interfaces they call; nothing else
// holds a handle. The store knows nothing of HTTP, Docker or certificates:
// it keeps what it is given and turns database failures into the airlock
// error vocabulary (ENOTFOUND, ECONFLICT; everything else is internal and
// wrapped with what was being done).
//
// Times are stored as BIGINT microseconds since the Unix epoch, UTC, which
// behaves identically on both databases; an unset time is NULL. The store
// writes the times it is given (callers use airlock.Now or their own
// clock) and fills only a zero CreatedAt, UpdatedAt or audit Time with
// DB.Now. Maps and lists are JSON text.
//
// Deleting a user deletes their API tokens and web sessions (ON DELETE
// CASCADE). Sessions have no foreign keys: they keep the IDs of their
// user, workspace and node as history after those are deleted, and the
// api stops active sessions before it deletes what they use.
//
// The audit log is append-only and one hash chain: triggers on both
// databases refuse UPDATE and DELETE of its rows, and appends serialize
// (AppendAudit) so every process's events link into the same chain.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// dialect is the database behind a DB.
type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

func (d dialect) String() string {
	if d == dialectPostgres {
		return "postgres"
	}
	return "sqlite"
}

// DB is an airlock.Store on SQLite or PostgreSQL. It is safe for
// concurrent use.
type DB struct {
	// Now returns the time the store writes as CreatedAt or UpdatedAt
	// when a Create or Update is given a zero one (callers with their own
	// clock set both). Open sets airlock.Now; tests may replace it before
	// use.
	Now func() time.Time

	db      *sql.DB
	dialect dialect
	dsn     string // kept for tests that open the same database again
}

var _ airlock.Store = (*DB)(nil)

// Open opens the database named by dsn and applies any migrations it
// lacks. A dsn starting with postgres:// or postgresql:// is a PostgreSQL
// connection string; anything else is a SQLite file path, a "file:" URI
// or ":memory:". A new SQLite file is created with mode 0600.
func Open(ctx context.Context, dsn string) (*DB, error) {
	db := &DB{Now: airlock.Now, dsn: dsn}
	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		db.dialect = dialectPostgres
		db.db, err = openPostgres(ctx, dsn)
	} else {
		db.dialect = dialectSQLite
		db.db, err = openSQLite(ctx, dsn)
	}
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		db.db.Close()
		return nil, fmt.Errorf("migrate %s database: %w", db.dialect, err)
	}
	return db, nil
}

// openPostgres connects through pgx's database/sql driver. Errors name
// no part of the DSN: it may hold a password.
func openPostgres(ctx context.Context, dsn string) (*sql.DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	return db, nil
}

// sqlitePragmas are set on every SQLite connection. _txlock=immediate
// makes each transaction take the write lock when it begins, so two
// processes migrating the same file wait for each other (busy_timeout)
// instead of failing when one upgrades a read to a write.
const sqlitePragmas = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)" +
	"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// openSQLite opens a SQLite database with one connection: SQLite has one
// writer at a time anyway, and a single connection makes every statement
// see the one before it, ":memory:" included.
func openSQLite(ctx context.Context, dsn string) (*sql.DB, error) {
	if dsn == "" {
		return nil, errors.New("open sqlite: empty database path")
	}
	name, query, _ := strings.Cut(dsn, "?")
	path := strings.TrimPrefix(name, "file:")
	memory := path == ":memory:" || path == "" || strings.Contains(query, "mode=memory")
	if !memory {
		// Create the file ourselves so that it, and the -wal and -shm
		// files SQLite creates with the same mode, are private.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
	}
	if query != "" {
		query += "&"
	}
	db, err := sql.Open("sqlite", name+"?"+query+sqlitePragmas)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error { return db.db.Close() }

// Ping checks that the database answers, for health checks.
func (db *DB) Ping(ctx context.Context) error { return db.db.PingContext(ctx) }

// now is db.Now in the precision the store keeps.
func (db *DB) now() time.Time { return db.Now().UTC().Truncate(time.Microsecond) }

// rebind turns the ? placeholders every query is written with into
// PostgreSQL's $1, $2, … No query has a literal '?'.
func (db *DB) rebind(q string) string {
	if db.dialect != dialectPostgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func (db *DB) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return db.db.ExecContext(ctx, db.rebind(q), args...)
}

func (db *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.db.QueryContext(ctx, db.rebind(q), args...)
}

func (db *DB) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return db.db.QueryRowContext(ctx, db.rebind(q), args...)
}

// execOne runs a statement that must touch exactly one row; it reports
// whether it did.
func (db *DB) execOne(ctx context.Context, q string, args ...any) (bool, error) {
	res, err := db.exec(ctx, q, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n > 0, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// list runs q and scans each row with scan.
func list[T any](ctx context.Context, db *DB, scan func(scanner) (*T, error), q string, args ...any) ([]*T, error) {
	rows, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// placeholders returns "?, ?, …" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// isUnique reports whether err is a unique or primary key violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" // unique_violation
}

// isForeignKey reports whether err is a foreign key violation.
func isForeignKey(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503" // foreign_key_violation
}

// notFound is the store's ENOTFOUND.
func notFound(kind, id string) error {
	return airlock.Errorf(airlock.ENOTFOUND, "%s %q not found", kind, id)
}

// rowErr turns sql.ErrNoRows into ENOTFOUND and wraps anything else.
func rowErr(err error, kind, id string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(kind, id)
	}
	return fmt.Errorf("get %s %s: %w", kind, id, err)
}

// writeErr turns a unique violation into ECONFLICT naming name and wraps
// anything else with op.
func writeErr(err error, kind, name, op string) error {
	if isUnique(err) {
		return airlock.Errorf(airlock.ECONFLICT, "%s %q already exists", kind, name)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Times: microseconds since the epoch, NULL when unset.

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// nullMicros stores a zero time as NULL.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func ptrMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromMicros(n.Int64)
}

func ptrFromNullMicros(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMicros(n.Int64)
	return &t
}

// nullBytes stores a nil slice as NULL and any other, empty or not, as a
// blob.
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// touch fills a zero updated with now and brings it to the stored
// precision.
func (db *DB) touch(updated *time.Time) {
	if updated.IsZero() {
		*updated = db.now()
	}
	*updated = updated.UTC().Truncate(time.Microsecond)
}

// stamp fills a zero created with now, a zero updated with created, and
// brings both to the stored precision, so the caller's struct matches
// what a later read returns.
func (db *DB) stamp(created, updated *time.Time) {
	if created.IsZero() {
		*created = db.now()
	}
	*created = created.UTC().Truncate(time.Microsecond)
	if updated.IsZero() {
		*updated = *created
	}
	*updated = updated.UTC().Truncate(time.Microsecond)
}
