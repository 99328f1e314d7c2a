package api

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// clientKey carries the caller's network address, a request fact every
// audit event of the request records.
type clientKey struct{}

func withClient(r *http.Request) *http.Request {
	a := clientAddr(r)
	if !a.IsValid() {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), clientKey{}, a.String()))
}

func clientOf(ctx context.Context) string {
	c, _ := ctx.Value(clientKey{}).(string)
	return c
}

// audit records a successful action of actor on target. A session's
// actions name the session.
func (s *Server) audit(ctx context.Context, actor, action, target, detail string) {
	e := &airlock.AuditEvent{Actor: actor, Action: action, Target: target, Detail: detail}
	if strings.HasPrefix(action, "session.") {
		e.Session = target
	}
	s.record(ctx, e)
}

// record appends e with the server's time and the request's client
// address. A failure to write is logged, not returned: the action it
// records has happened (file transfers, which must not happen
// unrecorded, append themselves).
func (s *Server) record(ctx context.Context, e *airlock.AuditEvent) {
	if e.Time.IsZero() {
		e.Time = s.clock.now()
	}
	if e.Client == "" {
		e.Client = clientOf(ctx)
	}
	// The request may be over (a client that hung up): the event is
	// written all the same.
	if err := s.store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("audit", "action", e.Action, "target", e.Target, "err", err)
	}
}

// refusal records a refused credential (agent or node), at most once a
// minute per action and client address: a container or host retrying a
// dead credential in a loop must not fill the log. The next event of
// that kind says how many were left out.
func (s *Server) refusal(ctx context.Context, actor, action, target, why string) {
	key := action + " " + clientOf(ctx)
	n, ok := s.refusals.allow(key, s.clock.now())
	if !ok {
		return
	}
	if n > 0 {
		why = fmt.Sprintf("%s (and %d more refusals from this address not recorded)", why, n)
	}
	s.record(ctx, &airlock.AuditEvent{Actor: actor, Action: action, Target: target, Outcome: airlock.OutcomeFailure, Detail: why})
}

// refusalLimiter lets one event per key through per refusalEvery.
type refusalLimiter struct {
	mu sync.Mutex
	// last and skipped are guarded by mu.
	last    map[string]time.Time
	skipped map[string]int
}

const (
	refusalEvery   = time.Minute
	maxRefusalKeys = 4096
)

// allow reports whether key's event may be written at now, and how many
// were skipped since the last one written.
func (l *refusalLimiter) allow(key string, now time.Time) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last, l.skipped = map[string]time.Time{}, map[string]int{}
	}
	if t, ok := l.last[key]; ok && now.Sub(t) < refusalEvery {
		l.skipped[key]++
		return 0, false
	}
	if len(l.last) >= maxRefusalKeys {
		for k, t := range l.last {
			if now.Sub(t) >= refusalEvery {
				delete(l.last, k)
				delete(l.skipped, k)
			}
		}
	}
	n := l.skipped[key]
	l.last[key] = now
	delete(l.skipped, key)
	return n, true
}

// auditView is an event as clients see it: the line of an export.
type auditView = airlock.AuditLine

type auditList struct {
	Events []auditView `json:"events"`
	// NextBefore is the cursor of the next (older) page: pass it as
	// before. Absent on the last page.
	NextBefore int64 `json:"next_before,omitempty"`
}

// Bounds of a listing.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

// auditParams are the query parameters of the audit routes; only a
// listing pages.
var (
	auditFilterParams = []string{"actor", "action", "target", "outcome", "since", "until"}
	auditListParams   = append(slices.Clone(auditFilterParams), "limit", "before")
)

// auditFilterOf reads the filter in q, refusing with the parameter's name
// and why each bad value, unknown or repeated parameter.
func auditFilterOf(q url.Values, listing bool) (airlock.AuditFilter, error) {
	known := auditFilterParams
	if listing {
		known = auditListParams
	}
	bad := func(name, v, why string) error {
		return airlock.Errorf(airlock.EINVALID, "query parameter %s=%q: %s", name, v, why)
	}
	for name, vs := range q {
		if !slices.Contains(known, name) {
			return airlock.AuditFilter{}, airlock.Errorf(airlock.EINVALID, "unknown query parameter %q: this route takes %s", name, strings.Join(known, ", "))
		}
		if len(vs) > 1 {
			return airlock.AuditFilter{}, airlock.Errorf(airlock.EINVALID, "query parameter %s is given %d times; give it once", name, len(vs))
		}
	}
	f := airlock.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target"), Outcome: airlock.AuditOutcome(q.Get("outcome"))}
	for _, p := range []struct{ name, v string }{{"actor", f.Actor}, {"action", f.Action}, {"target", f.Target}} {
		if len(p.v) > airlock.MaxAuditField {
			return f, bad(p.name, p.v[:32]+"…", fmt.Sprintf("longer than %d bytes", airlock.MaxAuditField))
		}
	}
	if err := validAuditAction(f.Action); err != nil {
		return f, bad("action", f.Action, err.Error())
	}
	if f.Outcome != "" && !f.Outcome.Valid() {
		return f, bad("outcome", string(f.Outcome), "must be success or failure")
	}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return f, bad(p.name, v, "must be a time in RFC 3339 form, e.g. 2025-06-01T12:00:00Z")
		}
		*p.t = t.UTC()
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, bad("until", q.Get("until"), "must be after since")
	}
	if !listing {
		return f, nil
	}
	f.Limit = defaultAuditLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditLimit {
			return f, bad("limit", v, fmt.Sprintf("must be a whole number from 1 to %d", maxAuditLimit))
		}
		f.Limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return f, bad("before", v, "must be an event ID, a whole number of at least 1 (a listing's next_before)")
		}
		f.Before = n
	}
	return f, nil
}

