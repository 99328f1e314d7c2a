package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// groupsEnv is sessionEnv with a node, a workspace only some may launch
// (grants change it below) and the user alice.
func groupsEnv(t *testing.T) *env {
	e := sessionEnv(t)
	e.addNode("n1", 10)
	return e
}

func (e *env) putGroup(method, path string, body map[string]any, status int) groupView {
	e.t.Helper()
	rec := e.do(req{Method: method, Path: path, Bearer: e.adminTok, Body: body})
	wantStatus(e.t, rec, status)
	var v groupView
	if status < 300 {
		mustJSON(e.t, rec, &v)
	}
	return v
}

func (e *env) member(group, user string) {
	e.t.Helper()
	wantStatus(e.t, e.do(req{Method: "PUT", Path: "/api/v1/groups/" + group + "/members/" + user, Bearer: e.adminTok}), http.StatusNoContent)
}

// TestGroupsAPI: groups are created, read, replaced and deleted by an
// administrator, with their grants by workspace name and their policy;
// members are added and removed; bad input is refused saying what.
func TestGroupsAPI(t *testing.T) {
	e := groupsEnv(t)
	created := e.putGroup("POST", "/api/v1/groups", map[string]any{"name": "staff", "priority": 10, "description": "Staff.",
		"workspaces": []map[string]any{{"workspace": "web", "policy": map[string]any{"clipboard": "off"}}, {"workspace": "full"}},
		"policy":     map[string]any{"max_sessions": 4, "idle_timeout": "1h", "downloads": true}, "idp_groups": []string{"Staff"}}, http.StatusCreated)
	if created.ID == "" || len(created.Workspaces) != 2 || *created.Policy.MaxSessions != 4 {
		t.Fatalf("created %+v", created)
	}
	e.member("staff", "alice")
	var got groupDetail
	rec := e.do(req{Method: "GET", Path: "/api/v1/groups/staff", Bearer: e.adminTok})
	wantStatus(t, rec, http.StatusOK)
	mustJSON(t, rec, &got)
	if got.Members != 1 || len(got.MemberList) != 1 || got.MemberList[0].User != "alice" || got.MemberList[0].Source != "local" {
		t.Errorf("members %d %+v; want alice, by hand", got.Members, got.MemberList)
	}
	ws := []string{}
	for _, g := range got.Workspaces {
		ws = append(ws, g.Workspace)
	}
	if strings.Join(ws, ",") != "full,web" || got.Workspaces[1].Policy == nil || *got.Workspaces[1].Policy.Clipboard != "off" {
		t.Errorf("workspaces %+v; want full and web (clipboard off)", got.Workspaces)
	}
	var list []groupView
	rec = e.do(req{Method: "GET", Path: "/api/v1/groups", Bearer: e.adminTok})
	wantStatus(t, rec, http.StatusOK)
	mustJSON(t, rec, &list)
	if len(list) != 2 || list[0].Name != "staff" || list[1].Name != "everyone" || !list[1].BuiltIn || list[1].Members != 2 {
		t.Errorf("list %+v; want staff, then everyone (built in, both users)", list)
	}
	// Replaced whole: the policy goes, members stay.
	put := e.putGroup("PUT", "/api/v1/groups/staff", map[string]any{"name": "employees", "priority": 5, "all_workspaces": true}, http.StatusOK)
	if put.Name != "employees" || put.Policy != nil || len(put.Workspaces) != 0 || put.Members != 1 {
		t.Errorf("after PUT: %+v", put)
	}
	audit := e.lastEvent("group.update")
	if audit.Target != "employees" || audit.Detail != "grants all workspaces" {
		t.Errorf("audit %+v", audit)
	}
	wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/groups/employees/members/alice", Bearer: e.adminTok}), http.StatusNoContent)

	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   map[string]any
		status int
		msg    string
	}{
		{"err/unknown-workspace", "POST", "/api/v1/groups", map[string]any{"name": "x", "workspaces": []map[string]any{{"workspace": "nope"}}},
			http.StatusBadRequest, `grants workspace "nope", which does not exist`},
		{"err/bad-name", "POST", "/api/v1/groups", map[string]any{"name": "Bad Name"}, http.StatusBadRequest, "group name"},
		{"err/duplicate", "POST", "/api/v1/groups", map[string]any{"name": "employees"}, http.StatusConflict, "employees"},
		{"err/bad-clipboard", "POST", "/api/v1/groups", map[string]any{"name": "x", "policy": map[string]any{"clipboard": "sideways"}},
			http.StatusBadRequest, `clipboard "sideways"`},
		{"err/bad-duration", "POST", "/api/v1/groups", map[string]any{"name": "x", "policy": map[string]any{"idle_timeout": "soon"}},
			http.StatusBadRequest, `"soon"`},
		{"err/unknown-field", "POST", "/api/v1/groups", map[string]any{"name": "x", "members": []string{"alice"}}, http.StatusBadRequest, "members"},
		{"err/rename-everyone", "PUT", "/api/v1/groups/everyone", map[string]any{"name": "all"}, http.StatusBadRequest, "keeps its name"},
		{"err/delete-everyone", "DELETE", "/api/v1/groups/everyone", nil, http.StatusConflict, "built in"},
		{"err/member-of-everyone", "PUT", "/api/v1/groups/everyone/members/alice", nil, http.StatusBadRequest, "takes no members"},
		{"err/member-unknown-user", "PUT", "/api/v1/groups/employees/members/nobody", nil, http.StatusNotFound, "nobody"},
		{"err/not-a-member", "DELETE", "/api/v1/groups/employees/members/alice", nil, http.StatusNotFound, "not a member"},
		{"err/unknown-group", "GET", "/api/v1/groups/nope", nil, http.StatusNotFound, "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(req{Method: tc.method, Path: tc.path, Bearer: e.adminTok, Body: tc.body})
			var answer struct{ Message string }
			_ = json.Unmarshal(rec.Body.Bytes(), &answer)
			if rec.Code != tc.status || !strings.Contains(answer.Message, tc.msg) {
				t.Fatalf("%d %s; want %d containing %q", rec.Code, rec.Body, tc.status, tc.msg)
			}
		})
	}
	wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/groups/employees", Bearer: e.adminTok}), http.StatusNoContent)
}

