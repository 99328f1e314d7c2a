package portal_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/chromedp/chromedp/kb"
)

type groupJSON struct {
	Name          string `json:"name"`
	Description   string `json:"description"`
	Priority      int    `json:"priority"`
	AllWorkspaces bool   `json:"all_workspaces"`
	Workspaces    []struct {
		Workspace string         `json:"workspace"`
		Policy    map[string]any `json:"policy"`
	} `json:"workspaces"`
	Policy     map[string]any `json:"policy"`
	IdPGroups  []string       `json:"idp_groups"`
	Members    int            `json:"members"`
	MemberList []struct {
		User   string `json:"user"`
		Source string `json:"source"`
	} `json:"member_list"`
}

func (s *server) group(name string) *groupJSON {
	s.t.Helper()
	var g groupJSON
	s.must("GET", "/groups/"+name, nil, &g)
	return &g
}

// effective is the value and source the Groups page's effective policy
// shows for a field of a workspace.
func (p *page) effective(workspace, field string) (value, source string) {
	p.t.Helper()
	row := `#policy-result [data-workspace="` + workspace + `"] tr[data-field="` + field + `"]`
	return p.textOf(row + ` td:nth-child(2)`), p.textOf(row + ` td:nth-child(3)`)
}

// TestAdminGroups drives the Groups page with the keyboard: New group
// opens the form, a workspace is granted by its checkbox (Space) and the
// policy's idle timeout and clipboard set; the api holds what the form
// said. A duplicate name and a priority out of range are refused in the
// form as the api words them. A user is added as a member and removed
// through the confirmation (Escape first keeps them); the effective
// policy shows the group's clipboard with the group as its source while
// they are a member, and the workspace the group grants no longer
// granted once they are not. The built-in everyone offers neither
// Members nor Delete; another group is deleted.
func TestAdminGroups(t *testing.T) {
	s := startServer(t)
	for _, ws := range []string{"aaa", "web"} {
		s.must("POST", "/workspaces", map[string]any{"name": ws, "image": "airlock/chromium:x"}, nil)
	}
	// everyone grants only aaa, so that web is bob's through the group
	// alone.
	s.must("PUT", "/groups/everyone", map[string]any{"workspaces": []map[string]any{{"workspace": "aaa"}}}, nil)
	s.must("POST", "/users", map[string]any{"name": "bob", "password": "bob-password-1", "role": "user"}, nil)
	p := s.openPortal("admin", adminPassword)
	p.adminPage("groups", "Groups")

	// Create, with the keyboard alone.
	p.tabTo("#groups-new")
	p.keys(kb.Enter)
	p.waitFor(`document.activeElement.id === 'group-name'`)
	p.keys("staff")
	p.keys(kb.Tab)
	p.keys("Staff.")
	p.keys(kb.Tab)
	p.keys("10")
	p.tabTo("#group-ws-web")
	p.keys(" ")
	p.tabTo("#group-idle-timeout")
	p.keys("1h")
	p.tabTo("#group-clipboard")
	p.keys("o") // off: the only choice starting with o
	p.tabTo("#group-save")
	p.keys(kb.Enter)
	p.waitStatus("Group staff created.")
	g := s.group("staff")
	if g.Description != "Staff." || g.Priority != 10 || g.AllWorkspaces || len(g.Workspaces) != 1 || g.Workspaces[0].Workspace != "web" ||
		g.Workspaces[0].Policy != nil || !reflect.DeepEqual(g.Policy, map[string]any{"idle_timeout": "1h", "clipboard": "off"}) || len(g.IdPGroups) != 0 {
		t.Fatalf("after the form, the api holds %+v; want priority 10, web granted, idle 1h and clipboard off only", g)
	}
	p.waitFor(`!!document.querySelector('tr[data-group="staff"]')`)
	if got, want := p.textOf(`tr[data-group="staff"] td:nth-child(3)`), "web"; got != want {
		t.Errorf("the row says staff grants %q, want %q", got, want)
	}
	if got, want := p.textOf(`tr[data-group="staff"] td:nth-child(4)`), "idle 1h · clipboard off"; got != want {
		t.Errorf("the row says staff's policy is %q, want %q", got, want)
	}
	if got := p.focusSettles("groups-new"); got != "groups-new" {
		t.Errorf("after a create the focus is on %s, want New group", got)
	}

	// Refusals, in the form as the api words them; nothing is made.
	dup := s.refusal("POST", "/groups", map[string]any{"name": "staff"})
	p.keys(kb.Enter)
	p.waitFor(`document.activeElement.id === 'group-name'`)
	p.keys("staff" + kb.Enter)
	p.waitFor(`!document.getElementById('group-form-error').hidden`)
	if got := p.textOf("#group-form-error"); got != dup {
		t.Errorf("the form shows %q, the api said %q", got, dup)
	}
	far := s.refusal("POST", "/groups", map[string]any{"name": "contractors", "priority": 2000000})
	p.tabTo("#group-name")
	p.keys(kb.Backspace + kb.Backspace + kb.Backspace + kb.Backspace + kb.Backspace + "contractors")
	p.keys(kb.Tab + kb.Tab)
	p.keys("2000000" + kb.Enter)
	// The box is emptied while the call runs: the second refusal is the
	// box shown again with other words.
	q, _ := json.Marshal(dup)
	p.waitFor(`!document.getElementById('group-form-error').hidden && document.getElementById('group-form-error').textContent !== ` + string(q))
	if got := p.textOf("#group-form-error"); got != far {
		t.Errorf("the form shows %q, the api said %q", got, far)
	}
	if err := s.call(s.token, "GET", "/groups/contractors", nil, nil); err == nil {
		t.Error("contractors was created with a priority the api refuses")
	}
	p.keys(kb.Escape)
	p.waitFor(`!document.getElementById('group-form')`)
	if got := p.focusSettles("groups-new"); got != "groups-new" {
		t.Errorf("after Escape the focus is on %s, want New group", got)
	}

	// Add bob by hand.
	p.tabTo(`[aria-label="Members of staff"]`)
	p.keys(kb.Enter)
	p.waitFor(`document.activeElement.id === 'member-user'`)
	p.keys("b")
	p.tabTo("#member-add")
	p.keys(kb.Enter)
	p.waitStatus("bob added to staff.")
	if g := s.group("staff"); len(g.MemberList) != 1 || g.MemberList[0].User != "bob" || g.MemberList[0].Source != "local" {
		t.Fatalf("after Add the api has members %+v; want bob, by hand", g.MemberList)
	}
	if got := p.textOf(`#members-list tr[data-member="bob"] td:nth-child(2)`); got != "by hand" {
		t.Errorf("bob's membership shows as %q, want by hand", got)
	}
	p.waitFor(`document.querySelector('tr[data-group="staff"] td:nth-child(5)').textContent === '1'`)
	if got := p.focusSettles("member-user"); got != "member-user" {
		t.Errorf("after Add the focus is on %s, want the user field for the next one", got)
	}

	// bob's effective policy: web is staff's, with its clipboard.
	p.tabTo("#policy-user")
	p.keys("b")
	p.tabTo("#policy-show")
	p.keys(kb.Enter)
	p.waitStatus("Effective policy of bob: 2 of 2 workspaces granted.")
	if got := p.textOf(`#policy-result [data-workspace="web"] p`); got != "Granted by staff." {
		t.Errorf("web shows %q, want it granted by staff", got)
	}
	for field, want := range map[string][2]string{"clipboard": {"off", "group staff"}, "idle": {"1h", "group staff"}} {
		if v, src := p.effective("web", field); v != want[0] || src != want[1] {
			t.Errorf("bob's %s for web shows %q from %q, want %q from %q", field, v, src, want[0], want[1])
		}
	}
	if v, src := p.effective("aaa", "clipboard"); v != "both" || src != "workspace aaa" {
		t.Errorf("bob's clipboard for aaa (not staff's) shows %q from %q, want both from workspace aaa", v, src)
	}

	// Remove: Escape keeps him, the confirm button removes him.
	p.tabTo(`[aria-label="Remove bob from staff"]`)
	p.keys(kb.Enter)
	p.confirmDialog(false)
	if got := p.focusSettles("Remove bob from staff"); got != "Remove bob from staff" {
		t.Errorf("after Escape the focus is on %s, want the Remove button back", got)
	}
	if g := s.group("staff"); g.Members != 1 {
		t.Fatal("Escape on the confirmation removed bob")
	}
	p.keys(kb.Enter)
	p.confirmDialog(true)
	p.waitStatus("bob removed from staff.")
	if g := s.group("staff"); g.Members != 0 {
		t.Fatalf("bob is still a member after the confirmed removal: %+v", g.MemberList)
	}
	p.waitFor(`!document.querySelector('#members-list tr[data-member="bob"]')`)
	if got := p.focusSettles("group-members-title"); got != "group-members-title" {
		t.Errorf("after the removal the focus is on %s, want the members' heading", got)
	}
	p.tabTo("#policy-show")
	p.keys(kb.Enter)
	p.waitStatus("Effective policy of bob: 1 of 2 workspaces granted.")
	p.waitFor(`!!document.querySelector('#policy-result [data-workspace="web"][data-granted="false"]')`)

	// everyone is edited, never given members or deleted; staff is.
	var offered struct{ Edit, Members, Delete, StaffDelete bool }
	p.eval(`({
		Edit: !!document.querySelector('tr[data-group="everyone"] [aria-label="Edit everyone"]'),
		Members: !!document.querySelector('tr[data-group="everyone"] [aria-label^="Members"]'),
		Delete: !!document.querySelector('tr[data-group="everyone"] [aria-label^="Delete"]'),
		StaffDelete: !!document.querySelector('tr[data-group="staff"] [aria-label="Delete staff"]'),
	})`, &offered)
	if !offered.Edit || offered.Members || offered.Delete || !offered.StaffDelete {
		t.Errorf("buttons offered: %+v; want Edit alone for everyone, Delete for staff", offered)
	}
	p.tabTo(`[aria-label="Delete staff"]`)
	p.keys(kb.Enter)
	p.confirmDialog(true)
	p.waitStatus("Group staff deleted.")
	if err := s.call(s.token, "GET", "/groups/staff", nil, nil); err == nil || err.(*apiError).Status != 404 {
		t.Fatalf("GET /groups/staff after the delete: %v, want 404", err)
	}
	p.waitFor(`!document.querySelector('tr[data-group="staff"]') && !document.getElementById('group-members')`)
	if got := p.focusSettles("admin-title"); got != "admin-title" {
		t.Errorf("after the delete the focus is on %s, want the page's heading", got)
	}
}

