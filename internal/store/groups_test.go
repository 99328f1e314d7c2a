package store

import (
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

func names(gs []*airlock.Group) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.Name
	}
	return out
}

// testGroups: groups with their grants and policies read back whole; the
// built-in everyone is there, grants all, takes no members and cannot go;
// a workspace's or a user's deletion takes their grants and memberships.
func testGroups(t *testing.T, db *DB) {
	ctx := t.Context()
	mkUser(t, db, "u1", "alice")
	mkUser(t, db, "u2", "bob")
	for _, w := range []*airlock.Workspace{{ID: "w1", Name: "web"}, {ID: "w2", Name: "docs"}} {
		w.Image, w.Isolation = "x", airlock.IsolationStandard
		must(t, db.CreateWorkspace(ctx, w))
	}
	everyone, err := db.GroupByName(ctx, airlock.GroupEveryone)
	must(t, err)
	if !everyone.AllWorkspaces || everyone.ID != airlock.GroupEveryone {
		t.Fatalf("everyone: %+v; want it to grant all workspaces", everyone)
	}
	off := airlock.ClipboardOff
	staff := &airlock.Group{ID: "g1", Name: "staff", Description: "Staff.", Priority: 10,
		Policy:    airlock.Policy{MaxSessions: ptr(5), Idle: ptr(time.Hour), Downloads: ptr(true)},
		Grants:    []airlock.Grant{{WorkspaceID: "w2"}, {WorkspaceID: "w1", Policy: airlock.Policy{Clipboard: &off}}},
		IdPGroups: []string{"cn=staff,ou=groups", "Staff"}}
	must(t, db.CreateGroup(ctx, staff))
	got, err := db.GroupByName(ctx, "staff")
	must(t, err)
	want := *staff
	want.CreatedAt, want.UpdatedAt = clock, clock
	// By workspace name.
	want.Grants = []airlock.Grant{{WorkspaceID: "w2", WorkspaceName: "docs"}, {WorkspaceID: "w1", WorkspaceName: "web", Policy: airlock.Policy{Clipboard: &off}}}
	same(t, got, &want)

	must(t, db.CreateGroup(ctx, &airlock.Group{ID: "g2", Name: "contractors", Priority: 10}))
	all, err := db.ListGroups(ctx)
	must(t, err)
	same(t, names(all), []string{"contractors", "staff", "everyone"})

	// Members.
	must(t, db.AddGroupMember(ctx, "g1", "u1", t0))
	must(t, db.AddGroupMember(ctx, "g1", "u1", t0)) // again: no error
	mine, err := db.GroupsOfUser(ctx, "u1")
	must(t, err)
	same(t, names(mine), []string{"staff", "everyone"})
	theirs, err := db.GroupsOfUser(ctx, "u2")
	must(t, err)
	same(t, names(theirs), []string{"everyone"})
	ms, err := db.GroupMembers(ctx, "g1")
	must(t, err)
	same(t, ms, []airlock.GroupMember{{UserID: "u1", UserName: "alice", Source: airlock.MemberLocal, Since: t0}})

	// Single sign-on memberships are replaced; those by hand stay.
	must(t, db.SetSSOGroups(ctx, "u1", []string{"g1", "g2"}, t0))
	must(t, db.SetSSOGroups(ctx, "u2", []string{"g2"}, t0))
	must(t, db.SetSSOGroups(ctx, "u2", []string{"g2"}, clock)) // again: since stays t0
	ms, err = db.GroupMembers(ctx, "g2")
	must(t, err)
	same(t, ms, []airlock.GroupMember{{UserID: "u1", UserName: "alice", Source: airlock.MemberSSO, Since: t0},
		{UserID: "u2", UserName: "bob", Source: airlock.MemberSSO, Since: t0}})
	must(t, db.SetSSOGroups(ctx, "u1", nil, clock))
	mine, err = db.GroupsOfUser(ctx, "u1")
	must(t, err)
	same(t, names(mine), []string{"staff", "everyone"}) // by hand: kept

	// Update: name, policy and grants replaced; members stay.
	got.Name, got.Priority, got.Policy = "employees", 5, airlock.Policy{}
	got.Grants, got.AllWorkspaces = []airlock.Grant{{WorkspaceID: "w1"}}, false
	must(t, db.UpdateGroup(ctx, got))
	again, err := db.GroupByName(ctx, "employees")
	must(t, err)
	same(t, again.Grants, []airlock.Grant{{WorkspaceID: "w1", WorkspaceName: "web"}})
	if again.Policy != (airlock.Policy{}) {
		t.Errorf("policy after update: %+v; want none", again.Policy)
	}
	ms, err = db.GroupMembers(ctx, "g1")
	must(t, err)
	if len(ms) != 1 {
		t.Errorf("members after update: %+v; want alice still", ms)
	}

	// A workspace's deletion takes its grants; a user's, their memberships.
	must(t, db.DeleteWorkspace(ctx, "w1"))
	again, err = db.GroupByName(ctx, "employees")
	must(t, err)
	if len(again.Grants) != 0 {
		t.Errorf("grants after the workspace's deletion: %+v", again.Grants)
	}
	must(t, db.DeleteUser(ctx, "u1"))
	ms, err = db.GroupMembers(ctx, "g1")
	must(t, err)
	if len(ms) != 0 {
		t.Errorf("members after the user's deletion: %+v", ms)
	}
	must(t, db.DeleteGroup(ctx, "g2"))
	theirs, err = db.GroupsOfUser(ctx, "u2")
	must(t, err)
	same(t, names(theirs), []string{"everyone"})

	for _, tc := range []struct {
		name string
		call func() error
		code string
	}{
		{"err/duplicate-name", func() error { return db.CreateGroup(ctx, &airlock.Group{ID: "g9", Name: "employees"}) }, airlock.ECONFLICT},
		{"err/rename-onto-another", func() error { e := *everyone; e.Name = "employees"; return db.UpdateGroup(ctx, &e) }, airlock.ECONFLICT},
		{"err/grant-unknown-workspace", func() error {
			return db.CreateGroup(ctx, &airlock.Group{ID: "g8", Name: "ghosts", Grants: []airlock.Grant{{WorkspaceID: "nope"}}})
		}, airlock.ENOTFOUND},
		{"err/update-unknown", func() error { return db.UpdateGroup(ctx, &airlock.Group{ID: "nope", Name: "nope"}) }, airlock.ENOTFOUND},
		{"err/delete-everyone", func() error { return db.DeleteGroup(ctx, airlock.GroupEveryone) }, airlock.ECONFLICT},
		{"err/delete-unknown", func() error { return db.DeleteGroup(ctx, "nope") }, airlock.ENOTFOUND},
		{"err/member-of-everyone", func() error { return db.AddGroupMember(ctx, airlock.GroupEveryone, "u2", t0) }, airlock.EINVALID},
		{"err/member-unknown-user", func() error { return db.AddGroupMember(ctx, "g1", "nope", t0) }, airlock.ENOTFOUND},
		{"err/remove-non-member", func() error { return db.RemoveGroupMember(ctx, "g1", "u2") }, airlock.ENOTFOUND},
		{"err/sso-unknown-group", func() error { return db.SetSSOGroups(ctx, "u2", []string{"nope"}, t0) }, airlock.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}
	// The failed grant wrote nothing.
	if _, err := db.GroupByName(ctx, "ghosts"); airlock.ErrorCode(err) != airlock.ENOTFOUND {
		t.Errorf("a group whose grant was refused was stored: %v", err)
	}
}

// testSessionPolicy: a session's policy, at creation and at a warm
// hand-out, reads back.
func testSessionPolicy(t *testing.T, db *DB) {
	ctx := t.Context()
	off := airlock.ClipboardOff
	p := airlock.Policy{Idle: ptr(time.Minute), Clipboard: &off, Uploads: ptr(false)}
	s := mkSession(t, db, &airlock.Session{ID: "s1", State: airlock.SessionStarting, Policy: p})
	got, err := db.SessionByID(ctx, s.ID)
	must(t, err)
	same(t, got.Policy, p)
	none := mkSession(t, db, &airlock.Session{ID: "s2", State: airlock.SessionStarting})
	got, err = db.SessionByID(ctx, none.ID)
	must(t, err)
	same(t, got.Policy, airlock.Policy{})
}
