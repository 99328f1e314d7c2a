package cli

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/apiclient"
)

// policyKeys are the fields of a group's policy, by flag name (also the
// keys of --rule), in the order they are shown.
var policyKeys = []struct{ flag, help string }{
	{"max-sessions", "active sessions a member may have, all workspaces (1 to 1000)"},
	{"idle", "idle end of a member's sessions (30m, 2h)"},
	{"lifetime", "lifetime of a member's sessions (8h)"},
	{"max-lifetime", "how far a member may extend a session's end, from its launch"},
	{"clipboard", "off, to-container, from-container or both"},
	{"downloads", "allow or block files the remote page downloads"},
	{"uploads", "allow or block files handed to the remote page"},
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
func (f *GroupFlags) given(name string) bool { return flagSet(f.fs, name) }

// Apply changes g as the flags given say; what no flag names stays.
func (f *GroupFlags) Apply(g *apiclient.GroupSpec) error {
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
		if g.Policy, err = setPolicy(g.Policy, k.flag, *f.policy[k.flag]); err != nil {
			return err
		}
	}
	for _, w := range f.Ungrant {
		i := slices.IndexFunc(g.Workspaces, func(gr apiclient.Grant) bool { return gr.Workspace == w })
		if i < 0 {
			return fmt.Errorf("--ungrant %s: the group does not grant it one by one", w)
		}
		g.Workspaces = slices.Delete(g.Workspaces, i, i+1)
	}
	for _, w := range f.Grant {
		if !slices.ContainsFunc(g.Workspaces, func(gr apiclient.Grant) bool { return gr.Workspace == w }) {
			g.Workspaces = append(g.Workspaces, apiclient.Grant{Workspace: w})
		}
	}
	for _, r := range f.Rules {
		if err := applyRule(g, r); err != nil {
			return err
		}
	}
	// A policy whose every field went is none: the api answers none for
	// it, and sends none back.
	if g.Policy.Empty() {
		g.Policy = nil
	}
	for i := range g.Workspaces {
		if g.Workspaces[i].Policy.Empty() {
			g.Workspaces[i].Policy = nil
		}
	}
	return nil
}

// applyRule sets the rule WORKSPACE:key=value,... on a grant of g,
// granting the workspace if it was not.
func applyRule(g *apiclient.GroupSpec, rule string) error {
	w, kvs, ok := strings.Cut(rule, ":")
	if !ok || w == "" {
		return fmt.Errorf("--rule %q: give WORKSPACE:key=value,... (idle=5m,clipboard=off)", rule)
	}
	i := slices.IndexFunc(g.Workspaces, func(gr apiclient.Grant) bool { return gr.Workspace == w })
	if i < 0 {
		g.Workspaces = append(g.Workspaces, apiclient.Grant{Workspace: w})
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
		if !slices.ContainsFunc(policyKeys, func(p struct{ flag, help string }) bool { return p.flag == k }) {
			return fmt.Errorf("--rule %q: no key %q (idle, lifetime, max-lifetime, clipboard, downloads, uploads)", rule, k)
		}
		var err error
		if g.Workspaces[i].Policy, err = setPolicy(g.Workspaces[i].Policy, k, v); err != nil {
			return fmt.Errorf("--rule %q: %w", rule, err)
		}
	}
	return nil
}

// setPolicy sets (or, for none, unsets) the field of p that flagName
// names, from the flag's text.
func setPolicy(p *apiclient.GroupPolicy, flagName, v string) (*apiclient.GroupPolicy, error) {
	if p == nil {
		p = &apiclient.GroupPolicy{}
	}
	none := v == "none"
	switch flagName {
	case "max-sessions":
		p.MaxSessions = nil
		if !none {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("--%s %q: give a number, or none", flagName, v)
			}
			p.MaxSessions = &n
		}
	case "idle", "lifetime", "max-lifetime":
		field := map[string]**string{"idle": &p.Idle, "lifetime": &p.Lifetime, "max-lifetime": &p.MaxLifetime}[flagName]
		*field = nil
		if !none {
			if _, err := time.ParseDuration(v); err != nil {
				return nil, fmt.Errorf("--%s %q: give a duration such as 30m or 8h, or none", flagName, v)
			}
			*field = &v
		}
	case "downloads", "uploads":
		field := map[string]**bool{"downloads": &p.Downloads, "uploads": &p.Uploads}[flagName]
		*field = nil
		if !none {
			var allow bool
			switch v {
			case "allow":
				allow = true
			case "block":
			default:
				return nil, fmt.Errorf("--%s %q: give allow, block or none", flagName, v)
			}
			*field = &allow
		}
	case "clipboard":
		p.Clipboard = nil
		if !none {
			p.Clipboard = &v
		}
	}
	return p, nil
}

// PolicyText is a policy in a line, its fields in policyKeys' order:
// "idle 1h · clipboard off".
func PolicyText(p *apiclient.GroupPolicy) string {
	if p.Empty() {
		return "-"
	}
	var parts []string
	if p.MaxSessions != nil {
		parts = append(parts, "max-sessions "+strconv.Itoa(*p.MaxSessions))
	}
	for _, f := range []struct {
		flag string
		v    *string
	}{{"idle", p.Idle}, {"lifetime", p.Lifetime}, {"max-lifetime", p.MaxLifetime}, {"clipboard", p.Clipboard}} {
		if f.v != nil {
			parts = append(parts, f.flag+" "+*f.v)
		}
	}
	for _, f := range []struct {
		flag string
		v    *bool
	}{{"downloads", p.Downloads}, {"uploads", p.Uploads}} {
		if f.v != nil {
			parts = append(parts, f.flag+" "+map[bool]string{true: "allowed", false: "blocked"}[*f.v])
		}
	}
	return strings.Join(parts, " · ")
}
