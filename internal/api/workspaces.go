package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// workspaceSpec is a workspace as clients write and read it.
type workspaceSpec struct {
	ID          string `json:"id,omitempty"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Image       string `json:"image"`
	Isolation   string `json:"isolation,omitempty"`
	// NodeLabels are the labels a node must carry to run the sessions
	// (zone=eu, gpu=a10); none: any node. On update, given replaces
	// them all and null or {} removes them.
	NodeLabels map[string]string `json:"node_labels,omitempty"`
	NanoCPUs   int64             `json:"nano_cpus,omitempty"`
	Memory     int64             `json:"memory,omitempty"`
	PidsLimit  int64             `json:"pids_limit,omitempty"`
	ShmSize    int64             `json:"shm_size,omitempty"`
	// Env is shown to admins only: a catalog entry's variables may hold
	// what its users are not meant to read (a proxy's password, a key).
	Env      map[string]string `json:"env,omitempty"`
	StartURL string            `json:"start_url,omitempty"`
	// Seccomp names one of the server's seccomp profiles; empty is
	// Docker's default profile. Always shown.
	Seccomp string `json:"seccomp"`
	// Clipboard is off, to-container, from-container or both; empty on
	// create is both. Always shown.
	Clipboard string `json:"clipboard"`
	// Egress is the egress policy of a hardened or sandboxed workspace,
	// shown to admins only (like Env: its rules map the private network).
	// Shown with every rule list, the empty one included, for a workspace
	// that has one; absent for a standard workspace. On update, absent
	// keeps the policy and null or {"rules":[]} empties it.
	Egress *egressSpec `json:"egress,omitempty"`
	// Mode is browser or kiosk; empty on create is browser. Always shown.
	Mode string `json:"mode"`
	// Browser is the Chromium policy; absent on create is the strict
	// default (no downloads, uploads, devtools or printing). Always
	// shown, its further policies to admins only. On update, fields
	// given replace theirs and the others stay; null resets it.
	Browser *airlock.BrowserPolicy `json:"browser,omitempty"`
	// Audio is on or off; empty on create is on. Always shown.
	Audio string `json:"audio"`
	// Locale and TimeZone fix the sessions' language and time zone;
	// empty: each viewer's own.
	Locale   string `json:"locale,omitempty"`
	TimeZone string `json:"timezone,omitempty"`
	// MaxScale bounds the device scale factor (HiDPI), 1 to 4; 0 on
	// create is 2.
	MaxScale float64 `json:"max_scale,omitempty"`
	// The session limits; each absent takes the deployment's default.
	limitsSpec
	CreatedAt *time.Time `json:"created_at,omitempty"`
	// Granted says, in a listing, whether the caller's groups grant the
	// workspace: a user is shown only those granted; an administrator
	// sees all, each marked. Ignored on write.
	Granted *bool `json:"granted,omitempty"`
}

// browser is the airlock.BrowserPolicy of b; nil is the zero policy.
func browserOf(b *airlock.BrowserPolicy) airlock.BrowserPolicy {
	if b == nil {
		return airlock.BrowserPolicy{}
	}
	return *b
}

// workspaceOf is the workspace spec describes, with the server's fields.
func workspaceOf(spec workspaceSpec, id string, created, updated time.Time) *airlock.Workspace {
	return &airlock.Workspace{ID: id, Name: spec.Name, Description: spec.Description, Image: spec.Image,
		Isolation: airlock.Isolation(spec.Isolation), NodeLabels: spec.NodeLabels, NanoCPUs: spec.NanoCPUs, Memory: spec.Memory, PidsLimit: spec.PidsLimit,
		ShmSize: spec.ShmSize, Env: spec.Env, StartURL: spec.StartURL, Seccomp: spec.Seccomp,
		Clipboard: airlock.ClipboardPolicy(spec.Clipboard), Egress: spec.Egress.policy(),
		Mode: airlock.Mode(spec.Mode), Browser: browserOf(spec.Browser), Audio: airlock.AudioPolicy(spec.Audio),
		Locale: spec.Locale, TimeZone: spec.TimeZone, MaxScale: spec.MaxScale, Limits: spec.limits(),
		CreatedAt: created, UpdatedAt: updated}
}

// egressSpec is an egress policy as clients write and read it: the JSON of
// airlock.EgressPolicy, with rules always present on output.
type egressSpec struct {
	Rules []airlock.EgressRule `json:"rules"`
}

// UnmarshalJSON decodes a policy strictly, rule by rule, so that an
// unknown field or a value of the wrong type is reported with the index of
// its rule (the request decoder's own refusal of unknown fields does not
// reach inside an Unmarshaler). Its errors are plain: decodeBytes makes
// them the request's EINVALID.
func (e *egressSpec) UnmarshalJSON(data []byte) error {
	var raw struct {
		Rules []json.RawMessage `json:"rules"`
	}
	if err := strictJSON(data, &raw); err != nil {
		return fmt.Errorf("egress policy: %s; write {\"rules\":[{\"action\":\"allow\",\"domain\":\"example.com\"}, ...]}", jsonError(err))
	}
	if len(raw.Rules) > airlock.MaxEgressRules {
		return fmt.Errorf("egress policy has %d rules; at most %d are allowed", len(raw.Rules), airlock.MaxEgressRules)
	}
	rules := make([]airlock.EgressRule, len(raw.Rules))
	for i, r := range raw.Rules {
		if err := strictJSON(r, &rules[i]); err != nil {
			return fmt.Errorf("egress policy rules[%d]: %s", i, jsonError(err))
		}
	}
	e.Rules = rules
	return nil
}

// strictJSON decodes one JSON value into v, refusing unknown fields.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

// policy is the airlock.EgressPolicy of e; nil is the empty policy.
func (e *egressSpec) policy() airlock.EgressPolicy {
	if e == nil || len(e.Rules) == 0 {
		return airlock.EgressPolicy{}
	}
	return airlock.EgressPolicy{Rules: e.Rules}
}

// viewWorkspace is w as a client sees it; withEnv is whether the caller
// may read the environment variables and the egress policy (admins).
func viewWorkspace(w *airlock.Workspace, withEnv bool) workspaceSpec {
	created := w.CreatedAt
	v := workspaceSpec{ID: w.ID, Name: w.Name, Description: w.Description, Image: w.Image, Isolation: string(w.Isolation),
		NodeLabels: maps.Clone(w.NodeLabels),
		NanoCPUs:   w.NanoCPUs, Memory: w.Memory, PidsLimit: w.PidsLimit, ShmSize: w.ShmSize, StartURL: w.StartURL,
		Seccomp: w.Seccomp, Clipboard: string(w.Clipboard.OrDefault()), Mode: string(w.Mode.OrDefault()),
		Audio: string(w.Audio.OrDefault()), Locale: w.Locale, TimeZone: w.TimeZone, MaxScale: w.MaxScale,
		limitsSpec: viewLimits(w.Limits), CreatedAt: &created}
	if v.MaxScale == 0 {
		v.MaxScale = airlock.DefaultMaxScale
	}
	b := w.Browser
	b.URLAllowlist, b.URLBlocklist = slices.Clone(b.URLAllowlist), slices.Clone(b.URLBlocklist)
	b.Policies = nil
	if withEnv {
		b.Policies = maps.Clone(w.Browser.Policies)
	}
	v.Browser = &b
	if withEnv {
		v.Env = w.Env
		if w.Isolation != airlock.IsolationStandard || len(w.Egress.Rules) > 0 {
			rules := w.Egress.Rules
			if rules == nil {
				rules = []airlock.EgressRule{}
			}
			v.Egress = &egressSpec{Rules: rules}
		}
	}
	return v
}

// seesEnv reports whether the caller of ctx may read workspaces'
// environment variables.
func seesEnv(ctx context.Context) bool {
	c := callerOf(ctx)
	return c != nil && c.User.Role == airlock.RoleAdmin
}

func (s *Server) listWorkspaces(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ws, err := s.store.ListWorkspaces(ctx)
	if err != nil {
		return err
	}
	u := callerOf(ctx).User
	groups, err := s.store.GroupsOfUser(ctx, u.ID)
	if err != nil {
		return err
	}
	out := make([]workspaceSpec, 0, len(ws))
	for _, x := range ws {
		granted := grants(groups, x)
		if !granted && u.Role != airlock.RoleAdmin {
			continue
		}
		v := viewWorkspace(x, seesEnv(ctx))
		v.Granted = &granted
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// grants reports whether one of groups grants ws.
func grants(groups []*airlock.Group, ws *airlock.Workspace) bool {
	for _, g := range groups {
		if ok, _ := g.Granted(ws.ID); ok {
			return true
		}
	}
	return false
}

// getWorkspace answers a user for a workspace their groups grant (for
// another, as if it did not exist), an administrator for any.
func (s *Server) getWorkspace(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ws, err := s.store.WorkspaceByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	u := callerOf(ctx).User
	groups, err := s.store.GroupsOfUser(ctx, u.ID)
	if err != nil {
		return err
	}
	granted := grants(groups, ws)
	if !granted && u.Role != airlock.RoleAdmin {
		return airlock.Errorf(airlock.ENOTFOUND, "workspace %s not found", ws.Name)
	}
	writeJSON(w, http.StatusOK, viewWorkspace(ws, seesEnv(ctx)))
	return nil
}

func (s *Server) createWorkspace(w http.ResponseWriter, r *http.Request) error {
	var spec workspaceSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	if spec.ID != "" || spec.CreatedAt != nil {
		return airlock.Errorf(airlock.EINVALID, "id and created_at are set by the server")
	}
	ws, err := s.putWorkspace(r, spec)
	if err != nil {
		return err
	}
	s.audit(r.Context(), callerOf(r.Context()).User.Name, "workspace.create", ws.ID, ws.Name)
	writeJSON(w, http.StatusCreated, viewWorkspace(ws, seesEnv(r.Context())))
	return nil
}

// putWorkspace validates and stores a new workspace.
func (s *Server) putWorkspace(r *http.Request, spec workspaceSpec) (*airlock.Workspace, error) {
	now := s.clock.now()
	ws := workspaceOf(spec, newID(), now, now)
	if err := ws.Validate(); err != nil {
		return nil, err
	}
	if err := ws.ValidateSeccomp(s.sessions.SeccompNames()); err != nil {
		return nil, err
	}
	if err := s.store.CreateWorkspace(r.Context(), ws); err != nil {
		return nil, err
	}
	return ws, nil
}

// updateWorkspace changes the fields the body names and keeps the others
// (a merge: "env" or "egress" given replace the whole map or policy, null
// empties them). Sessions already launched keep what they were launched
// with; the next ones get the new settings.
func (s *Server) updateWorkspace(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var present map[string]json.RawMessage
	if err := decodeBytes(body, &present); err != nil {
		return err
	}
	if _, ok := present["id"]; ok {
		return airlock.Errorf(airlock.EINVALID, "id and created_at are set by the server")
	}
	if _, ok := present["created_at"]; ok {
		return airlock.Errorf(airlock.EINVALID, "id and created_at are set by the server")
	}
	old, err := s.store.WorkspaceByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	spec := viewWorkspace(old, true)
	if _, ok := present["env"]; ok {
		spec.Env = nil
	}
	if _, ok := present["node_labels"]; ok {
		spec.NodeLabels = nil // replaced, not merged
	}
	if _, ok := present["egress"]; ok {
		spec.Egress = nil
	}
	if raw, ok := present["browser"]; ok {
		// Decoding into the old policy keeps the fields the body leaves
		// out, but would merge a map: policies given replace the old ones.
		var fields map[string]json.RawMessage
		if json.Unmarshal(raw, &fields) == nil && spec.Browser != nil {
			if _, ok := fields["policies"]; ok {
				spec.Browser.Policies = nil
			}
		}
	}
	if err := decodeBytes(body, &spec); err != nil {
		return err
	}
	ws := workspaceOf(spec, old.ID, old.CreatedAt, s.clock.now())
	if err := ws.Validate(); err != nil {
		return err
	}
	if err := ws.ValidateSeccomp(s.sessions.SeccompNames()); err != nil {
		return err
	}
	if err := s.store.UpdateWorkspace(ctx, ws); err != nil {
		return err
	}
	fields := slices.Sorted(maps.Keys(present))
	s.audit(ctx, callerOf(ctx).User.Name, "workspace.update", ws.ID, ws.Name+": "+strings.Join(fields, ","))
	writeJSON(w, http.StatusOK, viewWorkspace(ws, true))
	return nil
}

func (s *Server) deleteWorkspace(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ws, err := s.store.WorkspaceByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	list, err := s.store.ListSessions(ctx, airlock.SessionFilter{WorkspaceID: ws.ID, States: airlock.ActiveStates})
	if err != nil {
		return err
	}
	// Its pool's sessions, no one's yet, go with it; users' sessions
	// must end first.
	var pooled []*airlock.Session
	inUse := 0
	for _, x := range list {
		if x.Pooled() && x.UserID == "" {
			pooled = append(pooled, x)
		} else {
			inUse++
		}
	}
	if inUse > 0 {
		return airlock.Errorf(airlock.ECONFLICT, "workspace %q has %d active sessions; end them first", ws.Name, inUse)
	}
	if err := s.store.SetPool(ctx, &airlock.Pool{WorkspaceID: ws.ID, Size: 0, MaxAge: airlock.DefaultPoolMaxAge}); err != nil {
		return err
	}
	for _, x := range pooled {
		if _, err := s.sessions.Stop(context.WithoutCancel(ctx), x.ID, airlock.EndAdmin, "its workspace was deleted"); err != nil {
			return err
		}
	}
	if err := s.store.DeleteWorkspace(ctx, ws.ID); err != nil {
		return err
	}
	s.audit(ctx, callerOf(ctx).User.Name, "workspace.delete", ws.ID, ws.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