// TestGroupGrants: once everyone no longer grants every workspace, a
// user sees and launches only the workspaces a group of theirs grants;
// a launch of another is refused saying why, and an administrator's
// listing marks what they themselves may launch.
func TestGroupGrants(t *testing.T) {
	e := groupsEnv(t)
	e.putGroup("PUT", "/api/v1/groups/everyone", map[string]any{"workspaces": []map[string]any{{"workspace": "web"}}}, http.StatusOK)
	e.putGroup("POST", "/api/v1/groups", map[string]any{"name": "power", "workspaces": []map[string]any{{"workspace": "full"}}}, http.StatusCreated)

	catalog := func(tok string) string {
		var list []workspaceSpec
		rec := e.do(req{Method: "GET", Path: "/api/v1/workspaces", Bearer: tok})
		wantStatus(t, rec, http.StatusOK)
		mustJSON(t, rec, &list)
		var names []string
		for _, w := range list {
			n := w.Name
			if w.Granted != nil && !*w.Granted {
				n += "(not granted)"
			}
			names = append(names, n)
		}
		return strings.Join(names, ",")
	}
	if got := catalog(e.userTok); got != "web" {
		t.Errorf("alice's catalog: %s; want web alone", got)
	}
	if got := catalog(e.adminTok); got != "full(not granted),sbx(not granted),web" {
		t.Errorf("the admin's catalog: %s", got)
	}
	rec := e.do(req{Method: "POST", Path: "/api/v1/sessions", Bearer: e.userTok, Body: map[string]string{"workspace": "full"}})
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "workspace full is not granted to you: none of your groups (everyone) grants it") {
		t.Fatalf("launch of an ungranted workspace: %d %s", rec.Code, rec.Body)
	}
	if rec := e.do(req{Method: "GET", Path: "/api/v1/workspaces/full", Bearer: e.userTok}); rec.Code != http.StatusNotFound {
		t.Errorf("an ungranted workspace shown to alice: %d %s", rec.Code, rec.Body)
	}
	e.member("power", "alice")
	if got := catalog(e.userTok); got != "full,web" {
		t.Errorf("alice's catalog as a member of power: %s", got)
	}
	e.createSession(e.userTok, "full")
}

