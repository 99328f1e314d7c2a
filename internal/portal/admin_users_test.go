package portal_test

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

type userJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Role        string `json:"role"`
	MaxSessions int    `json:"max_sessions"`
}

func (s *server) user(name string) *userJSON {
	var list []userJSON
	s.must("GET", "/users", nil, &list)
	for _, u := range list {
		if u.Name == name {
			return &u
		}
	}
	return nil
}

// TestAdminUsers drives the Users page with the keyboard: reach it from
// the home view's Administration link, create a user through the form
// (Tab between the fields, Enter submits), see a weak password refused
// with the api's own message, reset a password in the row's form, and
// delete the user through the confirmation (Escape first keeps them,
// with the focus back on the row's button). Each result is checked
// through the api.
func TestAdminUsers(t *testing.T) {
	s := startServer(t)
	p := s.openPortal("admin", adminPassword)
	p.adminPage("users", "Users")

	// Create, with the keyboard alone.
	p.tabTo("#user-name")
	p.keys("carol")
	p.keys(kb.Tab)
	p.keys("carol-password-1")
	p.keys(kb.Tab) // the role: user, as it is
	p.keys(kb.Tab)
	p.keys("2" + kb.Enter)
	p.waitStatus("User carol created.")
	u := s.user("carol")
	if u == nil || u.Role != "user" || u.MaxSessions != 2 {
		t.Fatalf("after the form, the api has carol as %+v; want role user, max_sessions 2", u)
	}
	if got := p.focusSettles("user-name"); got != "user-name" {
		t.Errorf("after a create the focus is on %s, want the name field for the next one", got)
	}
	p.waitFor(`!!document.querySelector('tr[data-user="carol"]')`)

	// A refusal is shown as the api words it, and nothing is made.
	want := s.refusal("POST", "/users", map[string]any{"name": "dave", "password": "short", "role": "user"})
	p.keys("dave")
	p.keys(kb.Tab)
	p.keys("short" + kb.Enter)
	p.waitFor(`!document.getElementById('user-form-error').hidden`)
	if got := p.textOf("#user-form-error"); got != want {
		t.Errorf("the form shows %q, the api said %q", got, want)
	}
	if s.user("dave") != nil {
		t.Error("dave was created with a password the api refuses")
	}

	// Reset carol's password from her row.
	p.tabTo(`[aria-label="Reset the password of carol"]`)
	p.keys(kb.Enter)
	p.waitFor(`document.activeElement.id === 'reset-` + u.ID + `'`)
	p.keys("carol-password-2" + kb.Enter)
	p.waitStatus("Password of carol set; 0 web sessions ended.")
	if got := p.focusSettles("Reset the password of carol"); got != "Reset the password of carol" {
		t.Errorf("after the reset the focus is on %s, want the row's Reset password button", got)
	}
	s.login("carol", "carol-password-2") // fails the test if the new one is not hers

	// Delete: Escape keeps her, Enter on the confirm button removes her.
	p.tabTo(`[aria-label="Delete carol"]`)
	p.keys(kb.Enter)
	p.confirmDialog(false)
	if got := p.focusSettles("Delete carol"); got != "Delete carol" {
		t.Errorf("after Escape the focus is on %s, want the Delete button back", got)
	}
	if s.user("carol") == nil {
		t.Fatal("Escape on the confirmation deleted carol")
	}
	// Escape and at once Enter on the Delete button, as a quick hand
	// does: the dialog asks again, and the new ask's answer counts (the
	// first ask's close event used to answer it and leave it deaf).
	p.keys(kb.Enter)
	p.waitFor(`document.getElementById('admin-confirm').open`)
	p.keys(kb.Escape + kb.Enter)
	p.confirmDialog(true)
	p.waitStatus("User carol deleted.")
	if s.user("carol") != nil {
		t.Fatal("carol is still there after the confirmed delete")
	}
	p.waitFor(`!document.querySelector('tr[data-user="carol"]')`)
	if got := p.focusSettles("admin-title"); got != "admin-title" {
		t.Errorf("after the delete the focus is on %s, want the page's heading", got)
	}
}

// TestAdminHiddenFromUsers: a user without the admin role sees no
// Administration link, is sent home from an admin route with a notice,
// and the api refuses the admin routes to them anyway.
func TestAdminHiddenFromUsers(t *testing.T) {
	s := startServer(t)
	s.must("POST", "/users", map[string]any{"name": "uma", "password": "uma-password-1", "role": "user"}, nil)
	p := s.openPortal("uma", "uma-password-1")
	var hidden bool
	p.eval(`document.getElementById('nav-admin').hidden`, &hidden)
	if !hidden {
		t.Error("a user without the admin role sees the Administration link")
	}
	p.run(chromedp.Navigate(s.base + "/#/admin/users"))
	p.waitFor(`location.hash === '#/' && !document.getElementById('view-home').hidden && document.getElementById('view-admin').hidden`)
	if got := p.textOf("#home-alert"); got != "The administration pages are for administrators only." {
		t.Errorf("the home view says %q after an admin route", got)
	}
	tok := s.login("uma", "uma-password-1")
	if err := s.call(tok, "GET", "/users", nil, nil); err == nil || err.(*apiError).Status != 403 {
		t.Errorf("GET /users as a user: %v, want 403", err)
	}
}
