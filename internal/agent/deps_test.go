package agent

import (
	"testing"

	"github.com/airlock-rbi/airlock/internal/depcheck"
)

// TestDeps keeps what could reach the database or the CA's key out of the
// agent, which runs inside session containers next to untrusted content.
func TestDeps(t *testing.T) {
	// database/sql/driver is only interfaces; github.com/google/uuid (in
	// pion's tree) implements them for its UUID type.
	depcheck.Forbid(t, "the agent", []string{
		"github.com/airlock-rbi/airlock/internal/store",
		"github.com/airlock-rbi/airlock/internal/api",
		"github.com/airlock-rbi/airlock/internal/pki",
		"github.com/airlock-rbi/airlock/internal/provision",
		"modernc.org/sqlite",
		"github.com/jackc/pgx",
		"database/sql",
	}, "database/sql/driver")
}
