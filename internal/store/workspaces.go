package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

const workspaceCols = `id, name, description, image, isolation, nano_cpus, memory, pids_limit, shm_size, env, start_url, seccomp, clipboard, egress, mode, browser, audio, locale, timezone, max_scale, created_at, updated_at,
	idle_timeout_ms, viewer_idle_timeout_ms, lifetime_ms, max_lifetime_ms, on_expiry, resume_grace_ms, node_labels`

func scanWorkspace(s scanner) (*airlock.Workspace, error) {
	var w airlock.Workspace
	var env, egress, browser, labels string
	var created, updated, idle, viewerIdle, lifetime, maxLifetime, grace int64
	if err := s.Scan(&w.ID, &w.Name, &w.Description, &w.Image, &w.Isolation,
		&w.NanoCPUs, &w.Memory, &w.PidsLimit, &w.ShmSize, &env, &w.StartURL, &w.Seccomp, &w.Clipboard, &egress,
		&w.Mode, &browser, &w.Audio, &w.Locale, &w.TimeZone, &w.MaxScale, &created, &updated,
		&idle, &viewerIdle, &lifetime, &maxLifetime, &w.Limits.OnExpiry, &grace, &labels); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(env), &w.Env); err != nil {
		return nil, fmt.Errorf("workspace %s: env: %w", w.ID, err)
	}
	// Not validated here: the policy was when it was written, and a rule
	// a later release refuses must still read back to be corrected.
	if egress != "" {
		if err := json.Unmarshal([]byte(egress), &w.Egress); err != nil {
			return nil, fmt.Errorf("workspace %s: egress: %w", w.ID, err)
		}
	}
	if labels != "" {
		if err := json.Unmarshal([]byte(labels), &w.NodeLabels); err != nil {
			return nil, fmt.Errorf("workspace %s: node labels: %w", w.ID, err)
		}
	}
	if browser != "" {
		if err := json.Unmarshal([]byte(browser), &w.Browser); err != nil {
			return nil, fmt.Errorf("workspace %s: browser: %w", w.ID, err)
		}
	}
	w.CreatedAt, w.UpdatedAt = fromMicros(created), fromMicros(updated)
	w.Limits = airlock.Limits{Idle: millis(idle), ViewerIdle: millis(viewerIdle), Lifetime: millis(lifetime), MaxLifetime: millis(maxLifetime),
		OnExpiry: w.Limits.OnExpiry, ResumeGrace: millis(grace)}
	return &w, nil
}

// browserJSON is the text of w's browser column: ” for the zero policy.
func browserJSON(w *airlock.Workspace) (string, error) {
	b := w.Browser
	if len(b.URLAllowlist) == 0 && len(b.URLBlocklist) == 0 && b.Downloads == (airlock.Transfer{}) &&
		b.Uploads == (airlock.Transfer{}) && !b.DevTools && !b.Printing && len(b.Policies) == 0 {
		return "", nil
	}
	out, err := json.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("browser: %w", err)
	}
	return string(out), nil
}

// workspaceJSON is the text of w's JSON columns: its environment, and its
// egress policy (” for the empty one).
func workspaceJSON(w *airlock.Workspace) (env, egress string, err error) {
	e, err := json.Marshal(w.Env)
	if err != nil {
		return "", "", fmt.Errorf("env: %w", err)
	}
	if len(w.Egress.Rules) == 0 {
		return string(e), "", nil
	}
	g, err := json.Marshal(w.Egress)
	if err != nil {
		return "", "", fmt.Errorf("egress: %w", err)
	}
	return string(e), string(g), nil
}

// labelsJSON is the text of w's node_labels column: ” for none.
func labelsJSON(w *airlock.Workspace) (string, error) {
	if len(w.NodeLabels) == 0 {
		return "", nil
	}
	b, err := json.Marshal(w.NodeLabels)
	if err != nil {
		return "", fmt.Errorf("node labels: %w", err)
	}
	return string(b), nil
}

// CreateWorkspace stores w; a zero CreatedAt or UpdatedAt is set to now.
func (db *DB) CreateWorkspace(ctx context.Context, w *airlock.Workspace) error {
	env, egress, err := workspaceJSON(w)
	if err != nil {
		return fmt.Errorf("create workspace %s: %w", w.ID, err)
	}
	browser, err := browserJSON(w)
	if err != nil {
		return fmt.Errorf("create workspace %s: %w", w.ID, err)
	}
	labels, err := labelsJSON(w)
	if err != nil {
		return fmt.Errorf("create workspace %s: %w", w.ID, err)
	}
	db.stamp(&w.CreatedAt, &w.UpdatedAt)
	_, err = db.exec(ctx, `INSERT INTO workspaces (`+workspaceCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ID, w.Name, w.Description, w.Image, string(w.Isolation), w.NanoCPUs, w.Memory, w.PidsLimit, w.ShmSize,
		env, w.StartURL, w.Seccomp, string(w.Clipboard), egress,
		string(w.Mode), browser, string(w.Audio), w.Locale, w.TimeZone, w.MaxScale, micros(w.CreatedAt), micros(w.UpdatedAt),
		w.Limits.Idle.Milliseconds(), w.Limits.ViewerIdle.Milliseconds(), w.Limits.Lifetime.Milliseconds(), w.Limits.MaxLifetime.Milliseconds(),
		string(w.Limits.OnExpiry), w.Limits.ResumeGrace.Milliseconds(), labels)
	if err != nil {
		return writeErr(err, "workspace", w.Name, "create workspace "+w.ID)
	}
	return nil
}

