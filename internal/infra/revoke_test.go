package infra

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunRefusesUnknownRevocations: when the revocation list cannot be
// read at start, Run fails instead of serving with every certificate
// taken as good.
func TestRunRefusesUnknownRevocations(t *testing.T) {
	dir := privateDir(t)
	_, stop := runServer(t, dir)
	stop()
	// A database the server can open but whose revocation list cannot be
	// read: the table is gone, the migrations recorded as done.
	db, err := sql.Open("sqlite", filepath.Join(dir, "airlock.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DROP TABLE revoked_certs`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := false
	err = Run(ctx, Config{DataDir: dir, Listen: "127.0.0.1:0", AgentURL: "https://host.docker.internal:1", Logger: quietLog,
		Ready: func(string, *Server) { started = true; cancel() }})
	if started {
		t.Fatal("the server started without its revocation list")
	}
	if err == nil || !strings.Contains(err.Error(), "load the certificate revocation list") {
		t.Fatalf("Run = %v, want it to refuse to start without the revocation list", err)
	}
}