// validAuditAction accepts an action or a prefix ending in "." or ".*":
// lowercase letters, digits and "._-".
func validAuditAction(a string) error {
	body := strings.TrimSuffix(a, "*")
	if body != a && !strings.HasSuffix(body, ".") {
		return fmt.Errorf(`a "*" may only end a prefix, as in "session.*"`)
	}
	for _, c := range body {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%q is not a lowercase letter, digit, '.', '_' or '-'", c)
		}
	}
	return nil
}

// listAudit answers the events the query selects, newest first.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	f, err := auditFilterOf(r.URL.Query(), true)
	if err != nil {
		return err
	}
	es, err := s.store.ListAudit(r.Context(), f)
	if err != nil {
		return err
	}
	out := auditList{Events: make([]auditView, 0, len(es))}
	for _, e := range es {
		out.Events = append(out.Events, e.Line())
	}
	if len(es) == f.Limit && es[len(es)-1].ID > 1 {
		out.NextBefore = es[len(es)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// exportAudit streams the events the query selects as JSON lines, oldest
// first, each with its hashes, so `airlock audit verify --file` can check
// it without the server. The export is itself recorded first, so it
// carries its own record.
func (s *Server) exportAudit(w http.ResponseWriter, r *http.Request) error {
	f, err := auditFilterOf(r.URL.Query(), false)
	if err != nil {
		return err
	}
	ctx := r.Context()
	s.audit(ctx, callerOf(ctx).User.Name, "audit.export", "", r.URL.RawQuery)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="airlock-audit.jsonl"`)
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	lw := airlock.NewAuditLineWriter(bw)
	err = s.store.ExportAudit(ctx, f, lw.Write)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		// The status is sent: cut the response off, so the client sees a
		// broken export rather than a short one that looks whole.
		s.log.Error("audit export cut off", "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

type auditVerifyView struct {
	OK bool `json:"ok"`
	*airlock.AuditVerification
}

// verifyAudit walks the whole chain and answers what it found; a broken
// chain is an answer (ok false, the break), not an error. The check is
// recorded, with its outcome.
func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	v, err := s.store.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	e := &airlock.AuditEvent{Actor: callerOf(ctx).User.Name, Action: "audit.verify",
		Detail: fmt.Sprintf("%d records, head %d %s", v.Records, v.LastID, v.Head)}
	if !v.OK() {
		e.Outcome, e.Detail = airlock.OutcomeFailure, v.Broken.String()
		s.log.Error("audit chain broken", "break", v.Broken.String())
	}
	s.record(ctx, e)
	writeJSON(w, http.StatusOK, auditVerifyView{OK: v.OK(), AuditVerification: v})
	return nil
}

// loginFailed records a refused sign-in. The response to the client is
// the same whatever the reason, and only admins read the log, so the
// reason (unknown user, wrong password, throttled) is no oracle of which
// names exist. The password is never recorded; the name tried is, as the
// target, when it could be a user name: what could not is often a
// password typed into the wrong field, and is recorded by its length only.
func (s *Server) loginFailed(ctx context.Context, name, why string) {
	if airlock.ValidName("user", name) != nil {
		name = fmt.Sprintf("(not a user name, %d bytes)", len(name))
	}
	s.record(ctx, &airlock.AuditEvent{ActorKind: airlock.ActorAnonymous, Action: "auth.login", Target: name,
		Outcome: airlock.OutcomeFailure, Detail: why})
}

// tokenUseEvery is how often a token in steady use is recorded: its
// last use is written every minute, which would be 1 440 audit events a
// day for one busy token.
const tokenUseEvery = time.Hour

// tokenUses remembers when each token's use was last recorded, in this
// process (a restart records the next use again), for at most max tokens.
type tokenUses struct {
	mu   sync.Mutex
	last map[string]time.Time
	max  int
}

// due reports whether a use of token id at now is to be recorded, and
// if so notes it.
func (u *tokenUses) due(id string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if t, ok := u.last[id]; ok && now.Sub(t) < tokenUseEvery {
		return false
	}
	if u.last == nil || len(u.last) >= u.max {
		u.last = map[string]time.Time{}
	}
	u.last[id] = now
	return true
}

// tokenUsed records an API token's use, once an hour while it is in use.
// It runs when authentication writes the token's last use (at most once
// per timeLastUsedGranularity).
func (s *Server) tokenUsed(ctx context.Context, t *airlock.APIToken, u *airlock.User, now time.Time) {
	if !s.tokenUses.due(t.ID, now) {
		return
	}
	s.audit(ctx, u.Name, "token.use", t.ID, t.Name)
}

// sessionEnded records a session's end (stopped or failed, by whoever:
// its user, an admin, the lifecycle's expiry, a lost node), with its end
// reason; the user's or admin's request to end it is recorded apart, as
// session.delete.
func (s *Server) sessionEnded(ctx context.Context, sess *airlock.Session) {
	e := &airlock.AuditEvent{Actor: "system", Action: "session.end", Target: sess.ID, Session: sess.ID,
		Detail: fmt.Sprintf("end=%s state=%s", sess.EndReason, sess.State)}
	if sess.Reason != "" {
		e.Detail += ": " + sess.Reason
	}
	if sess.State == airlock.SessionFailed {
		e.Outcome = airlock.OutcomeFailure
	}
	s.record(ctx, e)
}
