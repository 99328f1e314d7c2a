package api

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// transferRequest is a file crossing between the session's browser and
// its viewer, as the agent reports it before letting it cross.
type transferRequest struct {
	Direction string `json:"direction"` // "download" or "upload"
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
}

func (t transferRequest) check() error {
	if t.Direction != "download" && t.Direction != "upload" {
		return airlock.Errorf(airlock.EINVALID, "direction %q: want download or upload", t.Direction)
	}
	if t.Name == "" || len(t.Name) > 255 || !utf8.ValidString(t.Name) {
		return airlock.Errorf(airlock.EINVALID, "name: want a UTF-8 file name of 1 to 255 bytes")
	}
	if t.Size < 0 {
		return airlock.Errorf(airlock.EINVALID, "size %d is negative", t.Size)
	}
	if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != 32 {
		return airlock.Errorf(airlock.EINVALID, "sha256: want 64 hex digits")
	}
	return nil
}

// agentTransfer records a file transfer in the audit log, as the
// session's user's doing: action file.download or file.upload, the
// session as target, the file's name, size and SHA-256 as detail. The
// agent lets the file cross only once this answered, so an audit log
// that cannot be written stops the transfer.
func (s *Server) agentTransfer(w http.ResponseWriter, r *http.Request) error {
	_, sess, err := s.agentSession(r)
	if err != nil {
		return err
	}
	var req transferRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	actor := "user:" + sess.UserID
	if u, err := s.store.UserByID(r.Context(), sess.UserID); err == nil {
		actor = u.Name
	}
	detail, err := json.Marshal(map[string]any{"name": req.Name, "size": req.Size, "sha256": req.SHA256})
	if err != nil {
		return err
	}
	// The user is the actor; the request came from their session's
	// container, whose address says nothing of them, so none is kept.
	e := &airlock.AuditEvent{Time: s.clock.now(), ActorKind: airlock.ActorUser, Actor: actor, Action: "file." + req.Direction,
		Target: sess.ID, Session: sess.ID, Detail: string(detail)}
	if err := s.store.AppendAudit(r.Context(), e); err != nil {
		return fmt.Errorf("audit a file transfer: %w", err)
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
