package airlock

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Group is a set of users that grants workspaces and may carry a policy
// for the sessions of those workspaces. Users are members by an
// administrator's hand or, when single sign-on names one of IdPGroups
// in the user's groups claim, by their identity provider.
type Group struct {
	ID          string
	Name        string
	Description string
	// Priority orders groups that set the same policy field at the same
	// level: the lowest number wins, then the name.
	Priority int
	// AllWorkspaces grants every workspace, present and future.
	AllWorkspaces bool
	// Grants are the workspaces it grants one by one, each with an
	// optional policy for that workspace alone (the most specific rule).
	Grants []Grant
	// Policy applies to the sessions of every workspace it grants.
	Policy Policy
	// IdPGroups are names in a single sign-on groups claim that make the
	// user a member at sign-in (and no longer a member when absent).
	IdPGroups []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Grant is one workspace a group grants.
type Grant struct {
	WorkspaceID string
	// WorkspaceName is filled by the store for views; the ID is the link.
	WorkspaceName string
	Policy        Policy
}

// GroupEveryone is the built-in group every user is a member of: it
// cannot be deleted and takes no members by hand. A new deployment has
// it grant every workspace, which an administrator may narrow.
const GroupEveryone = "everyone"

// MaxGroupGrants bounds a group's workspaces granted one by one, and
// MaxIdPGroups its claim names.
const (
	MaxGroupGrants = 1000
	MaxIdPGroups   = 100
	maxIdPGroupLen = 256
)

// Granted reports whether g grants the workspace of that ID, and the
// grant when it is one by one.
func (g *Group) Granted(workspaceID string) (bool, *Grant) {
	for i := range g.Grants {
		if g.Grants[i].WorkspaceID == workspaceID {
			return true, &g.Grants[i]
		}
	}
	return g.AllWorkspaces, nil
}

// Validate checks a group before it is stored.
func (g *Group) Validate() error {
	if err := ValidName("group", g.Name); err != nil {
		return err
	}
	if len(g.Description) > 1024 {
		return Errorf(EINVALID, "group %s: description is %d bytes; at most 1024", g.Name, len(g.Description))
	}
	if g.Priority < -1000000 || g.Priority > 1000000 {
		return Errorf(EINVALID, "group %s: priority %d is out of range -1000000 to 1000000", g.Name, g.Priority)
	}
	if len(g.Grants) > MaxGroupGrants {
		return Errorf(EINVALID, "group %s grants %d workspaces one by one; at most %d (grant all instead)", g.Name, len(g.Grants), MaxGroupGrants)
	}
	seen := map[string]bool{}
	for _, gr := range g.Grants {
		if seen[gr.WorkspaceID] {
			return Errorf(EINVALID, "group %s grants workspace %s twice", g.Name, gr.WorkspaceName)
		}
		seen[gr.WorkspaceID] = true
		if err := gr.Policy.Validate(); err != nil {
			return Errorf(EINVALID, "group %s, workspace %s: %s", g.Name, gr.WorkspaceName, ErrorMessage(err))
		}
		if gr.Policy.MaxSessions != nil {
			return Errorf(EINVALID, "group %s, workspace %s: max_sessions counts all of a user's sessions; set it on the group, not for one workspace", g.Name, gr.WorkspaceName)
		}
	}
	if err := g.Policy.Validate(); err != nil {
		return Errorf(EINVALID, "group %s: %s", g.Name, ErrorMessage(err))
	}
	if len(g.IdPGroups) > MaxIdPGroups {
		return Errorf(EINVALID, "group %s maps %d identity provider groups; at most %d", g.Name, len(g.IdPGroups), MaxIdPGroups)
	}
	for _, n := range g.IdPGroups {
		if n == "" || len(n) > maxIdPGroupLen || strings.ContainsAny(n, "\x00\r\n") {
			return Errorf(EINVALID, "group %s: identity provider group %q must be 1-%d bytes on one line", g.Name, n, maxIdPGroupLen)
		}
	}
	if g.Name == GroupEveryone && len(g.IdPGroups) > 0 {
		return Errorf(EINVALID, "group everyone has every user as a member: it maps no identity provider groups")
	}
	return nil
}

// Policy is what a group sets for its members' sessions; each field
// left nil is not set here and comes from a less specific rule. The
// durations and the transfer switches are those of a workspace's
// Limits and Browser policy; they are taken when a session is launched.
type Policy struct {
	// MaxSessions bounds the user's active sessions (all workspaces).
	MaxSessions *int             `json:"max_sessions,omitempty"`
	Idle        *time.Duration   `json:"idle,omitempty"`
	Lifetime    *time.Duration   `json:"lifetime,omitempty"`
	MaxLifetime *time.Duration   `json:"max_lifetime,omitempty"`
	Clipboard   *ClipboardPolicy `json:"clipboard,omitempty"`
	Downloads   *bool            `json:"downloads,omitempty"`
	Uploads     *bool            `json:"uploads,omitempty"`
}

// MaxPolicySessions bounds a policy's max_sessions.
const MaxPolicySessions = 1000

// Empty reports whether p sets nothing.
func (p Policy) Empty() bool { return p == Policy{} }

// Validate checks each field p sets.
func (p Policy) Validate() error {
	if p.MaxSessions != nil && (*p.MaxSessions < 1 || *p.MaxSessions > MaxPolicySessions) {
		return Errorf(EINVALID, "max_sessions %d is out of range 1 to %d", *p.MaxSessions, MaxPolicySessions)
	}
	for _, f := range []struct {
		name string
		d    *time.Duration
	}{{"idle", p.Idle}, {"lifetime", p.Lifetime}, {"max_lifetime", p.MaxLifetime}} {
		if f.d != nil && (*f.d < time.Second || *f.d > MaxLimit) {
			return Errorf(EINVALID, "%s %s is out of range 1s to %s", f.name, *f.d, FormatDuration(MaxLimit))
		}
	}
	if p.Lifetime != nil && p.MaxLifetime != nil && *p.MaxLifetime < *p.Lifetime {
		return Errorf(EINVALID, "max_lifetime %s is shorter than lifetime %s", FormatDuration(*p.MaxLifetime), FormatDuration(*p.Lifetime))
	}
	if p.Clipboard != nil && !p.Clipboard.Valid() {
		return Errorf(EINVALID, "clipboard %q: give off, to-container, from-container or both", *p.Clipboard)
	}
	return nil
}

// Apply is ws as a session launched under p runs it: a copy with the
// fields p sets in place of the workspace's own.
func (p Policy) Apply(ws *Workspace) *Workspace {
	out := *ws
	if p.Idle != nil {
		out.Limits.Idle = *p.Idle
		// The longer idle with a viewer connected is never below it.
		out.Limits.ViewerIdle = max(out.Limits.ViewerIdle, *p.Idle)
	}
	if p.Lifetime != nil {
		out.Limits.Lifetime = *p.Lifetime
		if out.Limits.MaxLifetime != 0 {
			out.Limits.MaxLifetime = max(out.Limits.MaxLifetime, *p.Lifetime)
		}
	}
	if p.MaxLifetime != nil {
		out.Limits.MaxLifetime = *p.MaxLifetime
		// A lifetime above the end it may be extended to is cut to it.
		if out.Limits.Lifetime > *p.MaxLifetime {
			out.Limits.Lifetime = *p.MaxLifetime
		}
	}
	if p.Clipboard != nil {
		out.Clipboard = *p.Clipboard
	}
	if p.Downloads != nil {
		out.Browser.Downloads.Allowed = *p.Downloads
	}
	if p.Uploads != nil {
		out.Browser.Uploads.Allowed = *p.Uploads
	}
	return &out
}

// LaunchTime reports whether p sets a field that is fixed when a
// session's container is made (the clipboard and transfers): a warm
// session made under the workspace's own policy cannot be handed to a
// user under another.
func (p Policy) LaunchTime(ws *Workspace) bool {
	return p.Clipboard != nil && p.Clipboard.OrDefault() != ws.Clipboard.OrDefault() ||
		p.Downloads != nil && *p.Downloads != ws.Browser.Downloads.Allowed ||
		p.Uploads != nil && *p.Uploads != ws.Browser.Uploads.Allowed
}

// PolicySource says where an effective policy field came from.
type PolicySource struct {
	// Kind is user, group-workspace, group, workspace or default.
	Kind  string `json:"kind"`
	Group string `json:"group,omitempty"`
	// Text is the source for a person: "group staff, for workspace web".
	Text string `json:"text"`
}

// The kinds of PolicySource, most specific first.
const (
	SourceUser           = "user"
	SourceGroupWorkspace = "group-workspace"
	SourceGroup          = "group"
	SourceWorkspace      = "workspace"
	SourceDefault        = "default"
)

// EffectiveField is one field of an effective policy: its value, as a
// person reads it, and where it came from.
type EffectiveField struct {
	Name   string       `json:"name"`
	Value  string       `json:"value"`
	Source PolicySource `json:"source"`
}

// Effective is the policy a user's session of one workspace runs under.
type Effective struct {
	Workspace string
	// GrantedBy names the groups that grant the workspace, by priority;
	// none: the user may not launch it.
	GrantedBy []string
	// Policy is what the groups set for such a session, to be kept with
	// it (Session.Policy) and applied to its workspace (Policy.Apply).
	Policy Policy
	// MaxSessions is the user's bound on active sessions.
	MaxSessions int
	Fields      []EffectiveField
}

// Granted reports whether the user may launch the workspace.
func (e *Effective) Granted() bool { return len(e.GrantedBy) > 0 }

// SortGroups orders groups as the policy takes them: by priority, then
// name.
func SortGroups(gs []*Group) {
	slices.SortStableFunc(gs, func(a, b *Group) int {
		if a.Priority != b.Priority {
			return a.Priority - b.Priority
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// Resolve is the effective policy of user u, a member of groups (the
// built-in everyone included), for workspace ws, with the deployment's
// limits and session bound as the last resort. For each field the most
// specific rule that sets it wins: the user's own (max sessions only),
// then a group's rule for this workspace, then a group's rule for all
// it grants, then the workspace, then the deployment; among groups at
// one level, the lowest priority. Only the groups that grant ws count.
func Resolve(u *User, groups []*Group, ws *Workspace, defaults Limits, defaultMaxSessions int) *Effective {
	gs := slices.Clone(groups)
	SortGroups(gs)
	type rule struct {
		p   Policy
		src PolicySource
	}
	var specific, general []rule
	e := &Effective{Workspace: ws.Name}
	for _, g := range gs {
		ok, grant := g.Granted(ws.ID)
		if ok {
			e.GrantedBy = append(e.GrantedBy, g.Name)
			if grant != nil {
				specific = append(specific, rule{grant.Policy, PolicySource{Kind: SourceGroupWorkspace, Group: g.Name,
					Text: fmt.Sprintf("group %s, for workspace %s", g.Name, ws.Name)}})
			}
			general = append(general, rule{g.Policy, PolicySource{Kind: SourceGroup, Group: g.Name, Text: "group " + g.Name}})
		}
	}
	rules := append(specific, general...)
	wsSrc := PolicySource{Kind: SourceWorkspace, Text: "workspace " + ws.Name}
	defSrc := PolicySource{Kind: SourceDefault, Text: "the deployment's default"}

	// pick is the first rule that sets a field, by get.
	pick := func(get func(Policy) bool) (Policy, PolicySource, bool) {
		for _, r := range rules {
			if get(r.p) {
				return r.p, r.src, true
			}
		}
		return Policy{}, PolicySource{}, false
	}
	add := func(name, value string, src PolicySource) {
		e.Fields = append(e.Fields, EffectiveField{Name: name, Value: value, Source: src})
	}

	var src PolicySource
	e.MaxSessions, src = MaxSessions(u, gs, defaultMaxSessions)
	add("max_sessions", fmt.Sprint(e.MaxSessions), src)

	durations := []struct {
		name string
		get  func(*Policy) **time.Duration
		ws   time.Duration
		def  time.Duration
	}{
		{"idle", func(p *Policy) **time.Duration { return &p.Idle }, ws.Limits.Idle, defaults.Idle},
		{"lifetime", func(p *Policy) **time.Duration { return &p.Lifetime }, ws.Limits.Lifetime, defaults.Lifetime},
		{"max_lifetime", func(p *Policy) **time.Duration { return &p.MaxLifetime }, ws.Limits.MaxLifetime, defaults.MaxLifetime},
	}
	for _, d := range durations {
		if p, src, ok := pick(func(p Policy) bool { return *d.get(&p) != nil }); ok {
			v := **d.get(&p) // a copy: the session's policy shares nothing with the group
			*d.get(&e.Policy) = &v
			add(d.name, FormatDuration(v), src)
		} else if d.ws != 0 {
			add(d.name, FormatDuration(d.ws), wsSrc)
		} else {
			add(d.name, FormatDuration(d.def), defSrc)
		}
	}
	if p, src, ok := pick(func(p Policy) bool { return p.Clipboard != nil }); ok {
		c := *p.Clipboard
		e.Policy.Clipboard = &c
		add("clipboard", string(c), src)
	} else {
		add("clipboard", string(ws.Clipboard.OrDefault()), wsSrc)
	}
	switches := []struct {
		name string
		get  func(*Policy) **bool
		ws   bool
	}{
		{"downloads", func(p *Policy) **bool { return &p.Downloads }, ws.Browser.Downloads.Allowed},
		{"uploads", func(p *Policy) **bool { return &p.Uploads }, ws.Browser.Uploads.Allowed},
	}
	for _, s := range switches {
		if p, src, ok := pick(func(p Policy) bool { return *s.get(&p) != nil }); ok {
			v := **s.get(&p)
			*s.get(&e.Policy) = &v
			add(s.name, onOff(v), src)
		} else {
			add(s.name, onOff(s.ws), wsSrc)
		}
	}
	if !e.Granted() {
		// Nothing of the groups' applies to a session that cannot be.
		e.Policy = Policy{}
	}
	return e
}

// MaxSessions is user u's bound on active sessions under groups, and
// where it comes from: u's own, else the lowest-priority group that sets
// one, else the deployment's def. It counts every session, whichever
// workspace, so every group of u's has its say, granting or not.
func MaxSessions(u *User, groups []*Group, def int) (int, PolicySource) {
	if u.MaxSessions > 0 {
		return u.MaxSessions, PolicySource{Kind: SourceUser, Text: "user " + u.Name}
	}
	gs := slices.Clone(groups)
	SortGroups(gs)
	for _, g := range gs {
		if g.Policy.MaxSessions != nil {
			return *g.Policy.MaxSessions, PolicySource{Kind: SourceGroup, Group: g.Name, Text: "group " + g.Name}
		}
	}
	return def, PolicySource{Kind: SourceDefault, Text: "the deployment's default"}
}

func onOff(b bool) string {
	if b {
		return "allowed"
	}
	return "blocked"
}
