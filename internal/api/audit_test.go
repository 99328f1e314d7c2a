package api

import (
	"database/sql"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// auditList asks for the events query selects, as the admin.
func (e *env) auditList(query string) auditList {
	e.t.Helper()
	rec := e.do(req{Method: "GET", Path: "/api/v1/audit?" + query, Bearer: e.adminTok})
	wantStatus(e.t, rec, http.StatusOK)
	var l auditList
	mustJSON(e.t, rec, &l)
	return l
}

// lastEvent is the newest event of action; the test fails without one.
func (e *env) lastEvent(action string) auditView {
	e.t.Helper()
	l := e.auditList("limit=1&action=" + url.QueryEscape(action))
	if len(l.Events) == 0 {
		e.t.Fatalf("no %s event recorded", action)
	}
	return l.Events[0]
}

func TestAuditListFilters(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	base := e.clk.Now().UTC().Truncate(time.Second)
	for i, ev := range []airlock.AuditEvent{
		{Actor: "alice", Action: "session.create", Target: "s1"},
		{Actor: "alice", Action: "session.connect", Target: "s1"},
		{Actor: "bob", Action: "session.create", Target: "s2", Outcome: airlock.OutcomeFailure},
		{Actor: "node:n1", Action: "provision.refused", Target: "/containers/create", Outcome: airlock.OutcomeFailure},
	} {
		ev.Time = base.Add(time.Duration(i+1) * time.Hour)
		if err := e.st.AppendAudit(ctx, &ev); err != nil {
			t.Fatal(err)
		}
	}
	actions := func(l auditList) string {
		var out []string
		for _, ev := range l.Events {
			out = append(out, ev.Actor+":"+ev.Action)
		}
		return strings.Join(out, " ")
	}
	at := func(h int) string {
		return url.QueryEscape(base.Add(time.Duration(h) * time.Hour).Format(time.RFC3339))
	}
	for _, tc := range []struct{ name, query, want string }{
		{"actor", "actor=alice&since=" + at(1), "alice:session.connect alice:session.create"},
		{"action-prefix", "action=session.&actor=bob", "bob:session.create"},
		{"action-star", "action=session.*&target=s1", "alice:session.connect alice:session.create"},
		{"action-exact", "action=session.create&since=" + at(1), "bob:session.create alice:session.create"},
		{"outcome", "outcome=failure", "node:n1:provision.refused bob:session.create"},
		{"range", "since=" + at(2) + "&until=" + at(4), "bob:session.create alice:session.connect"},
		{"none", "actor=nobody", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := actions(e.auditList(tc.query)); got != tc.want {
				t.Fatalf("%s: %q, want %q", tc.query, got, tc.want)
			}
		})
	}

	t.Run("paging", func(t *testing.T) {
		var seen []int64
		q := "limit=2"
		for page := 0; ; page++ {
			l := e.auditList(q)
			for _, ev := range l.Events {
				seen = append(seen, ev.ID)
			}
			if l.NextBefore == 0 {
				break
			}
			if page > 20 {
				t.Fatal("paging does not end")
			}
			q = "limit=2&before=" + strconv.FormatInt(l.NextBefore, 10)
		}
		all := e.auditList("limit=1000").Events
		if len(seen) != len(all) || len(all) < 6 {
			t.Fatalf("paged %v; one listing has %d", seen, len(all))
		}
		for i := 1; i < len(seen); i++ {
			if seen[i] >= seen[i-1] {
				t.Fatalf("pages not newest first without repeats: %v", seen)
			}
		}
	})
}

