package portal_test

import (
	"reflect"
	"testing"

	"github.com/chromedp/chromedp/kb"
)

type workspaceJSON struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Image       string            `json:"image"`
	Isolation   string            `json:"isolation"`
	NodeLabels  map[string]string `json:"node_labels"`
	Memory      int64             `json:"memory"`
	NanoCPUs    int64             `json:"nano_cpus"`
	Idle        string            `json:"idle_timeout"`
	Clipboard   string            `json:"clipboard"`
}

// TestAdminWorkspaces drives the Workspaces page with the keyboard:
// New workspace opens the form, the fields are filled by Tab and typing
// (a select changed by typing its first letter), Enter on Save creates
// it; Edit refuses a bad duration with the api's own message in the
// form and then saves the fixed one; Delete goes through the
// confirmation. The api is asked each time what it holds.
func TestAdminWorkspaces(t *testing.T) {
	s := startServer(t)
	s.must("POST", "/workspaces", map[string]any{"name": "aaa-first", "image": "airlock/chromium:x"}, nil)
	p := s.openPortal("admin", adminPassword)
	p.adminPage("workspaces", "Workspaces")

	p.tabTo("#ws-new")
	p.keys(kb.Enter)
	p.waitFor(`document.activeElement.id === 'ws-name'`)
	p.keys("docs")
	p.keys(kb.Tab)
	p.keys("Documentation")
	p.keys(kb.Tab)
	p.keys("airlock/chromium:test")
	p.keys(kb.Tab)
	p.keys("h") // isolation: hardened
	p.tabTo("#ws-nano-cpus")
	p.keys("1.5")
	p.keys(kb.Tab)
	p.keys("512")
	p.tabTo("#ws-idle-timeout")
	p.keys("15m")
	p.tabTo("#ws-save")
	p.keys(kb.Enter)
	p.waitStatus("Workspace docs created.")
	var ws workspaceJSON
	s.must("GET", "/workspaces/docs", nil, &ws)
	if ws.Description != "Documentation" || ws.Image != "airlock/chromium:test" || ws.Isolation != "hardened" ||
		ws.NanoCPUs != 1.5e9 || ws.Memory != 512<<20 || ws.Idle != "15m" || ws.Clipboard != "both" {
		t.Fatalf("the api holds %+v after the form", ws)
	}
	if got := p.focusSettles("ws-new"); got != "ws-new" {
		t.Errorf("after a create the focus is on %s, want New workspace", got)
	}

	// Edit: a refusal in the form, as the api words it; nothing changes.
	want := s.refusal("PATCH", "/workspaces/docs", map[string]any{"idle_timeout": "soon"})
	p.tabTo(`[aria-label="Edit docs"]`)
	p.keys(kb.Enter)
	p.waitFor(`document.activeElement.id === 'ws-description'`)
	p.tabTo("#ws-idle-timeout")
	p.keys(kb.Backspace + kb.Backspace + kb.Backspace + "soon")
	p.tabTo("#ws-save")
	p.keys(kb.Enter)
	p.waitFor(`!document.getElementById('ws-form-error').hidden`)
	if got := p.textOf("#ws-form-error"); got != want {
		t.Errorf("the form shows %q, the api said %q", got, want)
	}
	s.must("GET", "/workspaces/docs", nil, &ws)
	if ws.Idle != "15m" {
		t.Fatalf("a refused edit changed idle_timeout to %q", ws.Idle)
	}
	// Node labels set elsewhere (the CLI) stay through the form's save,
	// and show in the list it redraws.
	s.must("PATCH", "/workspaces/docs", map[string]any{"node_labels": map[string]string{"zone": "eu"}}, nil)
	// Fixed, and the clipboard turned off by typing into its select.
	p.tabTo("#ws-clipboard")
	p.keys("o")
	p.tabTo("#ws-idle-timeout")
	p.keys(kb.Backspace + kb.Backspace + kb.Backspace + kb.Backspace + "20m")
	p.tabTo("#ws-save")
	p.keys(kb.Enter)
	p.waitStatus("Workspace docs saved.")
	s.must("GET", "/workspaces/docs", nil, &ws)
	if ws.Idle != "20m" || ws.Clipboard != "off" || ws.Memory != 512<<20 || ws.Description != "Documentation" {
		t.Fatalf("after the edit the api holds %+v; want idle 20m, clipboard off, the rest kept", ws)
	}
	if got := p.focusSettles("Edit docs"); got != "Edit docs" {
		t.Errorf("after a save the focus is on %s, want the row's Edit button", got)
	}
	if !reflect.DeepEqual(ws.NodeLabels, map[string]string{"zone": "eu"}) {
		t.Errorf("after the form's save the node labels are %v, want zone=eu kept", ws.NodeLabels)
	}
	p.waitFor(`document.querySelector('[data-workspace="docs"]').textContent.includes('on nodes with zone=eu')`)

	// Escape closes the form and gives the focus back to its opener.
	p.keys(kb.Enter)
	p.waitFor(`!!document.getElementById('ws-form')`)
	p.keys(kb.Escape)
	p.waitFor(`!document.getElementById('ws-form')`)
	if got := p.focusSettles("Edit docs"); got != "Edit docs" {
		t.Errorf("after Escape the focus is on %s, want Edit docs", got)
	}

	p.tabTo(`[aria-label="Delete docs"]`)
	p.keys(kb.Enter)
	p.confirmDialog(true)
	p.waitStatus("Workspace docs deleted.")
	if err := s.call(s.token, "GET", "/workspaces/docs", nil, nil); err == nil || err.(*apiError).Status != 404 {
		t.Fatalf("GET /workspaces/docs after the delete: %v, want 404", err)
	}
}
