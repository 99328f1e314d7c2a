package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// TestAgentTransfer: the agent's report of a file crossing becomes an
// audit event of the session's user, and a report that is not one is
// refused with the reason.
func TestAgentTransfer(t *testing.T) {
	e := sessionEnv(t)
	e.addNode("n1", 10)
	sess, tok := e.launchForAgent()
	reg := e.register(sess.ID, tok)
	sum := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name string
		body map[string]any
		bad  string // "" ok, else words of the refusal
	}{
		{"ok/download", map[string]any{"direction": "download", "name": "report.pdf", "size": 1234, "sha256": sum}, ""},
		{"ok/upload", map[string]any{"direction": "upload", "name": "cv.txt", "size": 0, "sha256": sum}, ""},
		{"fail/direction", map[string]any{"direction": "sideways", "name": "a", "size": 1, "sha256": sum}, "direction"},
		{"fail/name", map[string]any{"direction": "upload", "name": "", "size": 1, "sha256": sum}, "name"},
		{"fail/size", map[string]any{"direction": "upload", "name": "a", "size": -1, "sha256": sum}, "negative"},
		{"fail/sha256", map[string]any{"direction": "upload", "name": "a", "size": 1, "sha256": "xyz"}, "sha256"},
		{"fail/unknown-field", map[string]any{"direction": "upload", "name": "a", "size": 1, "sha256": sum, "path": "/etc"}, "path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(req{Method: "POST", Path: "/api/v1/agent/transfer", Bearer: reg.Credential, Body: tc.body})
			events, err := e.st.ListAudit(context.Background(), airlock.AuditFilter{Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if tc.bad != "" {
				wantError(t, rec, "invalid", tc.bad)
				if len(events) > 0 && strings.HasPrefix(events[0].Action, "file.") && strings.Contains(events[0].Detail, `"name":"a"`) {
					t.Fatalf("refused report audited: %+v", events[0])
				}
				return
			}
			wantStatus(t, rec, http.StatusOK)
			ev := events[0]
			var detail map[string]any
			if err := json.Unmarshal([]byte(ev.Detail), &detail); err != nil {
				t.Fatal(err)
			}
			if ev.Action != "file."+tc.body["direction"].(string) || ev.Target != sess.ID || ev.Actor != "alice" ||
				detail["name"] != tc.body["name"] || detail["sha256"] != sum || detail["size"] != float64(tc.body["size"].(int)) {
				t.Fatalf("audit event %+v", ev)
			}
		})
	}
	wantError(t, e.do(req{Method: "POST", Path: "/api/v1/agent/transfer", Bearer: e.userTok,
		Body: map[string]any{"direction": "upload", "name": "a", "size": 1, "sha256": sum}}), "unauthorized")
}
