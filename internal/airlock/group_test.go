package airlock

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func ptrTo[T any](v T) *T { return &v }

// field is the effective field of that name.
func field(t *testing.T, e *Effective, name string) EffectiveField {
	t.Helper()
	for _, f := range e.Fields {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no field %s in %+v", name, e.Fields)
	return EffectiveField{}
}

// TestResolve: for each field the most specific rule wins (user, then a
// group's rule for the workspace, then a group's rule, then the
// workspace, then the deployment), the lowest priority among groups at
// one level; only the groups that grant the workspace count, except for
// the bound on sessions, which is the user's whatever the workspace.
func TestResolve(t *testing.T) {
	off, to := ClipboardOff, ClipboardToContainer
	ws := &Workspace{ID: "w1", Name: "web", Clipboard: ClipboardBoth, Limits: Limits{Idle: 10 * time.Minute}}
	ws.Browser.Downloads.Allowed = true
	defaults := DefaultLimits
	everyone := &Group{ID: GroupEveryone, Name: GroupEveryone, Priority: 1000000, AllWorkspaces: true}
	staff := &Group{ID: "g1", Name: "staff", Priority: 10, AllWorkspaces: true,
		Policy: Policy{Idle: ptrTo(time.Hour), Clipboard: &to, MaxSessions: ptrTo(4)}}
	webOff := &Group{ID: "g2", Name: "web-off", Priority: 50, Grants: []Grant{{WorkspaceID: "w1", Policy: Policy{Clipboard: &off}}}}
	early := &Group{ID: "g3", Name: "early", Priority: 1, AllWorkspaces: true, Policy: Policy{Idle: ptrTo(2 * time.Hour)}}
	other := &Group{ID: "g4", Name: "other", Priority: 0, Grants: []Grant{{WorkspaceID: "w9"}}, Policy: Policy{Downloads: ptrTo(false), MaxSessions: ptrTo(9)}}
	u := &User{Name: "alice"}
	for _, tc := range []struct {
		name    string
		user    *User
		groups  []*Group
		granted []string
		want    map[string]string // field: value (source text)
		policy  Policy
		maxSess int
	}{
		{name: "ok/everyone-only", user: u, groups: []*Group{everyone}, granted: []string{"everyone"},
			want: map[string]string{"idle": "10m (workspace web)", "clipboard": "both (workspace web)", "lifetime": "12h (the deployment's default)",
				"max_sessions": "3 (the deployment's default)", "downloads": "allowed (workspace web)", "uploads": "blocked (workspace web)"},
			maxSess: 3},
		{name: "ok/group-over-workspace", user: u, groups: []*Group{everyone, staff}, granted: []string{"staff", "everyone"},
			want:   map[string]string{"idle": "1h (group staff)", "clipboard": "to-container (group staff)", "max_sessions": "4 (group staff)"},
			policy: Policy{Idle: ptrTo(time.Hour), Clipboard: &to}, maxSess: 4},
		{name: "ok/group-workspace-over-group", user: u, groups: []*Group{staff, webOff, everyone}, granted: []string{"staff", "web-off", "everyone"},
			want:   map[string]string{"clipboard": "off (group web-off, for workspace web)", "idle": "1h (group staff)"},
			policy: Policy{Idle: ptrTo(time.Hour), Clipboard: &off}, maxSess: 4},
		{name: "ok/lowest-priority-wins", user: u, groups: []*Group{staff, early, everyone}, granted: []string{"early", "staff", "everyone"},
			want:   map[string]string{"idle": "2h (group early)", "clipboard": "to-container (group staff)"},
			policy: Policy{Idle: ptrTo(2 * time.Hour), Clipboard: &to}, maxSess: 4},
		// other does not grant web: its downloads rule does not apply,
		// but its bound on sessions does (it counts every session).
		{name: "ok/non-granting-group-only-bounds-sessions", user: u, groups: []*Group{other, everyone}, granted: []string{"everyone"},
			want: map[string]string{"downloads": "allowed (workspace web)", "max_sessions": "9 (group other)"}, maxSess: 9},
		{name: "ok/user-bound-first", user: &User{Name: "bob", MaxSessions: 1}, groups: []*Group{staff}, granted: []string{"staff"},
			want:   map[string]string{"max_sessions": "1 (user bob)"},
			policy: Policy{Idle: ptrTo(time.Hour), Clipboard: &to}, maxSess: 1},
		{name: "ok/not-granted", user: u, groups: []*Group{other}, granted: nil,
			want: map[string]string{"idle": "10m (workspace web)"}, maxSess: 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Resolve(tc.user, tc.groups, ws, defaults, 3)
			if strings.Join(e.GrantedBy, ",") != strings.Join(tc.granted, ",") {
				t.Errorf("granted by %v, want %v", e.GrantedBy, tc.granted)
			}
			for name, want := range tc.want {
				f := field(t, e, name)
				if got := f.Value + " (" + f.Source.Text + ")"; got != want {
					t.Errorf("%s: %s, want %s", name, got, want)
				}
			}
			if !reflect.DeepEqual(e.Policy, tc.policy) {
				t.Errorf("policy for the session %+v, want %+v", e.Policy, tc.policy)
			}
			if e.MaxSessions != tc.maxSess {
				t.Errorf("max sessions %d, want %d", e.MaxSessions, tc.maxSess)
			}
		})
	}
}

