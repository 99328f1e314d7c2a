package cli

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GroupSpec is a group as `airlock group` reads and writes it through
// the api (PUT replaces the whole group, so an edit reads it first).
type GroupSpec struct {
	Name          string         `json:"name"`
	Description   string         `json:"description,omitempty"`
	Priority      int            `json:"priority"`
	AllWorkspaces bool           `json:"all_workspaces,omitempty"`
	Workspaces    []GrantSpec    `json:"workspaces,omitempty"`
	Policy        map[string]any `json:"policy,omitempty"`
	IdPGroups     []string       `json:"idp_groups,omitempty"`
}

// GrantSpec is a workspace a group grants, with its own rule.
type GrantSpec struct {
	Workspace string         `json:"workspace"`
	Policy    map[string]any `json:"policy,omitempty"`
}

// policyKeys are the policy's fields by flag name, with the api's key.
var policyKeys = []struct{ flag, key, help string }{
	{"max-sessions", "max_sessions", "active sessions a member may have, all workspaces (1 to 1000)"},
	{"idle", "idle_timeout", "idle end of a member's sessions (30m, 2h)"},
	{"lifetime", "lifetime", "lifetime of a member's sessions (8h)"},
	{"max-lifetime", "max_lifetime", "how far a member may extend a session's end, from its launch"},
	{"clipboard", "clipboard", "off, to-container, from-container or both"},
	{"downloads", "downloads", "allow or block files the remote page downloads"},
	{"uploads", "uploads", "allow or block files handed to the remote page"},
}

// GroupFlags are the flags of `airlock group create` and `set`.
type GroupFlags struct {
	Description, IdPGroups string
	Priority               int
	All                    string // "", yes or no
	Grant, Ungrant         multi
	Rules                  multi
	policy                 map[string]*string
	fs                     *flag.FlagSet
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// Register adds the flags to fs.
func (f *GroupFlags) Register(fs *flag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.Description, "description", "", "what the group is for")
	fs.IntVar(&f.Priority, "priority", 0, "order among groups that set the same field: the lowest wins (everyone is 1000000)")
	fs.StringVar(&f.All, "all-workspaces", "", "yes: grant every workspace, present and future; no: only those granted one by one")
	fs.Var(&f.Grant, "grant", "grant this workspace (repeat for more)")
	fs.Var(&f.Ungrant, "ungrant", "no longer grant this workspace (repeat for more)")
	fs.Var(&f.Rules, "rule", "WORKSPACE:key=value,... a rule for one granted workspace (keys as the flags below: idle=5m,clipboard=off); WORKSPACE: alone clears it")
	fs.StringVar(&f.IdPGroups, "idp-groups", "", "comma-separated names in the single sign-on groups claim that make a user a member (none: no mapping)")
	f.policy = map[string]*string{}
	for _, k := range policyKeys {
		f.policy[k.flag] = fs.String(k.flag, "", k.help+"; none: not set by the group")
	}
}

// given reports whether the flag was on the command line.
func (f *GroupFlags) given(name string) bool {
	seen := false
	f.fs.Visit(func(fl *flag.Flag) { seen = seen || fl.Name == name })
	return seen
}

