package infra

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/docker/go-units"
	"go.yaml.in/yaml/v3"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// workspaceFile is the YAML catalog loaded at start.
type workspaceFile struct {
	Workspaces []struct {
		Name        string            `yaml:"name"`
		Description string            `yaml:"description"`
		Image       string            `yaml:"image"`
		Isolation   string            `yaml:"isolation"`
		CPUs        float64           `yaml:"cpus"`
		Memory      string            `yaml:"memory"`
		Pids        int64             `yaml:"pids"`
		Shm         string            `yaml:"shm"`
		Env         map[string]string `yaml:"env"`
		StartURL    string            `yaml:"start_url"`
		// Seccomp names one of the server's seccomp profiles (see
		// SeccompProfiles); empty is Docker's default profile.
		Seccomp string `yaml:"seccomp"`
		// Clipboard is off, to-container, from-container or both (the
		// default).
		Clipboard string `yaml:"clipboard"`
		// Egress is the egress policy of a hardened or sandboxed
		// workspace, in the form of the API's egress field:
		//	egress:
		//	  rules:
		//	    - {action: allow, domain: "*.example.com", ports: [443]}
		//	    - {action: deny, cidr: 10.0.0.0/8}
		Egress airlock.EgressPolicy `yaml:"egress"`
		// Mode is browser (the default) or kiosk.
		Mode string `yaml:"mode"`
		// Browser is the Chromium policy, in the form of the API's
		// browser field:
		//	browser:
		//	  url_blocklist: ["*"]
		//	  url_allowlist: [intranet.example.com]
		//	  downloads: {allowed: true, max_bytes: 104857600}
		//	  printing: true
		//	  policies: {BookmarkBarEnabled: true}
		Browser airlock.BrowserPolicy `yaml:"browser"`
		// Audio is on (the default) or off.
		Audio string `yaml:"audio"`
		// Locale and TimeZone fix the sessions' language and time zone
		// (empty: the viewer's); MaxScale bounds HiDPI (1 to 4, default 2).
		Locale   string  `yaml:"locale"`
		TimeZone string  `yaml:"timezone"`
		MaxScale float64 `yaml:"max_scale"`
		// The session limits, as durations such as 30m or 8h; each absent
		// takes the server's default (see airlock.Limits).
		IdleTimeout       time.Duration `yaml:"idle_timeout"`
		ViewerIdleTimeout time.Duration `yaml:"viewer_idle_timeout"`
		Lifetime          time.Duration `yaml:"lifetime"`
		MaxLifetime       time.Duration `yaml:"max_lifetime"`
		// OnExpiry is remove or suspend; ResumeGrace how long a
		// suspended session may be resumed.
		OnExpiry    string        `yaml:"on_expiry"`
		ResumeGrace time.Duration `yaml:"resume_grace"`
	} `yaml:"workspaces"`
}

// ParseWorkspaces parses and validates a YAML catalog; src names it in
// errors. A workspace may name only the seccomp profiles in known.
func ParseWorkspaces(src string, raw []byte, known []string) ([]*airlock.Workspace, error) {
	var f workspaceFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		hint := ""
		if bytes.Contains(raw, []byte(": *")) || bytes.Contains(raw, []byte("- *")) {
			hint = `; a value starting with * is a YAML alias: quote egress domains like "*.example.com"`
		}
		return nil, fmt.Errorf("workspaces file %s: %w%s", src, err, hint)
	}
	now := airlock.Now()
	var list []*airlock.Workspace
	for i, w := range f.Workspaces {
		ws := &airlock.Workspace{Name: w.Name, Description: w.Description, Image: w.Image, Isolation: airlock.Isolation(w.Isolation),
			NanoCPUs: int64(w.CPUs * 1e9), PidsLimit: w.Pids, Env: w.Env, StartURL: w.StartURL, Seccomp: w.Seccomp,
			Clipboard: airlock.ClipboardPolicy(w.Clipboard), Egress: w.Egress, Mode: airlock.Mode(w.Mode), Browser: w.Browser,
			Audio: airlock.AudioPolicy(w.Audio), Locale: w.Locale, TimeZone: w.TimeZone, MaxScale: w.MaxScale, CreatedAt: now, UpdatedAt: now,
			Limits: airlock.Limits{Idle: w.IdleTimeout, ViewerIdle: w.ViewerIdleTimeout, Lifetime: w.Lifetime, MaxLifetime: w.MaxLifetime,
				OnExpiry: airlock.ExpiryAction(w.OnExpiry), ResumeGrace: w.ResumeGrace}}
		for _, sz := range []struct {
			v   string
			dst *int64
		}{{w.Memory, &ws.Memory}, {w.Shm, &ws.ShmSize}} {
			if sz.v == "" {
				continue
			}
			n, err := units.RAMInBytes(sz.v)
			if err != nil {
				return nil, fmt.Errorf("workspaces file %s: workspace %d (%s): size %q: %w", src, i+1, w.Name, sz.v, err)
			}
			*sz.dst = n
		}
		if err := ws.Validate(); err != nil {
			return nil, fmt.Errorf("workspaces file %s: workspace %d (%s): %w", src, i+1, w.Name, err)
		}
		if err := ws.ValidateSeccomp(known); err != nil {
			return nil, fmt.Errorf("workspaces file %s: workspace %d (%s): %w", src, i+1, w.Name, err)
		}
		list = append(list, ws)
	}
	return list, nil
}

