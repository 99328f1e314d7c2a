package api

import (
	"context"
	"net/http"
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
	NanoCPUs    int64  `json:"nano_cpus,omitempty"`
	Memory      int64  `json:"memory,omitempty"`
	PidsLimit   int64  `json:"pids_limit,omitempty"`
	ShmSize     int64  `json:"shm_size,omitempty"`
	// Env is shown to admins only: a catalog entry's variables may hold
	// what its users are not meant to read (a proxy's password, a key).
	Env      map[string]string `json:"env,omitempty"`
	StartURL string            `json:"start_url,omitempty"`
	// Seccomp names one of the server's seccomp profiles; empty is
	// Docker's default profile. Always shown.
	Seccomp string `json:"seccomp"`
	// Clipboard is off, to-container, from-container or both; empty on
	// create is both. Always shown.
	Clipboard string     `json:"clipboard"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
}

// viewWorkspace is w as a client sees it; withEnv is whether the caller
// may read the environment variables (admins).
func viewWorkspace(w *airlock.Workspace, withEnv bool) workspaceSpec {
	created := w.CreatedAt
	v := workspaceSpec{ID: w.ID, Name: w.Name, Description: w.Description, Image: w.Image, Isolation: string(w.Isolation),
		NanoCPUs: w.NanoCPUs, Memory: w.Memory, PidsLimit: w.PidsLimit, ShmSize: w.ShmSize, StartURL: w.StartURL,
		Seccomp: w.Seccomp, Clipboard: string(w.Clipboard.OrDefault()), CreatedAt: &created}
	if withEnv {
		v.Env = w.Env
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
	ws, err := s.store.ListWorkspaces(r.Context())
	if err != nil {
		return err
	}
	out := make([]workspaceSpec, 0, len(ws))
	for _, x := range ws {
		out = append(out, viewWorkspace(x, seesEnv(r.Context())))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getWorkspace(w http.ResponseWriter, r *http.Request) error {
	ws, err := s.store.WorkspaceByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewWorkspace(ws, seesEnv(r.Context())))
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
	writeJSON(w, http.StatusCreated, viewWorkspace(ws, seesEnv(r.Context())))
	return nil
}

// putWorkspace validates and stores a new workspace.
func (s *Server) putWorkspace(r *http.Request, spec workspaceSpec) (*airlock.Workspace, error) {
	now := s.clock.now()
	ws := &airlock.Workspace{ID: newID(), Name: spec.Name, Description: spec.Description, Image: spec.Image,
		Isolation: airlock.Isolation(spec.Isolation), NanoCPUs: spec.NanoCPUs, Memory: spec.Memory, PidsLimit: spec.PidsLimit,
		ShmSize: spec.ShmSize, Env: spec.Env, StartURL: spec.StartURL, Seccomp: spec.Seccomp,
		Clipboard: airlock.ClipboardPolicy(spec.Clipboard), CreatedAt: now, UpdatedAt: now}
	if err := ws.Validate(); err != nil {
		return nil, err
	}
	if err := ws.ValidateSeccomp(s.seccompNames); err != nil {
		return nil, err
	}
	if err := s.store.CreateWorkspace(r.Context(), ws); err != nil {
		return nil, err
	}
	return ws, nil
}

func (s *Server) deleteWorkspace(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ws, err := s.store.WorkspaceByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	sessions, err := s.store.ListSessions(ctx, airlock.SessionFilter{States: airlock.ActiveStates})
	if err != nil {
		return err
	}
	inUse := 0
	for _, x := range sessions {
		if x.WorkspaceID == ws.ID {
			inUse++
		}
	}
	if inUse > 0 {
		return airlock.Errorf(airlock.ECONFLICT, "workspace %q has %d active sessions; end them first", ws.Name, inUse)
	}
	if err := s.store.DeleteWorkspace(ctx, ws.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