// Apply changes g as the flags given say; what no flag names stays.
func (f *GroupFlags) Apply(g *GroupSpec) error {
	if f.given("description") {
		g.Description = f.Description
	}
	if f.given("priority") {
		g.Priority = f.Priority
	}
	switch f.All {
	case "":
	case "yes":
		g.AllWorkspaces = true
	case "no":
		g.AllWorkspaces = false
	default:
		return fmt.Errorf("--all-workspaces %q: give yes or no", f.All)
	}
	if f.given("idp-groups") {
		g.IdPGroups = nil
		if f.IdPGroups != "none" {
			for _, n := range strings.Split(f.IdPGroups, ",") {
				if n = strings.TrimSpace(n); n != "" {
					g.IdPGroups = append(g.IdPGroups, n)
				}
			}
		}
	}
	for _, k := range policyKeys {
		if !f.given(k.flag) {
			continue
		}
		var err error
		if g.Policy, err = setPolicy(g.Policy, k.flag, k.key, *f.policy[k.flag]); err != nil {
			return err
		}
	}
	for _, w := range f.Ungrant {
		i := slices.IndexFunc(g.Workspaces, func(gr GrantSpec) bool { return gr.Workspace == w })
		if i < 0 {
			return fmt.Errorf("--ungrant %s: the group does not grant it one by one", w)
		}
		g.Workspaces = slices.Delete(g.Workspaces, i, i+1)
	}
	for _, w := range f.Grant {
		if !slices.ContainsFunc(g.Workspaces, func(gr GrantSpec) bool { return gr.Workspace == w }) {
			g.Workspaces = append(g.Workspaces, GrantSpec{Workspace: w})
		}
	}
	for _, r := range f.Rules {
		if err := applyRule(g, r); err != nil {
			return err
		}
	}
	return nil
}

// applyRule sets the rule WORKSPACE:key=value,... on a grant of g,
// granting the workspace if it was not.
func applyRule(g *GroupSpec, rule string) error {
	w, kvs, ok := strings.Cut(rule, ":")
	if !ok || w == "" {
		return fmt.Errorf("--rule %q: give WORKSPACE:key=value,... (idle=5m,clipboard=off)", rule)
	}
	i := slices.IndexFunc(g.Workspaces, func(gr GrantSpec) bool { return gr.Workspace == w })
	if i < 0 {
		g.Workspaces = append(g.Workspaces, GrantSpec{Workspace: w})
		i = len(g.Workspaces) - 1
	}
	if kvs == "" {
		g.Workspaces[i].Policy = nil
		return nil
	}
	for _, kv := range strings.Split(kvs, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("--rule %q: %q is not key=value", rule, kv)
		}
		j := slices.IndexFunc(policyKeys, func(p struct{ flag, key, help string }) bool { return p.flag == k })
		if j < 0 {
			return fmt.Errorf("--rule %q: no key %q (idle, lifetime, max-lifetime, clipboard, downloads, uploads)", rule, k)
		}
		var err error
		if g.Workspaces[i].Policy, err = setPolicy(g.Workspaces[i].Policy, k, policyKeys[j].key, v); err != nil {
			return fmt.Errorf("--rule %q: %w", rule, err)
		}
	}
	return nil
}

// setPolicy sets (or, for none, removes) key in p from a flag's text.
func setPolicy(p map[string]any, flagName, key, v string) (map[string]any, error) {
	if p == nil {
		p = map[string]any{}
	}
	if v == "none" {
		delete(p, key)
		return p, nil
	}
	switch key {
	case "max_sessions":
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: give a number, or none", flagName, v)
		}
		p[key] = n
	case "idle_timeout", "lifetime", "max_lifetime":
		if _, err := time.ParseDuration(v); err != nil {
			return nil, fmt.Errorf("--%s %q: give a duration such as 30m or 8h, or none", flagName, v)
		}
		p[key] = v
	case "downloads", "uploads":
		switch v {
		case "allow":
			p[key] = true
		case "block":
			p[key] = false
		default:
			return nil, fmt.Errorf("--%s %q: give allow, block or none", flagName, v)
		}
	default:
		p[key] = v
	}
	return p, nil
}

// PolicyText is a policy in a line: "idle 1h · clipboard off".
func PolicyText(p map[string]any) string {
	var parts []string
	for _, k := range policyKeys {
		v, ok := p[k.key]
		if !ok {
			continue
		}
		switch x := v.(type) {
		case bool:
			v = map[bool]string{true: "allowed", false: "blocked"}[x]
		case float64:
			v = strconv.FormatFloat(x, 'f', -1, 64)
		}
		parts = append(parts, fmt.Sprintf("%s %v", k.flag, v))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " · ")
}
