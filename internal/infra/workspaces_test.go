package infra

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-rbi/airlock/internal/store"
)

func TestLoadWorkspaces(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	write := func(body string) string {
		p := filepath.Join(t.TempDir(), "ws.yaml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, body, wantErr string
	}{
		{"ok/create", "workspaces:\n  - name: web\n    image: airlock/minimal:latest\n    memory: 64m\n    cpus: 0.5\n", ""},
		{"ok/update", "workspaces:\n  - name: web\n    image: airlock/minimal:latest\n    memory: 128m\n", ""},
		{"fail/unknown-key", "workspaces:\n  - name: web\n    imgae: x\n", "imgae"},
		{"fail/bad-size", "workspaces:\n  - name: web\n    image: x\n    memory: lots\n", `size "lots"`},
		{"fail/invalid-second", "workspaces:\n  - name: good\n    image: x\n  - name: Bad\n    image: x\n", "workspace 2 (Bad)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := LoadWorkspaces(ctx, st, write(tc.body))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	ws, err := st.WorkspaceByName(ctx, "web")
	if err != nil || ws.Memory != 128<<20 {
		t.Fatalf("web after update: %+v %v", ws, err)
	}
	if _, err := st.WorkspaceByName(ctx, "good"); err == nil {
		t.Fatal("a file with an invalid workspace wrote its valid ones")
	}
}
