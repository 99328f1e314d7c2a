package portal_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

type sessionJSON struct {
	State     string `json:"state"`
	EndReason string `json:"end_reason"`
	Reason    string `json:"reason"`
}

// TestAdminSessions drives the Sessions page with the keyboard: another
// user's running session (written to the server's store as a launch
// writes it, since no container runs here) is listed with the user's and
// workspace's names; End after the confirmation ends it as an
// administrator, checked through the api; Space on "Active sessions
// only" then lists it ended, with its end reason.
func TestAdminSessions(t *testing.T) {
	s := startServer(t)
	var u userJSON
	s.must("POST", "/users", map[string]any{"name": "sam", "password": "sam-password-1", "role": "user"}, &u)
	var ws struct{ ID string }
	s.must("POST", "/workspaces", map[string]any{"name": "web", "image": "airlock/chromium:x"}, &ws)
	now := airlock.Now()
	beat := now
	const id = "sess0123456789abcdef"
	if err := s.srv.Store.CreateSession(context.Background(), &airlock.Session{ID: id, UserID: u.ID, WorkspaceID: ws.ID,
		State: airlock.SessionReady, CreatedAt: now.Add(-5 * time.Minute), UpdatedAt: now, ReadyAt: &now, LastHeartbeat: &beat}); err != nil {
		t.Fatal(err)
	}
	p := s.openPortal("admin", adminPassword)
	p.adminPage("sessions", "Sessions")
	p.waitFor(`!!document.querySelector('tr[data-session="` + id + `"]')`)
	row := p.textOf(`tr[data-session="` + id + `"]`)
	for _, want := range []string{"sam", "web", "ready", "5 min"} {
		if !contains(row, want) {
			t.Errorf("the session's row %q does not say %q", row, want)
		}
	}

	p.tabTo(`[aria-label="End the session ` + id[:12] + ` of sam"]`)
	p.keys(kb.Enter)
	p.confirmDialog(true)
	p.waitStatus("Session " + id[:12] + " of sam ended.")
	var got sessionJSON
	s.must("GET", "/sessions/"+id, nil, &got)
	if got.State != "stopped" || got.EndReason != "admin" {
		t.Fatalf("after End the api has the session %+v; want stopped by admin", got)
	}
	p.waitFor(`!document.querySelector('tr[data-session="` + id + `"]')`)

	p.tabTo("#sessions-active")
	p.keys(" ")
	p.waitFor(`!!document.querySelector('tr[data-session="` + id + `"]')`)
	row = p.textOf(`tr[data-session="` + id + `"]`)
	for _, want := range []string{"stopped", "admin", got.Reason} {
		if !contains(row, want) {
			t.Errorf("the ended session's row %q does not say %q", row, want)
		}
	}
}

type poolJSON struct {
	Workspace string `json:"workspace"`
	Size      int    `json:"size"`
	MaxAge    string `json:"max_age"`
}

// TestAdminPools drives the Pools page with the keyboard: a workspace
// without a pool shows size 0; typing a size and Enter in the field sets
// it (checked through the api); a bad maximum age shows the api's own
// refusal and changes nothing.
func TestAdminPools(t *testing.T) {
	s := startServer(t)
	s.must("POST", "/workspaces", map[string]any{"name": "web", "image": "airlock/chromium:x"}, nil)
	p := s.openPortal("admin", adminPassword)
	p.adminPage("pools", "Pools")
	var v string
	p.eval(`document.getElementById('pool-size-web').value`, &v)
	if v != "0" {
		t.Fatalf("a workspace without a pool shows size %q", v)
	}
	p.tabTo("#pool-size-web")
	p.keys(kb.Backspace + "2" + kb.Tab + "30m" + kb.Enter)
	p.waitFor(`document.getElementById('admin-status').textContent.startsWith('Pool of web set to 2;')`)
	pools := func() []poolJSON {
		var list []poolJSON
		s.must("GET", "/pools", nil, &list)
		return list
	}
	if l := pools(); len(l) != 1 || l[0].Workspace != "web" || l[0].Size != 2 || l[0].MaxAge != "30m" {
		t.Fatalf("after the form the api has the pools %+v", l)
	}
	if got := p.focusSettles("pool-size-web"); got != "pool-size-web" {
		t.Errorf("after Save the focus is on %s, want the size field", got)
	}

	want := s.refusal("PUT", "/pools/web", map[string]any{"size": 1, "max_age": "forever"})
	p.keys(kb.Backspace + "1" + kb.Tab + kb.Backspace + kb.Backspace + kb.Backspace + "forever" + kb.Enter)
	p.waitFor(`!document.getElementById('pools-error').hidden`)
	if got := p.textOf("#pools-error"); got != want {
		t.Errorf("the page shows %q, the api said %q", got, want)
	}
	if l := pools(); l[0].Size != 2 {
		t.Fatalf("a refused change set the size to %d", l[0].Size)
	}
}