// LoadWorkspaces makes the catalog match the file: workspaces it names are
// created or updated; others are left alone. The whole file is validated
// before anything is written; a workspace may name only the seccomp
// profiles in known.
func LoadWorkspaces(ctx context.Context, st airlock.Store, path string, known []string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("workspaces file: %w", err)
	}
	list, err := ParseWorkspaces(path, raw, known)
	if err != nil {
		return err
	}
	for _, ws := range list {
		old, err := st.WorkspaceByName(ctx, ws.Name)
		switch airlock.ErrorCode(err) {
		case airlock.ENOTFOUND:
			ws.ID = newNodeID()
			err = st.CreateWorkspace(ctx, ws)
		case "":
			ws.ID, ws.CreatedAt = old.ID, old.CreatedAt
			err = st.UpdateWorkspace(ctx, ws)
		}
		if err != nil {
			return fmt.Errorf("workspace %s: %w", ws.Name, err)
		}
	}
	return nil
}

// offeredSetting names the setting that lists, as JSON, the default
// workspaces SeedWorkspaces has offered this deployment.
const offeredSetting = "default_workspaces_offered"

// legacyDefault is the workspace offered, before offeredSetting existed,
// to a deployment whose catalog was empty: a deployment with workspaces
// and without the setting has had it offered.
const legacyDefault = "minimal"

// SeedWorkspaces adds to the catalog each workspace of the YAML catalog
// raw (src names it in errors) that this deployment has not been offered
// before: a default appears once, in new and in existing deployments, and
// an administrator who deletes or changes it keeps it that way. A
// workspace of the same name made otherwise is left alone. A workspace may
// name only the seccomp profiles in known.
func SeedWorkspaces(ctx context.Context, st airlock.Store, src string, raw []byte, known []string) error {
	list, err := ParseWorkspaces(src, raw, known)
	if err != nil {
		return err
	}
	offered := []string{}
	v, err := st.Setting(ctx, offeredSetting)
	switch airlock.ErrorCode(err) {
	case "":
		if err := json.Unmarshal(v, &offered); err != nil {
			return fmt.Errorf("setting %s: %w", offeredSetting, err)
		}
	case airlock.ENOTFOUND:
		existing, err := st.ListWorkspaces(ctx)
		if err != nil {
			return fmt.Errorf("seed workspaces: %w", err)
		}
		if len(existing) > 0 {
			offered = []string{legacyDefault}
		}
	default:
		return fmt.Errorf("setting %s: %w", offeredSetting, err)
	}
	changed := v == nil
	for _, ws := range list {
		if slices.Contains(offered, ws.Name) {
			continue
		}
		ws.ID = newNodeID()
		if err := st.CreateWorkspace(ctx, ws); err != nil && airlock.ErrorCode(err) != airlock.ECONFLICT {
			return fmt.Errorf("seed workspace %s: %w", ws.Name, err)
		}
		offered = append(offered, ws.Name)
		changed = true
	}
	if !changed {
		return nil
	}
	out, err := json.Marshal(offered)
	if err != nil {
		return fmt.Errorf("setting %s: %w", offeredSetting, err)
	}
	if err := st.SetSetting(ctx, offeredSetting, out); err != nil {
		return fmt.Errorf("setting %s: %w", offeredSetting, err)
	}
	return nil
}