// TestGroupPolicyApplies: a session runs under its user's groups'
// policy: the clipboard the agent is started with and the viewer told,
// the downloads Chromium allows, the idle end, and the bound on sessions;
// the effective policy names where each value came from.
func TestGroupPolicyApplies(t *testing.T) {
	e := groupsEnv(t)
	e.putGroup("POST", "/api/v1/groups", map[string]any{"name": "locked", "priority": 1, "all_workspaces": true,
		"workspaces": []map[string]any{{"workspace": "web", "policy": map[string]any{"clipboard": "off"}}},
		"policy":     map[string]any{"idle_timeout": "2m", "max_sessions": 1, "downloads": false}}, http.StatusCreated)
	e.member("locked", "alice")

	v := e.createSession(e.userTok, "web")
	call := e.launched(v.ID)
	if c, _ := envValue(call.Spec.Env, "AIRLOCK_CLIPBOARD"); c != "off" {
		t.Errorf("the agent's clipboard: %q; want off (group locked, for workspace web)", c)
	}
	if p, _ := envValue(call.Spec.Env, "AIRLOCK_CHROMIUM_POLICY"); !strings.Contains(p, `"DownloadRestrictions":3`) {
		t.Errorf("Chromium's policy does not block downloads: %s", p)
	}
	if s := e.session(v.ID); s.Policy.Idle == nil || *s.Policy.Idle != 2*time.Minute {
		t.Errorf("the session keeps policy %+v; want idle 2m", s.Policy)
	}
	// The bound on sessions is the group's: 1.
	rec := e.do(req{Method: "POST", Path: "/api/v1/sessions", Bearer: e.userTok, Body: map[string]string{"workspace": "full"}})
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "your limit is 1") {
		t.Errorf("a second session over the group's bound of 1: %d %s", rec.Code, rec.Body)
	}

	// The effective policy, with its sources.
	var pol userPolicyView
	rec = e.do(req{Method: "GET", Path: "/api/v1/users/alice/policy?workspace=web", Bearer: e.adminTok})
	wantStatus(t, rec, http.StatusOK)
	mustJSON(t, rec, &pol)
	if strings.Join(pol.Groups, ",") != "locked,everyone" || pol.MaxSessions != 1 || len(pol.Workspaces) != 1 {
		t.Fatalf("policy %+v", pol)
	}
	fields := map[string]string{}
	for _, f := range pol.Workspaces[0].Fields {
		fields[f.Name] = f.Value + " (" + f.Source.Text + ")"
	}
	for name, want := range map[string]string{
		"clipboard":    "off (group locked, for workspace web)",
		"idle":         "2m (group locked)",
		"downloads":    "blocked (group locked)",
		"max_sessions": "1 (group locked)",
		"lifetime":     "12h (the deployment's default)",
	} {
		if fields[name] != want {
			t.Errorf("%s: %q; want %q", name, fields[name], want)
		}
	}
	// Alice sees her own, the same.
	var mine userPolicyView
	rec = e.do(req{Method: "GET", Path: "/api/v1/me/policy", Bearer: e.userTok})
	wantStatus(t, rec, http.StatusOK)
	mustJSON(t, rec, &mine)
	if mine.User != "alice" || len(mine.Workspaces) != 3 || mine.MaxSessions != 1 {
		t.Errorf("alice's own policy: %+v", mine)
	}
}

// TestGroupPolicyIdleEnds: the idle end a group sets is the one the
// session's view reports and the lifecycle ends it by.
func TestGroupPolicyIdleEnds(t *testing.T) {
	e := groupsEnv(t)
	e.putGroup("PUT", "/api/v1/groups/everyone", map[string]any{"all_workspaces": true, "policy": map[string]any{"idle_timeout": "3m"}}, http.StatusOK)
	v := e.createSession(e.userTok, "web")
	e.launched(v.ID)
	if v.EndsAt == nil || v.EndsFor != string(airlock.EndIdle) || v.EndsAt.Sub(e.clk.Now()) != 3*time.Minute {
		t.Fatalf("the session ends at %v for %s; want idle, in 3m", v.EndsAt, v.EndsFor)
	}
}

// TestGroupPolicyWarmHandout: a warm session, made under the workspace's
// own clipboard rule, goes to a user whose groups set no other; a user
// whose groups set another gets a cold launch, and the warm one stays.
func TestGroupPolicyWarmHandout(t *testing.T) {
	e := groupsEnv(t)
	n := e.addNode("n2", 10)
	ws, err := e.st.WorkspaceByName(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	warm := func() *airlock.Session {
		now := e.clk.Now()
		s := &airlock.Session{ID: newID(), WorkspaceID: ws.ID, NodeID: n.ID, ContainerID: "c-" + newID(), State: airlock.SessionWarm,
			CreatedAt: now, UpdatedAt: now, ReadyAt: &now, PooledAt: &now}
		if err := e.st.CreateSession(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	w1 := warm()
	_, bobTok := e.addUser("bob", 0)
	e.putGroup("POST", "/api/v1/groups", map[string]any{"name": "locked", "all_workspaces": true,
		"policy": map[string]any{"clipboard": "off"}}, http.StatusCreated)
	e.member("locked", "alice")

	v := e.createSession(e.userTok, "web")
	if v.ID == w1.ID || v.State == string(airlock.SessionReady) {
		t.Fatalf("alice (clipboard off) got %s, %s; want a cold launch, not the warm session", v.ID, v.State)
	}
	if s := e.session(w1.ID); s.State != airlock.SessionWarm {
		t.Fatalf("the warm session is %s after alice's launch; want it still warm", s.State)
	}
	v = e.createSession(bobTok, "web")
	if v.ID != w1.ID || v.State != string(airlock.SessionReady) {
		t.Fatalf("bob (the workspace's rules) got %s, %s; want the warm session %s, ready", v.ID, v.State, w1.ID)
	}
}