// TestAdminGroupsEdit: the form edits a group the api made with a rule
// for one workspace; PUT replaces the whole group, so the rule must go
// back as it was (the form does not show it), the workspace unchecked
// goes, a policy field emptied is no longer set, and the members stay.
// The effective policy then names the rule as its source. Editing
// everyone keeps its name and offers no identity provider groups.
func TestAdminGroupsEdit(t *testing.T) {
	s := startServer(t)
	for _, ws := range []string{"aaa", "web"} {
		s.must("POST", "/workspaces", map[string]any{"name": ws, "image": "airlock/chromium:x"}, nil)
	}
	s.must("POST", "/users", map[string]any{"name": "bob", "password": "bob-password-1", "role": "user"}, nil)
	s.must("POST", "/groups", map[string]any{"name": "staff", "priority": 5,
		"workspaces": []map[string]any{{"workspace": "web", "policy": map[string]any{"clipboard": "from-container"}}, {"workspace": "aaa"}},
		"policy":     map[string]any{"idle_timeout": "2h", "downloads": false}, "idp_groups": []string{"Staff"}}, nil)
	s.must("PUT", "/groups/staff/members/bob", nil, nil)
	p := s.openPortal("admin", adminPassword)
	p.adminPage("groups", "Groups")
	if got, want := p.textOf(`tr[data-group="staff"] td:nth-child(3)`), "aaa, web (clipboard from-container)"; got != want {
		t.Errorf("the row says staff grants %q, want %q", got, want)
	}

	p.tabTo(`[aria-label="Edit staff"]`)
	p.keys(kb.Enter)
	p.waitFor(`document.activeElement.id === 'group-description'`)
	if got := p.textOf(`label[for="group-ws-web"]`); got != "web (with its own rules)" {
		t.Errorf("web's checkbox is labelled %q; want it to say it has rules", got)
	}
	p.keys("On staff.")
	p.tabTo("#group-ws-aaa")
	p.keys(" ")
	p.tabTo("#group-idle-timeout")
	p.keys(kb.Backspace + kb.Backspace)
	p.tabTo("#group-uploads")
	p.keys("b") // blocked
	p.tabTo("#group-save")
	p.keys(kb.Enter)
	p.waitStatus("Group staff saved.")
	g := s.group("staff")
	if g.Description != "On staff." || g.Priority != 5 || len(g.Workspaces) != 1 || g.Workspaces[0].Workspace != "web" ||
		!reflect.DeepEqual(g.Workspaces[0].Policy, map[string]any{"clipboard": "from-container"}) ||
		!reflect.DeepEqual(g.Policy, map[string]any{"downloads": false, "uploads": false}) ||
		!reflect.DeepEqual(g.IdPGroups, []string{"Staff"}) || g.Members != 1 {
		t.Fatalf("after the edit the api holds %+v; want web alone with its rule, downloads and uploads blocked, Staff, bob kept", g)
	}
	if got := p.focusSettles("Edit staff"); got != "Edit staff" {
		t.Errorf("after a save the focus is on %s, want the row's Edit button", got)
	}

	p.tabTo("#policy-user")
	p.keys("b")
	p.tabTo("#policy-show")
	p.keys(kb.Enter)
	p.waitStatus("Effective policy of bob: 2 of 2 workspaces granted.")
	for field, want := range map[string][2]string{
		"clipboard": {"from-container", "group staff, for workspace web"},
		"uploads":   {"blocked", "group staff"},
	} {
		if v, src := p.effective("web", field); v != want[0] || src != want[1] {
			t.Errorf("bob's %s for web shows %q from %q, want %q from %q", field, v, src, want[0], want[1])
		}
	}

	p.tabTo(`[aria-label="Edit everyone"]`)
	p.keys(kb.Enter)
	p.waitFor(`document.activeElement.id === 'group-description'`)
	var form struct{ ReadOnly, IdP bool }
	p.eval(`({ReadOnly: document.getElementById('group-name').readOnly, IdP: !!document.getElementById('group-idp')})`, &form)
	if !form.ReadOnly || form.IdP {
		t.Errorf("editing everyone: name read-only %v, identity provider field offered %v; want read-only and none", form.ReadOnly, form.IdP)
	}
	p.keys(kb.Escape)
	p.waitFor(`!document.getElementById('group-form')`)
	if got := p.focusSettles("Edit everyone"); got != "Edit everyone" {
		t.Errorf("after Escape the focus is on %s, want Edit everyone", got)
	}
}
