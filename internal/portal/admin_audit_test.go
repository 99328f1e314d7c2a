package portal_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp/kb"
)

// TestAdminAudit drives the Audit log page with the keyboard: an action
// filter and a page size typed into the form and applied with Enter
// list what the api lists for the same query; Older events pages on
// with the api's cursor; the export link carries the filter (and no
// paging) and downloads the same events; Verify chain shows the
// server's verdict.
func TestAdminAudit(t *testing.T) {
	s := startServer(t)
	for _, name := range []string{"ann", "ben", "cat"} {
		s.must("POST", "/users", map[string]any{"name": name, "password": name + "-password-1"}, nil)
	}
	p := s.openPortal("admin", adminPassword)
	p.adminPage("audit", "Audit log")

	p.tabTo("#audit-action")
	p.keys("user.create")
	p.tabTo("#audit-limit")
	p.keys(kb.Backspace + kb.Backspace + "2" + kb.Enter)
	p.waitStatus("2 events shown.")
	type list struct {
		Events []struct {
			ID     int64  `json:"id"`
			Action string `json:"action"`
		} `json:"events"`
		NextBefore int64 `json:"next_before"`
	}
	var first, second list
	s.must("GET", "/audit?action=user.create&limit=2", nil, &first)
	s.must("GET", fmt.Sprintf("/audit?action=user.create&limit=2&before=%d", first.NextBefore), nil, &second)
	if len(first.Events) != 2 || len(second.Events) != 1 || first.NextBefore == 0 {
		t.Fatalf("the api lists %+v then %+v; want 2 then 1 user.create events", first, second)
	}
	shown := func() string {
		var ids string
		p.eval(`[...document.querySelectorAll('#audit-list tr')].map(r => r.dataset.event + ':' + r.children[3].textContent).join(' ')`, &ids)
		return ids
	}
	want := fmt.Sprintf("%d:user.create %d:user.create", first.Events[0].ID, first.Events[1].ID)
	if got := shown(); got != want {
		t.Fatalf("the page lists %q, the api %q", got, want)
	}

	p.tabTo("#audit-older")
	p.keys(kb.Enter)
	p.waitStatus("1 older event added.")
	want += fmt.Sprintf(" %d:user.create", second.Events[0].ID)
	if got := shown(); got != want {
		t.Fatalf("after Older the page lists %q, the api %q", got, want)
	}
	var olderHidden bool
	p.eval(`document.getElementById('audit-older').hidden`, &olderHidden)
	if !olderHidden {
		t.Error("Older events is still offered on the last page")
	}

	var href string
	p.eval(`document.getElementById('audit-export').getAttribute('href')`, &href)
	if href != "/api/v1/audit/export?action=user.create" {
		t.Errorf("the export link is %q", href)
	}
	var lines string
	p.run(evalAwait(`fetch(document.getElementById('audit-export').href).then(r => r.text())`, &lines))
	got := strings.Split(strings.TrimSpace(lines), "\n")
	if len(got) != 3 || strings.Count(lines, `"action":"user.create"`) != 3 {
		t.Errorf("the export downloaded %d lines, want the 3 user.create events:\n%s", len(got), lines)
	}

	p.tabTo("#audit-verify")
	p.keys(kb.Enter)
	p.waitFor(`!document.getElementById('audit-verdict').hidden`)
	if got := p.textOf("#audit-verdict"); !strings.HasPrefix(got, "The chain holds: ") {
		t.Errorf("Verify chain says %q", got)
	}
	p.waitStatus("Audit chain verified: it holds.")
}
