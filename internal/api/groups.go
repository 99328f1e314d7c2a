package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// policySpec is a group's policy as clients write and read it: each
// field absent is not set by the group.
type policySpec struct {
	MaxSessions *int      `json:"max_sessions,omitempty"`
	Idle        *duration `json:"idle_timeout,omitempty"`
	Lifetime    *duration `json:"lifetime,omitempty"`
	MaxLifetime *duration `json:"max_lifetime,omitempty"`
	Clipboard   *string   `json:"clipboard,omitempty"`
	Downloads   *bool     `json:"downloads,omitempty"`
	Uploads     *bool     `json:"uploads,omitempty"`
}

func (p *policySpec) policy() airlock.Policy {
	if p == nil {
		return airlock.Policy{}
	}
	out := airlock.Policy{MaxSessions: p.MaxSessions, Downloads: p.Downloads, Uploads: p.Uploads}
	d := func(v *duration) *time.Duration {
		if v == nil {
			return nil
		}
		x := time.Duration(*v)
		return &x
	}
	out.Idle, out.Lifetime, out.MaxLifetime = d(p.Idle), d(p.Lifetime), d(p.MaxLifetime)
	if p.Clipboard != nil {
		c := airlock.ClipboardPolicy(*p.Clipboard)
		out.Clipboard = &c
	}
	return out
}

func viewPolicy(p airlock.Policy) *policySpec {
	if p.Empty() {
		return nil
	}
	out := &policySpec{MaxSessions: p.MaxSessions, Downloads: p.Downloads, Uploads: p.Uploads}
	d := func(v *time.Duration) *duration {
		if v == nil {
			return nil
		}
		x := duration(*v)
		return &x
	}
	out.Idle, out.Lifetime, out.MaxLifetime = d(p.Idle), d(p.Lifetime), d(p.MaxLifetime)
	if p.Clipboard != nil {
		c := string(*p.Clipboard)
		out.Clipboard = &c
	}
	return out
}

// grantSpec is a workspace a group grants, by name, with its rule.
type grantSpec struct {
	Workspace string      `json:"workspace"`
	Policy    *policySpec `json:"policy,omitempty"`
}

// groupSpec is a group as clients write it (the whole group: PUT
// replaces every field).
type groupSpec struct {
	Name          string      `json:"name"`
	Description   string      `json:"description,omitempty"`
	Priority      int         `json:"priority"`
	AllWorkspaces bool        `json:"all_workspaces,omitempty"`
	Workspaces    []grantSpec `json:"workspaces,omitempty"`
	Policy        *policySpec `json:"policy,omitempty"`
	IdPGroups     []string    `json:"idp_groups,omitempty"`
}

