package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// poolView is a workspace's pool as admins read and write it, with its
// state: how many sessions are warm (ready to hand out) and starting.
type poolView struct {
	Workspace string   `json:"workspace"`
	Size      int      `json:"size"`
	MaxAge    duration `json:"max_age,omitempty"`
	Warm      int      `json:"warm"`
	Starting  int      `json:"starting"`
	// Nodes counts the warm sessions on each node, by name.
	Nodes     map[string]int `json:"nodes,omitempty"`
	UpdatedAt *time.Time     `json:"updated_at,omitempty"`
}

type setPoolRequest struct {
	Size   *int     `json:"size"`
	MaxAge duration `json:"max_age,omitempty"`
}

// setPool sets a workspace's pool: PUT /api/v1/pools/{workspace}
// {"size": N, "max_age": "1h"}. Size 0 keeps none warm.
func (s *Server) setPool(w http.ResponseWriter, r *http.Request) error {
	var req setPoolRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Size == nil {
		return airlock.Errorf(airlock.EINVALID, "size is required: how many sessions to keep warm (0 for none)")
	}
	ctx := r.Context()
	ws, err := s.store.WorkspaceByName(ctx, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	p := &airlock.Pool{WorkspaceID: ws.ID, Size: *req.Size, MaxAge: time.Duration(req.MaxAge), UpdatedAt: s.clock.now()}
	if err := p.Validate(); err != nil {
		return err
	}
	if err := s.store.SetPool(ctx, p); err != nil {
		return err
	}
	s.audit(ctx, callerOf(ctx).User.Name, "pool.set", ws.ID, fmt.Sprintf("%s size=%d max_age=%s", ws.Name, p.Size, p.MaxAge))
	v, err := s.viewPool(r, p, ws)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) listPools(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	pools, err := s.store.ListPools(ctx)
	if err != nil {
		return err
	}
	out := make([]poolView, 0, len(pools))
	for _, p := range pools {
		ws, err := s.store.WorkspaceByID(ctx, p.WorkspaceID)
		if airlock.ErrorCode(err) == airlock.ENOTFOUND {
			continue
		}
		if err != nil {
			return err
		}
		v, err := s.viewPool(r, p, ws)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) viewPool(r *http.Request, p *airlock.Pool, ws *airlock.Workspace) (poolView, error) {
	ctx := r.Context()
	v := poolView{Workspace: ws.Name, Size: p.Size, MaxAge: duration(p.MaxAge), UpdatedAt: &p.UpdatedAt, Nodes: map[string]int{}}
	list, err := s.store.ListSessions(ctx, airlock.SessionFilter{WorkspaceID: ws.ID,
		States: []airlock.SessionState{airlock.SessionPending, airlock.SessionStarting, airlock.SessionWarm}})
	if err != nil {
		return v, err
	}
	names := map[string]string{}
	for _, x := range list {
		if !x.Pooled() || x.UserID != "" {
			continue
		}
		if x.State != airlock.SessionWarm {
			v.Starting++
			continue
		}
		v.Warm++
		name, ok := names[x.NodeID]
		if !ok {
			if n, err := s.store.NodeByID(ctx, x.NodeID); err == nil {
				name = n.Name
			} else {
				name = x.NodeID
			}
			names[x.NodeID] = name
		}
		v.Nodes[name]++
	}
	return v, nil
}
