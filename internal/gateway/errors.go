package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
)

// Refusal is an answer the gateway gives instead of the service: a status
// and the api's error body, {"code","message"}.
type Refusal struct {
	Status  int
	Code    string
	Message string
}

func (r *Refusal) Error() string { return r.Message }

// refuse answers err: a *Refusal as it says, anything else as 500 (and
// logged: it is an outage, not the client's fault).
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var ref *Refusal
	if !errors.As(err, &ref) {
		g.cfg.Logger.Error("authenticate", "method", r.Method, "path", r.URL.Path, "err", err)
		ref = &Refusal{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
	}
	writeRefusal(w, ref)
}

func writeRefusal(w http.ResponseWriter, ref *Refusal) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(ref.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": ref.Code, "message": ref.Message})
}

// callerNote lets the guard tell the access log, which runs outside it,
// who the caller was.
type callerNote struct{ id *Identity }

type callerNoteKey struct{}

func withCallerNote(ctx context.Context, n *callerNote) context.Context {
	return context.WithValue(ctx, callerNoteKey{}, n)
}

func noteCaller(r *http.Request, id *Identity) {
	if n, ok := r.Context().Value(callerNoteKey{}).(*callerNote); ok {
		n.id = id
	}
}