func TestAuditBadParameters(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, path, msg string }{
		{"limit-word", "/api/v1/audit?limit=ten", `limit="ten": must be a whole number from 1 to 1000`},
		{"limit-zero", "/api/v1/audit?limit=0", `limit="0"`},
		{"limit-large", "/api/v1/audit?limit=1001", `limit="1001"`},
		{"before", "/api/v1/audit?before=-3", `before="-3": must be an event ID`},
		{"outcome", "/api/v1/audit?outcome=ok", `outcome="ok": must be success or failure`},
		{"since", "/api/v1/audit?since=yesterday", `since="yesterday": must be a time in RFC 3339 form`},
		{"until-before-since", "/api/v1/audit?since=2025-06-02T00:00:00Z&until=2025-06-01T00:00:00Z", `until="2025-06-01T00:00:00Z": must be after since`},
		{"action-star", "/api/v1/audit?action=sess*", `action="sess*": a "*" may only end a prefix`},
		{"action-chars", "/api/v1/audit?action=a%25", `action="a%"`},
		{"actor-long", "/api/v1/audit?actor=" + strings.Repeat("a", 600), "actor="},
		{"unknown", "/api/v1/audit?user=alice", `unknown query parameter "user"`},
		{"repeated", "/api/v1/audit?actor=a&actor=b", "actor is given 2 times"},
		{"export-no-limit", "/api/v1/audit/export?limit=5", `unknown query parameter "limit"`},
		{"export-outcome", "/api/v1/audit/export?outcome=maybe", `outcome="maybe"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do(req{Method: "GET", Path: tc.path, Bearer: e.adminTok}), "invalid", tc.msg)
		})
	}
	for _, p := range []string{"/api/v1/audit", "/api/v1/audit/export"} {
		wantError(t, e.do(req{Method: "GET", Path: p, Bearer: e.userTok}), "forbidden")
	}
	wantError(t, e.do(req{Method: "POST", Path: "/api/v1/audit/verify", Bearer: e.userTok}), "forbidden")
}

func TestAuditExportAndVerify(t *testing.T) {
	e := newEnv(t)
	rec := e.do(req{Method: "GET", Path: "/api/v1/audit/export", Bearer: e.adminTok})
	wantStatus(t, rec, http.StatusOK)
	if ct := rec.Header().Get("Content-Type"); ct != "application/x-ndjson" {
		t.Fatalf("Content-Type %q", ct)
	}
	export := rec.Body.String()
	v, err := airlock.VerifyAuditLines(strings.NewReader(export), false)
	if err != nil || !v.OK() {
		t.Fatalf("export does not verify: %v %+v", err, v)
	}
	// Its own record is its last line.
	lines := strings.Split(strings.TrimSpace(export), "\n")
	last, err := airlock.ParseAuditLine([]byte(lines[len(lines)-1]))
	if err != nil || last.Action != "audit.export" || last.Actor != "admin" {
		t.Fatalf("last line %s: %v", lines[len(lines)-1], err)
	}

	// A filtered export holds only what the filter selects.
	rec = e.do(req{Method: "GET", Path: "/api/v1/audit/export?action=auth.", Bearer: e.adminTok})
	wantStatus(t, rec, http.StatusOK)
	for _, l := range strings.Split(strings.TrimSpace(rec.Body.String()), "\n") {
		ev, err := airlock.ParseAuditLine([]byte(l))
		if err != nil || !strings.HasPrefix(ev.Action, "auth.") {
			t.Fatalf("filtered export has %s (%v)", l, err)
		}
	}

	var vv struct {
		OK bool `json:"ok"`
		airlock.AuditVerification
	}
	rec = e.do(req{Method: "POST", Path: "/api/v1/audit/verify", Bearer: e.adminTok})
	wantStatus(t, rec, http.StatusOK)
	mustJSON(t, rec, &vv)
	if !vv.OK || vv.Records < 3 || vv.Broken != nil {
		t.Fatalf("verify: %s", rec.Body)
	}
	if ev := e.lastEvent("audit.verify"); ev.Outcome != "success" {
		t.Fatalf("verify recorded as %+v", ev)
	}

	// Someone with the database file rewrites a record behind the
	// store's back, triggers and all.
	raw, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range []string{`DROP TRIGGER audit_events_no_update`, `UPDATE audit_events SET actor = 'nobody' WHERE id = 2`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rec = e.do(req{Method: "POST", Path: "/api/v1/audit/verify", Bearer: e.adminTok})
	wantStatus(t, rec, http.StatusOK)
	vv.Broken = nil
	mustJSON(t, rec, &vv)
	if vv.OK || vv.Broken == nil || vv.Broken.ID != 2 || vv.Broken.Problem != airlock.BreakHash {
		t.Fatalf("tampered record not found: %s", rec.Body)
	}
	if ev := e.lastEvent("audit.verify"); ev.Outcome != "failure" || !strings.Contains(ev.Detail, "record 2: hash") {
		t.Fatalf("failed verify recorded as %+v", ev)
	}
}

// TestAuditEventsRecorded: each audited action leaves its event, with
// actor, target, outcome and the client's address.
func TestAuditEventsRecorded(t *testing.T) {
	e := sessionEnv(t)
	e.addNode("n0", 10)
	const client = "192.0.2.1" // httptest's peer
	check := func(t *testing.T, ev auditView, actor, target, outcome string) {
		t.Helper()
		if ev.Actor != actor || (target != "*" && ev.Target != target) || ev.Outcome != outcome || ev.Client != client {
			t.Fatalf("event %+v: want actor %q target %q outcome %s client %s", ev, actor, target, outcome, client)
		}
	}

	// Sessions first: the clock moves later, and nodes fall silent.
	t.Run("sessions", func(t *testing.T) {
		sess, tok := e.launchForAgent()
		check(t, e.lastEvent("session.create"), "alice", sess.ID, "success")
		e.register(sess.ID, tok)
		wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/sessions/" + sess.ID + "/connect", Bearer: e.userTok}), http.StatusOK)
		ev := e.lastEvent("session.connect")
		check(t, ev, "alice", sess.ID, "success")
		if ev.Session != sess.ID {
			t.Fatalf("connect names no session: %+v", ev)
		}
		wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/sessions/" + sess.ID, Bearer: e.adminTok}), http.StatusOK)
		check(t, e.lastEvent("session.delete"), "admin", sess.ID, "success")
		if ev := e.lastEvent("session.end"); ev.Target != sess.ID || !strings.Contains(ev.Detail, "end=admin") || !strings.Contains(ev.Detail, "state=stopped") {
			t.Fatalf("end recorded as %+v", ev)
		}
	})

	t.Run("sign-in", func(t *testing.T) {
		wrong := e.do(req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"user": "alice", "password": "not-her-password"}})
		ev := e.lastEvent("auth.login")
		check(t, ev, "", "alice", "failure")
		if ev.ActorKind != "anonymous" || ev.Detail != "wrong password" || strings.Contains(ev.Detail, "not-her-password") {
			t.Fatalf("failed sign-in recorded as %+v", ev)
		}
		unknown := e.do(req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"user": "mallory", "password": "not-her-password"}})
		check(t, e.lastEvent("auth.login"), "", "mallory", "failure")
		// A password typed into the name field is not kept.
		e.do(req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"user": "Hunter2!secret", "password": "x"}})
		if ev := e.lastEvent("auth.login"); ev.Target != "(not a user name, 14 bytes)" {
			t.Fatalf("a name that cannot be a user's recorded as %q", ev.Target)
		}
		// The caller learns nothing from which it was.
		if wrong.Code != unknown.Code || wrong.Body.String() != unknown.Body.String() {
			t.Fatalf("answers differ: %d %s / %d %s", wrong.Code, wrong.Body, unknown.Code, unknown.Body)
		}
		if l := e.auditList("action=auth.login&outcome=success&actor=alice"); len(l.Events) == 0 {
			t.Fatal("successful sign-in not recorded")
		}
	})

	t.Run("tokens", func(t *testing.T) {
		rec := e.do(req{Method: "POST", Path: "/api/v1/tokens", Bearer: e.userTok, Body: map[string]any{"name": "ci"}})
		wantStatus(t, rec, http.StatusCreated)
		var tv tokenView
		mustJSON(t, rec, &tv)
		check(t, e.lastEvent("token.create"), "alice", tv.ID, "success")
		uses := func() int { return len(e.auditList("action=token.use&target=" + tv.ID).Events) }
		for range 3 {
			wantStatus(t, e.do(req{Method: "GET", Path: "/api/v1/me", Bearer: tv.Token}), http.StatusOK)
		}
		if n := uses(); n != 1 {
			t.Fatalf("three uses in a row: %d token.use events, want 1", n)
		}
		// In steady use its last use is written every minute, but its use
		// is recorded once an hour.
		for range 3 {
			e.clk.Advance(2 * timeLastUsedGranularity)
			wantStatus(t, e.do(req{Method: "GET", Path: "/api/v1/me", Bearer: tv.Token}), http.StatusOK)
		}
		if n := uses(); n != 1 {
			t.Fatalf("uses a few minutes apart: %d token.use events, want 1", n)
		}
		e.clk.Advance(tokenUseEvery)
		wantStatus(t, e.do(req{Method: "GET", Path: "/api/v1/me", Bearer: tv.Token}), http.StatusOK)
		if n := uses(); n != 2 {
			t.Fatalf("a use an hour later: %d token.use events, want 2", n)
		}
		wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/tokens/" + tv.ID, Bearer: e.userTok}), http.StatusNoContent)
		check(t, e.lastEvent("token.revoke"), "alice", tv.ID, "success")
	})

	t.Run("users-and-passwords", func(t *testing.T) {
		wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/users", Bearer: e.adminTok,
			Body: map[string]any{"name": "carol", "password": "carol-password-1"}}), http.StatusCreated)
		check(t, e.lastEvent("user.create"), "admin", "carol", "success")
		carol := e.login("carol", "carol-password-1")
		wantError(t, e.do(req{Method: "POST", Path: "/api/v1/users/me/password", Bearer: carol,
			Body: map[string]any{"current": "wrong-password-9", "new": "carol-password-2"}}), "forbidden")
		check(t, e.lastEvent("user.password.change"), "carol", "carol", "failure")
		wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/users/me/password", Bearer: carol,
			Body: map[string]any{"current": "carol-password-1", "new": "carol-password-2"}}), http.StatusOK)
		check(t, e.lastEvent("user.password.change"), "carol", "carol", "success")
		wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/users/carol/password", Bearer: e.adminTok,
			Body: map[string]any{"new": "carol-password-3"}}), http.StatusOK)
		check(t, e.lastEvent("user.password.reset"), "admin", "carol", "success")
		wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/auth/logout", Bearer: carol}), http.StatusNoContent)
		check(t, e.lastEvent("auth.logout"), "carol", "carol", "success")
		wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/users/carol", Bearer: e.adminTok}), http.StatusNoContent)
		check(t, e.lastEvent("user.delete"), "admin", "carol", "success")
	})

	t.Run("workspaces-and-pools", func(t *testing.T) {
		wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/workspaces", Bearer: e.adminTok,
			Body: map[string]any{"name": "tmp", "image": "airlock/minimal:1"}}), http.StatusCreated)
		check(t, e.lastEvent("workspace.create"), "admin", "*", "success")
		wantStatus(t, e.do(req{Method: "PATCH", Path: "/api/v1/workspaces/tmp", Bearer: e.adminTok,
			Body: map[string]any{"description": "x", "memory": 1 << 28}}), http.StatusOK)
		if ev := e.lastEvent("workspace.update"); ev.Detail != "tmp: description,memory" {
			t.Fatalf("update recorded as %+v", ev)
		}
		wantStatus(t, e.do(req{Method: "PUT", Path: "/api/v1/pools/tmp", Bearer: e.adminTok, Body: map[string]any{"size": 0}}), http.StatusOK)
		check(t, e.lastEvent("pool.set"), "admin", "*", "success")
		wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/workspaces/tmp", Bearer: e.adminTok}), http.StatusNoContent)
		check(t, e.lastEvent("workspace.delete"), "admin", "*", "success")
	})

	t.Run("nodes", func(t *testing.T) {
		jt := e.newJoinToken()
		check(t, e.lastEvent("node.join-token.create"), "admin", jt.ID, "success")
		wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/nodes/join-tokens/" + jt.ID, Bearer: e.adminTok}), http.StatusNoContent)
		check(t, e.lastEvent("node.join-token.delete"), "admin", jt.ID, "success")
		csr, _ := newCSR(t, "n7")
		wantError(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/enroll", Body: enrollRequest{
			Token: jt.Token, Name: "n7", URL: "https://10.0.0.7:2376", Capacity: 1, CSR: csr}}), "unauthorized")
		check(t, e.lastEvent("node.enroll"), "", "n7", "failure")
		cert := e.enrollNode("n1", "https://10.0.0.5:2376")
		check(t, e.lastEvent("node.enroll"), "node:n1", "*", "success")
		for _, a := range []string{"drain", "undrain"} {
			wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/n1/" + a, Bearer: e.adminTok}), http.StatusOK)
			check(t, e.lastEvent("node."+a), "admin", "*", "success")
		}
		// A node's refusals, reported with its certificate.
		batch := airlock.NodeEventBatch{Dropped: 4, Events: []airlock.NodeEvent{
			{Time: e.clk.Now(), Action: airlock.NodeProvisionRefused, Target: "POST /containers/create", Client: "admin-cli", Detail: "privileged: refused"},
			{Time: e.clk.Now(), Action: airlock.NodeEgressRefused, Target: "169.254.169.254:80", Session: "s9", Client: "10.200.0.2", Detail: "link-local"},
		}}
		wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/events", TLS: peer(cert), Body: batch}), http.StatusNoContent)
		ev := e.lastEvent("egress.refused")
		if ev.Actor != "node:n1" || ev.ActorKind != "node" || ev.Session != "s9" || ev.Client != "10.200.0.2" || ev.Outcome != "failure" {
			t.Fatalf("egress refusal recorded as %+v", ev)
		}
		if ev := e.lastEvent("provision.refused"); ev.Target != "POST /containers/create" || !strings.Contains(ev.Detail, "privileged") {
			t.Fatalf("provision refusal recorded as %+v", ev)
		}
		if ev := e.lastEvent("node.events.dropped"); !strings.Contains(ev.Detail, "4 refusals") {
			t.Fatalf("dropped count recorded as %+v", ev)
		}
		for _, bad := range []struct {
			name string
			b    airlock.NodeEventBatch
			msg  string
		}{
			{"action", airlock.NodeEventBatch{Events: []airlock.NodeEvent{{Time: e.clk.Now(), Action: "user.create"}}}, `events[0].action "user.create"`},
			{"time", airlock.NodeEventBatch{Events: []airlock.NodeEvent{{Action: airlock.NodeEgressRefused}}}, "events[0].time is required"},
			{"too-many", airlock.NodeEventBatch{Events: make([]airlock.NodeEvent, airlock.MaxNodeEvents+1)}, "at most 100"},
			{"detail", airlock.NodeEventBatch{Events: []airlock.NodeEvent{{Time: e.clk.Now(), Action: airlock.NodeEgressRefused,
				Detail: strings.Repeat("x", airlock.MaxAuditDetail)}}}, "events[0]: audit detail"},
		} {
			wantError(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/events", TLS: peer(cert), Body: bad.b}), "invalid", bad.msg)
		}
		wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/nodes/n1", Bearer: e.adminTok}), http.StatusNoContent)
		check(t, e.lastEvent("node.delete"), "admin", "*", "success")
		// The removed node's certificate is refused, and that is recorded.
		wantError(t, e.do(req{Method: "POST", Path: "/api/v1/nodes/heartbeat", TLS: peer(cert), Body: map[string]any{}}), "forbidden")
		if ev := e.lastEvent("node.refused"); ev.Outcome != "failure" || !strings.Contains(ev.Detail, "belongs to no enrolled node") {
			t.Fatalf("refused node recorded as %+v", ev)
		}
	})

	t.Run("refused-agent", func(t *testing.T) {
		for range 3 {
			wantError(t, e.do(req{Method: "POST", Path: "/api/v1/agent/heartbeat", Bearer: "forged", Body: map[string]any{}}), "unauthorized")
		}
		l := e.auditList("action=agent.refused")
		if len(l.Events) != 1 || l.Events[0].Outcome != "failure" || l.Events[0].Client != client {
			t.Fatalf("three refusals in a minute: %+v, want one event", l.Events)
		}
		e.clk.Advance(2 * refusalEvery)
		wantError(t, e.do(req{Method: "POST", Path: "/api/v1/agent/heartbeat", Bearer: "forged", Body: map[string]any{}}), "unauthorized")
		if ev := e.lastEvent("agent.refused"); !strings.Contains(ev.Detail, "and 2 more refusals") {
			t.Fatalf("the next refusal does not count those left out: %+v", ev)
		}
	})

	v, err := e.st.VerifyAudit(t.Context())
	if err != nil || !v.OK() {
		t.Fatalf("chain after all this: %v %+v", err, v)
	}
}
