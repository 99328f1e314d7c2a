package agent

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps what could reach the database or the CA's key out of the
// agent, which runs inside session containers next to untrusted content.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	banned := []string{
		"github.com/airlock-rbi/airlock/internal/store",
		"github.com/airlock-rbi/airlock/internal/api",
		"github.com/airlock-rbi/airlock/internal/pki",
		"github.com/airlock-rbi/airlock/internal/provision",
		"modernc.org/sqlite",
		"github.com/jackc/pgx",
		"database/sql",
	}
	// database/sql/driver is only interfaces; github.com/google/uuid (in
	// pion's tree) implements them for its UUID type.
	allowed := map[string]bool{"database/sql/driver": true}
	for _, dep := range strings.Fields(string(out)) {
		if allowed[dep] {
			continue
		}
		for _, b := range banned {
			if dep == b || strings.HasPrefix(dep, b+"/") {
				t.Errorf("the agent imports %s", dep)
			}
		}
	}
}
