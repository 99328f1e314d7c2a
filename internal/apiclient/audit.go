package apiclient

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// AuditFilter selects audit events; each zero field selects all.
type AuditFilter struct {
	// Actor is a user name, node:NAME, agent or system; Action an action
	// (auth.login) or a prefix ending in . (session.); Outcome success or
	// failure.
	Actor, Action, Target, Outcome string
	// Since and Until bound the events' time: from Since, before Until.
	Since, Until time.Time
	// Limit (1 to 1000, default 50) and Before (an ID: older events only)
	// page a listing; an export has neither.
	Limit  int
	Before int64
}

// query is f as the api's query string, with its "?" (none for no
// filter).
func (f AuditFilter) query() string {
	q := url.Values{}
	for k, v := range map[string]string{"actor": f.Actor, "action": f.Action, "target": f.Target, "outcome": f.Outcome} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for k, t := range map[string]time.Time{"since": f.Since, "until": f.Until} {
		if !t.IsZero() {
			q.Set(k, t.UTC().Format(time.RFC3339Nano))
		}
	}
	if f.Limit != 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Before != 0 {
		q.Set("before", strconv.FormatInt(f.Before, 10))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// AuditPage is a page of audit events, newest first; NextBefore, when
// not 0, is the Before of the next page.
type AuditPage struct {
	Events     []airlock.AuditLine `json:"events"`
	NextBefore int64               `json:"next_before,omitempty"`
}

// ListAudit is a page of the audit events f selects.
func (c *Client) ListAudit(ctx context.Context, f AuditFilter) (*AuditPage, error) {
	return get[AuditPage](ctx, c, route("audit")+f.query())
}

// ExportAudit copies the events f selects to w as they arrive, as JSON
// lines: an export airlock.VerifyAuditLines checks offline.
// An export cut off midway is an error.
func (c *Client) ExportAudit(ctx context.Context, f AuditFilter, w io.Writer) error {
	return c.Stream(ctx, route("audit", "export")+f.query(), w)
}

// VerifyAudit has the api walk the whole audit chain. A broken chain is
// an answer (v.OK() false, and where), not an error.
func (c *Client) VerifyAudit(ctx context.Context) (*airlock.AuditVerification, error) {
	return call[airlock.AuditVerification](ctx, c, http.MethodPost, route("audit", "verify"), struct{}{})
}