// groupView is a group as clients read it.
type groupView struct {
	ID string `json:"id"`
	groupSpec
	Members   int       `json:"members"`
	BuiltIn   bool      `json:"built_in,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func viewGroup(g *airlock.Group, members int) groupView {
	v := groupView{ID: g.ID, groupSpec: groupSpec{Name: g.Name, Description: g.Description, Priority: g.Priority,
		AllWorkspaces: g.AllWorkspaces, Policy: viewPolicy(g.Policy), IdPGroups: g.IdPGroups},
		Members: members, BuiltIn: g.ID == airlock.GroupEveryone, CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt}
	for _, gr := range g.Grants {
		v.Workspaces = append(v.Workspaces, grantSpec{Workspace: gr.WorkspaceName, Policy: viewPolicy(gr.Policy)})
	}
	return v
}

// group is the group spec describes, its workspaces looked up by name:
// a name that is no workspace is refused, saying which.
func (s *Server) group(ctx context.Context, spec groupSpec) (*airlock.Group, error) {
	g := &airlock.Group{Name: spec.Name, Description: spec.Description, Priority: spec.Priority,
		AllWorkspaces: spec.AllWorkspaces, Policy: spec.Policy.policy(), IdPGroups: spec.IdPGroups}
	for _, gr := range spec.Workspaces {
		if gr.Workspace == "" {
			return nil, airlock.Errorf(airlock.EINVALID, "group %s: a granted workspace needs its name", spec.Name)
		}
		ws, err := s.store.WorkspaceByName(ctx, gr.Workspace)
		if airlock.ErrorCode(err) == airlock.ENOTFOUND {
			return nil, airlock.Errorf(airlock.EINVALID, "group %s grants workspace %q, which does not exist", spec.Name, gr.Workspace)
		}
		if err != nil {
			return nil, err
		}
		g.Grants = append(g.Grants, airlock.Grant{WorkspaceID: ws.ID, WorkspaceName: ws.Name, Policy: gr.Policy.policy()})
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return g, nil
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	gs, err := s.store.ListGroups(ctx)
	if err != nil {
		return err
	}
	users, err := s.store.CountUsers(ctx)
	if err != nil {
		return err
	}
	out := make([]groupView, 0, len(gs))
	for _, g := range gs {
		n := users
		if g.ID != airlock.GroupEveryone {
			ms, err := s.store.GroupMembers(ctx, g.ID)
			if err != nil {
				return err
			}
			n = len(ms)
		}
		out = append(out, viewGroup(g, n))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// groupDetail is one group with its members.
type groupDetail struct {
	groupView
	MemberList []memberView `json:"member_list"`
}

type memberView struct {
	User   string    `json:"user"`
	Source string    `json:"source"`
	Since  time.Time `json:"since"`
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	g, err := s.store.GroupByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	d := groupDetail{MemberList: []memberView{}}
	if g.ID == airlock.GroupEveryone {
		n, err := s.store.CountUsers(ctx)
		if err != nil {
			return err
		}
		d.groupView = viewGroup(g, n)
	} else {
		ms, err := s.store.GroupMembers(ctx, g.ID)
		if err != nil {
			return err
		}
		d.groupView = viewGroup(g, len(ms))
		for _, m := range ms {
			d.MemberList = append(d.MemberList, memberView{User: m.UserName, Source: m.Source, Since: m.Since})
		}
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request) error {
	var spec groupSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	ctx := r.Context()
	g, err := s.group(ctx, spec)
	if err != nil {
		return err
	}
	g.ID = newID()
	if err := s.store.CreateGroup(ctx, g); err != nil {
		return err
	}
	s.audit(ctx, callerOf(ctx).User.Name, "group.create", g.Name, grantsText(g))
	writeJSON(w, http.StatusCreated, viewGroup(g, 0))
	return nil
}

// updateGroup replaces a group's fields (its members stay). The built-in
// everyone keeps its name.
func (s *Server) updateGroup(w http.ResponseWriter, r *http.Request) error {
	var spec groupSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	ctx := r.Context()
	old, err := s.store.GroupByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	if spec.Name == "" {
		spec.Name = old.Name
	}
	if old.ID == airlock.GroupEveryone && spec.Name != old.Name {
		return airlock.Errorf(airlock.EINVALID, "group everyone is built in: it keeps its name")
	}
	g, err := s.group(ctx, spec)
	if err != nil {
		return err
	}
	g.ID, g.CreatedAt = old.ID, old.CreatedAt
	if err := s.store.UpdateGroup(ctx, g); err != nil {
		return err
	}
	s.audit(ctx, callerOf(ctx).User.Name, "group.update", g.Name, grantsText(g))
	ms, err := s.store.GroupMembers(ctx, g.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewGroup(g, len(ms)))
	return nil
}

// grantsText says what a group grants, for the audit log.
func grantsText(g *airlock.Group) string {
	if g.AllWorkspaces {
		return "grants all workspaces"
	}
	names := make([]string, len(g.Grants))
	for i, gr := range g.Grants {
		names[i] = gr.WorkspaceName
	}
	return "grants " + strings.Join(names, ", ")
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	g, err := s.store.GroupByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	if err := s.store.DeleteGroup(ctx, g.ID); err != nil {
		return err
	}
	s.audit(ctx, callerOf(ctx).User.Name, "group.delete", g.Name, "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// membership is the group and the user a member route names.
func (s *Server) membership(ctx context.Context, r *http.Request) (*airlock.Group, *airlock.User, error) {
	g, err := s.store.GroupByName(ctx, r.PathValue("name"))
	if err != nil {
		return nil, nil, err
	}
	u, err := s.store.UserByName(ctx, r.PathValue("user"))
	if err != nil {
		return nil, nil, err
	}
	return g, u, nil
}

func (s *Server) addGroupMember(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	g, u, err := s.membership(ctx, r)
	if err != nil {
		return err
	}
	if err := s.store.AddGroupMember(ctx, g.ID, u.ID, s.clock.now()); err != nil {
		return err
	}
	s.audit(ctx, callerOf(ctx).User.Name, "group.member.add", g.Name, "user "+u.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) removeGroupMember(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	g, u, err := s.membership(ctx, r)
	if err != nil {
		return err
	}
	if err := s.store.RemoveGroupMember(ctx, g.ID, u.ID); err != nil {
		if airlock.ErrorCode(err) == airlock.ENOTFOUND {
			return airlock.Errorf(airlock.ENOTFOUND, "user %s is not a member of group %s", u.Name, g.Name)
		}
		return err
	}
	s.audit(ctx, callerOf(ctx).User.Name, "group.member.remove", g.Name, "user "+u.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// effectiveView is a user's effective policy for one workspace.
type effectiveView struct {
	Workspace string                   `json:"workspace"`
	Granted   bool                     `json:"granted"`
	GrantedBy []string                 `json:"granted_by"`
	Fields    []airlock.EffectiveField `json:"fields"`
}

// userPolicyView is a user's groups and effective policy per workspace.
type userPolicyView struct {
	User        string          `json:"user"`
	Groups      []string        `json:"groups"`
	MaxSessions int             `json:"max_sessions"`
	Workspaces  []effectiveView `json:"workspaces"`
}

// userPolicy shows an administrator the effective policy of a user: for
// each workspace (or the one ?workspace= names) whether it is granted
// and by which groups, and each field's value with the rule it came
// from.
func (s *Server) userPolicy(w http.ResponseWriter, r *http.Request) error {
	u, err := s.store.UserByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return s.writePolicy(w, r, u)
}

// myPolicy is userPolicy for the caller: the workspaces their groups
// grant (only those) and the rules their sessions run under.
func (s *Server) myPolicy(w http.ResponseWriter, r *http.Request) error {
	return s.writePolicy(w, r, callerOf(r.Context()).User)
}

func (s *Server) writePolicy(w http.ResponseWriter, r *http.Request, u *airlock.User) error {
	ctx := r.Context()
	groups, err := s.store.GroupsOfUser(ctx, u.ID)
	if err != nil {
		return err
	}
	var wss []*airlock.Workspace
	if only := r.URL.Query().Get("workspace"); only != "" {
		ws, err := s.store.WorkspaceByName(ctx, only)
		if err != nil {
			return err
		}
		wss = []*airlock.Workspace{ws}
	} else if wss, err = s.store.ListWorkspaces(ctx); err != nil {
		return err
	}
	out := userPolicyView{User: u.Name, Groups: make([]string, 0, len(groups)), Workspaces: make([]effectiveView, 0, len(wss))}
	for _, g := range groups {
		out.Groups = append(out.Groups, g.Name)
	}
	out.MaxSessions, _ = airlock.MaxSessions(u, groups, s.maxSess)
	self := u.ID == callerOf(ctx).User.ID
	for _, ws := range wss {
		e := airlock.Resolve(u, groups, ws, s.sessions.Limits(&airlock.Workspace{}), s.maxSess)
		if self && !e.Granted() && callerOf(ctx).User.Role != airlock.RoleAdmin {
			continue // as the catalog: a user sees only what they may launch
		}
		out.Workspaces = append(out.Workspaces, effectiveView{Workspace: ws.Name, Granted: e.Granted(),
			GrantedBy: append([]string{}, e.GrantedBy...), Fields: e.Fields})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// effective is the policy u launches ws under; a workspace none of u's
// groups grants is refused, saying so.
func (s *Server) effective(ctx context.Context, u *airlock.User, ws *airlock.Workspace) (*airlock.Effective, error) {
	groups, err := s.store.GroupsOfUser(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("groups of %s: %w", u.Name, err)
	}
	e := airlock.Resolve(u, groups, ws, s.sessions.Limits(&airlock.Workspace{}), s.maxSess)
	if !e.Granted() {
		return nil, airlock.Errorf(airlock.EFORBIDDEN, "workspace %s is not granted to you: none of your groups (%s) grants it; ask an administrator",
			ws.Name, groupNames(groups))
	}
	return e, nil
}

func groupNames(gs []*airlock.Group) string {
	names := make([]string, len(gs))
	for i, g := range gs {
		names[i] = g.Name
	}
	return strings.Join(names, ", ")
}