func TestPolicyApply(t *testing.T) {
	off := ClipboardOff
	ws := &Workspace{Name: "web", Clipboard: ClipboardBoth, Limits: Limits{Idle: 10 * time.Minute, ViewerIdle: 20 * time.Minute, Lifetime: 8 * time.Hour}}
	got := Policy{Idle: ptrTo(time.Hour), MaxLifetime: ptrTo(4 * time.Hour), Clipboard: &off, Uploads: ptrTo(true)}.Apply(ws)
	want := Limits{Idle: time.Hour, ViewerIdle: time.Hour, Lifetime: 4 * time.Hour, MaxLifetime: 4 * time.Hour}
	if got.Limits != want || got.Clipboard != ClipboardOff || !got.Browser.Uploads.Allowed {
		t.Fatalf("applied: limits %+v clipboard %s uploads %v; want %+v off true", got.Limits, got.Clipboard, got.Browser.Uploads.Allowed, want)
	}
	if ws.Limits.Idle != 10*time.Minute || ws.Clipboard != ClipboardBoth {
		t.Fatal("Apply changed the workspace it was given")
	}
	if l := got.Limits.Or(DefaultLimits); l.Lifetime > l.MaxLifetime || l.Idle > l.ViewerIdle {
		t.Fatalf("limits after the defaults are inconsistent: %+v", l)
	}
}

func TestGroupValidate(t *testing.T) {
	bad := ClipboardPolicy("sideways")
	for _, tc := range []struct {
		name string
		g    Group
		want string // in the error; "" for none
	}{
		{"ok/plain", Group{Name: "staff"}, ""},
		{"ok/policy", Group{Name: "staff", Policy: Policy{MaxSessions: ptrTo(2), Idle: ptrTo(time.Minute)}}, ""},
		{"err/name", Group{Name: "Staff!"}, "group name"},
		{"err/max-sessions", Group{Name: "staff", Policy: Policy{MaxSessions: ptrTo(0)}}, "max_sessions 0 is out of range"},
		{"err/idle", Group{Name: "staff", Policy: Policy{Idle: ptrTo(time.Millisecond)}}, "idle 1ms is out of range"},
		{"err/lifetimes", Group{Name: "staff", Policy: Policy{Lifetime: ptrTo(time.Hour), MaxLifetime: ptrTo(time.Minute)}}, "shorter than lifetime"},
		{"err/clipboard", Group{Name: "staff", Policy: Policy{Clipboard: &bad}}, `clipboard "sideways"`},
		{"err/sessions-per-workspace", Group{Name: "staff", Grants: []Grant{{WorkspaceID: "w1", WorkspaceName: "web", Policy: Policy{MaxSessions: ptrTo(1)}}}},
			"set it on the group, not for one workspace"},
		{"err/twice", Group{Name: "staff", Grants: []Grant{{WorkspaceID: "w1", WorkspaceName: "web"}, {WorkspaceID: "w1", WorkspaceName: "web"}}}, "twice"},
		{"err/idp-empty", Group{Name: "staff", IdPGroups: []string{""}}, "identity provider group"},
		{"err/everyone-idp", Group{Name: GroupEveryone, IdPGroups: []string{"all"}}, "maps no identity provider groups"},
		{"err/priority", Group{Name: "staff", Priority: 2000000}, "priority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.g.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want invalid, containing %q", err, tc.want)
			}
		})
	}
}
