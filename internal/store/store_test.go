package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// TestSQLite runs the contract suite on a fresh SQLite file per test.
func TestSQLite(t *testing.T) {
	runContract(t, func(t *testing.T) *DB {
		db, err := Open(t.Context(), filepath.Join(t.TempDir(), "airlock.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// TestPostgres runs the contract suite on a fresh PostgreSQL database per
// test, created on the server AIRLOCK_TEST_POSTGRES names and dropped
// after.
func TestPostgres(t *testing.T) {
	dsn := os.Getenv("AIRLOCK_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("AIRLOCK_TEST_POSTGRES not set; `make test` starts PostgreSQL and sets it")
	}
	base, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("AIRLOCK_TEST_POSTGRES is not a postgres:// URL: %v", err)
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	if err := admin.PingContext(t.Context()); err != nil {
		t.Fatalf("AIRLOCK_TEST_POSTGRES does not answer: %v", err)
	}
	runContract(t, func(t *testing.T) *DB {
		name := "airlock_test_" + randomHex(t, 8)
		if _, err := admin.ExecContext(t.Context(), "CREATE DATABASE "+name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			// t.Context is done by now.
			if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
				t.Errorf("drop test database: %v", err)
			}
		})
		u := *base
		u.Path = "/" + name
		db, err := Open(t.Context(), u.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestSQLiteFile checks what only SQLite has: a private file and the
// pragmas on every connection.
func TestSQLiteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "airlock.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("database file mode %v, want 0600", mode)
	}
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"foreign_keys": "1",
		"busy_timeout": "5000",
		"synchronous":  "1", // NORMAL
	} {
		var got string
		if err := db.db.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

func TestSQLiteMemory(t *testing.T) {
	for _, dsn := range []string{":memory:", "file::memory:"} {
		t.Run(dsn, func(t *testing.T) {
			db, err := Open(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.SetSettingIfAbsent(t.Context(), "k", []byte("v")); err != nil {
				t.Fatal(err)
			}
			if got, err := db.Setting(t.Context(), "k"); err != nil || string(got) != "v" {
				t.Fatalf("Setting = %q, %v", got, err)
			}
		})
	}
}

func TestRebind(t *testing.T) {
	pg := &DB{dialect: dialectPostgres}
	lite := &DB{dialect: dialectSQLite}
	const q = "UPDATE t SET a = ?, b = ? WHERE id = ? AND s IN (?, ?)"
	if got, want := pg.rebind(q), "UPDATE t SET a = $1, b = $2 WHERE id = $3 AND s IN ($4, $5)"; got != want {
		t.Errorf("postgres: %s, want %s", got, want)
	}
	if got := lite.rebind(q); got != q {
		t.Errorf("sqlite: %s", got)
	}
}

func TestMigrationsLoad(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].version != 1 {
		t.Fatalf("migrations %v, want 0001 first", ms)
	}
	for i, m := range ms {
		if m.version != i+1 {
			t.Errorf("migration %s: version %d, want %d (no gaps)", m.name, m.version, i+1)
		}
	}
}