// WorkspaceByID returns the workspace with the given ID.
func (db *DB) WorkspaceByID(ctx context.Context, id string) (*airlock.Workspace, error) {
	w, err := scanWorkspace(db.queryRow(ctx, `SELECT `+workspaceCols+` FROM workspaces WHERE id = ?`, id))
	if err != nil {
		return nil, rowErr(err, "workspace", id)
	}
	return w, nil
}

// WorkspaceByName returns the workspace with the given name.
func (db *DB) WorkspaceByName(ctx context.Context, name string) (*airlock.Workspace, error) {
	w, err := scanWorkspace(db.queryRow(ctx, `SELECT `+workspaceCols+` FROM workspaces WHERE name = ?`, name))
	if err != nil {
		return nil, rowErr(err, "workspace", name)
	}
	return w, nil
}

// ListWorkspaces returns every workspace by name.
func (db *DB) ListWorkspaces(ctx context.Context) ([]*airlock.Workspace, error) {
	ws, err := list(ctx, db, scanWorkspace, `SELECT `+workspaceCols+` FROM workspaces ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	return ws, nil
}

// UpdateWorkspace writes every field of w but ID and CreatedAt; a zero
// UpdatedAt is set to now.
func (db *DB) UpdateWorkspace(ctx context.Context, w *airlock.Workspace) error {
	env, egress, err := workspaceJSON(w)
	if err != nil {
		return fmt.Errorf("update workspace %s: %w", w.ID, err)
	}
	browser, err := browserJSON(w)
	if err != nil {
		return fmt.Errorf("update workspace %s: %w", w.ID, err)
	}
	labels, err := labelsJSON(w)
	if err != nil {
		return fmt.Errorf("update workspace %s: %w", w.ID, err)
	}
	db.touch(&w.UpdatedAt)
	ok, err := db.execOne(ctx, `UPDATE workspaces SET name = ?, description = ?, image = ?, isolation = ?,
		nano_cpus = ?, memory = ?, pids_limit = ?, shm_size = ?, env = ?, start_url = ?, seccomp = ?, clipboard = ?,
		egress = ?, mode = ?, browser = ?, audio = ?, locale = ?, timezone = ?, max_scale = ?, updated_at = ?,
		idle_timeout_ms = ?, viewer_idle_timeout_ms = ?, lifetime_ms = ?, max_lifetime_ms = ?, on_expiry = ?, resume_grace_ms = ?, node_labels = ? WHERE id = ?`,
		w.Name, w.Description, w.Image, string(w.Isolation), w.NanoCPUs, w.Memory, w.PidsLimit, w.ShmSize,
		env, w.StartURL, w.Seccomp, string(w.Clipboard), egress,
		string(w.Mode), browser, string(w.Audio), w.Locale, w.TimeZone, w.MaxScale, micros(w.UpdatedAt),
		w.Limits.Idle.Milliseconds(), w.Limits.ViewerIdle.Milliseconds(), w.Limits.Lifetime.Milliseconds(), w.Limits.MaxLifetime.Milliseconds(),
		string(w.Limits.OnExpiry), w.Limits.ResumeGrace.Milliseconds(), labels, w.ID)
	if err != nil {
		return writeErr(err, "workspace", w.Name, "update workspace "+w.ID)
	}
	if !ok {
		return notFound("workspace", w.ID)
	}
	return nil
}

// DeleteWorkspace removes a workspace. Sessions of it stay, as history.
func (db *DB) DeleteWorkspace(ctx context.Context, id string) error {
	ok, err := db.execOne(ctx, `DELETE FROM workspaces WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete workspace %s: %w", id, err)
	}
	if !ok {
		return notFound("workspace", id)
	}
	if _, err := db.exec(ctx, `DELETE FROM pools WHERE workspace_id = ?`, id); err != nil {
		return fmt.Errorf("delete workspace %s: its pool: %w", id, err)
	}
	return nil
}

// millis is a duration column in milliseconds.
func millis(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }
