package infra

import (
	"bytes"
	"context"
	"fmt"
	"os"

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
	} `yaml:"workspaces"`
}

// LoadWorkspaces makes the catalog match the file: workspaces it names are
// created or updated; others are left alone. The whole file is validated
// before anything is written.
func LoadWorkspaces(ctx context.Context, st airlock.Store, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("workspaces file: %w", err)
	}
	var f workspaceFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("workspaces file %s: %w", path, err)
	}
	now := airlock.Now()
	var list []*airlock.Workspace
	for i, w := range f.Workspaces {
		ws := &airlock.Workspace{Name: w.Name, Description: w.Description, Image: w.Image, Isolation: airlock.Isolation(w.Isolation),
			NanoCPUs: int64(w.CPUs * 1e9), PidsLimit: w.Pids, Env: w.Env, StartURL: w.StartURL, CreatedAt: now, UpdatedAt: now}
		for _, sz := range []struct {
			v   string
			dst *int64
		}{{w.Memory, &ws.Memory}, {w.Shm, &ws.ShmSize}} {
			if sz.v == "" {
				continue
			}
			n, err := units.RAMInBytes(sz.v)
			if err != nil {
				return fmt.Errorf("workspaces file %s: workspace %d (%s): size %q: %w", path, i+1, w.Name, sz.v, err)
			}
			*sz.dst = n
		}
		if err := ws.Validate(); err != nil {
			return fmt.Errorf("workspaces file %s: workspace %d (%s): %w", path, i+1, w.Name, err)
		}
		list = append(list, ws)
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
