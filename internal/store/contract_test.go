package store

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// runContract is the Store contract: every test runs on a fresh, migrated
// database from open, the same on SQLite and PostgreSQL.
func runContract(t *testing.T, open func(t *testing.T) *DB) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, db *DB)
	}{
		{"users", testUsers},
		{"users-sso", testUserSSO},
		{"groups", testGroups},
		{"session-policy", testSessionPolicy},
		{"api-tokens", testAPITokens},
		{"web-sessions", testWebSessions},
		{"set-password", testSetPassword},
		{"delete-user-cascades", testDeleteUserCascades},
		{"workspaces", testWorkspaces},
		{"nodes", testNodes},
		{"revoked-certs", testRevokedCerts},
		{"sessions", testSessions},
		{"session-filters", testSessionFilters},
		{"update-session", testUpdateSession},
		{"claim-registration", testClaimRegistration},
		{"settings", testSettings},
		{"spend-once", testSpendOnce},
		{"audit", testAudit},
		{"audit-filters", testAuditFilters},
		{"audit-batch", testAuditBatch},
		{"audit-append-only", testAuditAppendOnly},
		{"audit-verify-tampered", testAuditVerifyTampered},
		{"audit-export", testAuditExport},
		{"migrations-audit-unchained", testMigrateAuditUnchained},
		{"race/audit-chain", testRaceAuditChain},
		{"migrations-idempotent", testMigrationsIdempotent},
		{"migrations-workspace-columns", testMigrateWorkspaceColumns},
		{"migrations-join-tokens", testMigrateJoinTokens},
		{"join-tokens", testJoinTokens},
		{"enroll-node", testEnrollNode},
		{"race/enroll-single-use", testRaceEnrollSingleUse},
		{"race/enroll-three-uses", testRaceEnrollThreeUses},
		{"race/update-session", testRaceUpdateSession},
		{"race/claim-registration", testRaceClaimRegistration},
		{"race/setting-if-absent", testRaceSettingIfAbsent},
		{"race/session-limits", testRaceSessionLimits},
		{"session-launch-key", testSessionLaunchKey},
		{"race/session-launch-key", testRaceSessionLaunchKey},
		{"pools", testPools},
		{"claim-warm", testClaimWarm},
		{"race/claim-warm", testRaceClaimWarm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := open(t)
			db.Now = func() time.Time { return clock }
			tc.test(t, db)
		})
	}
}

// t0 has microseconds, the precision the store keeps; clock is the store's
// Now in every test.
var (
	t0    = time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC)
	clock = t0.Add(time.Hour)
)

func ptr[T any](v T) *T { return &v }

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := airlock.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func same(t *testing.T, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("got  %s\nwant %s", g, w)
	}
}

// dropAll empties the database of every table the migrations made, the
// ones that refer to others first.
func dropAll(t *testing.T, db *DB) {
	t.Helper()
	for _, table := range []string{"spent_states", "group_members", "group_workspaces", "user_groups", "api_tokens", "web_sessions", "users", "workspaces", "nodes", "revoked_certs",
		"sessions", "settings", "audit_events", "join_tokens", "pools", "schema_migrations"} {
		_, err := db.db.ExecContext(t.Context(), "DROP TABLE "+table)
		must(t, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mkUser(t *testing.T, db *DB, id, name string) *airlock.User {
	t.Helper()
	u := &airlock.User{ID: id, Name: name, Role: airlock.RoleUser, PasswordHash: "$argon2id$" + name}
	must(t, db.CreateUser(t.Context(), u))
	return u
}

func mkSession(t *testing.T, db *DB, s *airlock.Session) *airlock.Session {
	t.Helper()
	if s.UserID == "" {
		s.UserID = "u1"
	}
	if s.WorkspaceID == "" {
		s.WorkspaceID = "w1"
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = t0
	}
	must(t, db.CreateSession(t.Context(), s))
	return s
}

func testUsers(t *testing.T, db *DB) {
	ctx := t.Context()
	alice := &airlock.User{ID: "u1", Name: "alice", Role: airlock.RoleAdmin, PasswordHash: "$argon2id$v=19$abc",
		MaxSessions: 3, CreatedAt: t0.Add(789 * time.Nanosecond), UpdatedAt: t0.Add(time.Second)}
	must(t, db.CreateUser(ctx, alice))
	if alice.CreatedAt != t0 {
		t.Fatalf("CreatedAt %v not truncated to the microsecond", alice.CreatedAt)
	}
	bob := &airlock.User{ID: "u2", Name: "bob", Role: airlock.RoleUser, PasswordHash: "h"}
	must(t, db.CreateUser(ctx, bob))
	if bob.CreatedAt != clock || bob.UpdatedAt != clock {
		t.Fatalf("zero times not set to now: %v %v", bob.CreatedAt, bob.UpdatedAt)
	}

	got, err := db.UserByID(ctx, "u1")
	must(t, err)
	same(t, got, alice)
	got, err = db.UserByName(ctx, "bob")
	must(t, err)
	same(t, got, bob)
	all, err := db.ListUsers(ctx)
	must(t, err)
	same(t, all, []*airlock.User{alice, bob})
	n, err := db.CountUsers(ctx)
	must(t, err)
	if n != 2 {
		t.Fatalf("CountUsers = %d, want 2", n)
	}

	alice.Name, alice.Role, alice.PasswordHash, alice.MaxSessions = "alice2", airlock.RoleUser, "new", 0
	alice.UpdatedAt = t0.Add(2 * time.Hour)
	must(t, db.UpdateUser(ctx, alice))
	got, err = db.UserByID(ctx, "u1")
	must(t, err)
	same(t, got, alice)
	bob.MaxSessions, bob.UpdatedAt = 7, time.Time{}
	must(t, db.UpdateUser(ctx, bob))
	if bob.UpdatedAt != clock {
		t.Fatalf("zero UpdatedAt not set to now: %v", bob.UpdatedAt)
	}
	got, err = db.UserByID(ctx, "u2")
	must(t, err)
	same(t, got, bob)

	for _, tc := range []struct {
		name string
		call func() error
		code string
	}{
		{"create/duplicate-name", func() error {
			return db.CreateUser(ctx, &airlock.User{ID: "u3", Name: "bob", Role: airlock.RoleUser})
		}, airlock.ECONFLICT},
		{"create/duplicate-id", func() error {
			return db.CreateUser(ctx, &airlock.User{ID: "u1", Name: "carol", Role: airlock.RoleUser})
		}, airlock.ECONFLICT},
		{"update/name-taken", func() error {
			return db.UpdateUser(ctx, &airlock.User{ID: "u1", Name: "bob", Role: airlock.RoleUser})
		}, airlock.ECONFLICT},
		{"update/missing", func() error {
			return db.UpdateUser(ctx, &airlock.User{ID: "nope", Name: "nope", Role: airlock.RoleUser})
		}, airlock.ENOTFOUND},
		{"by-id/missing", func() error { _, err := db.UserByID(ctx, "nope"); return err }, airlock.ENOTFOUND},
		{"by-name/missing", func() error { _, err := db.UserByName(ctx, "alice"); return err }, airlock.ENOTFOUND},
		{"delete/missing", func() error { return db.DeleteUser(ctx, "nope") }, airlock.ENOTFOUND},
		{"delete/ok", func() error { return db.DeleteUser(ctx, "u2") }, ""},
		{"delete/again", func() error { return db.DeleteUser(ctx, "u2") }, airlock.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}
	if msg := airlock.ErrorMessage(db.CreateUser(ctx, &airlock.User{ID: "u9", Name: "alice2"})); msg != `user "alice2" already exists` {
		t.Errorf("conflict message %q", msg)
	}
	if msg := airlock.ErrorMessage(db.DeleteUser(ctx, "nope")); msg != `user "nope" not found` {
		t.Errorf("not found message %q", msg)
	}
	n, err = db.CountUsers(ctx)
	must(t, err)
	if n != 1 {
		t.Fatalf("CountUsers = %d, want 1", n)
	}
}

func testAPITokens(t *testing.T, db *DB) {
	ctx := t.Context()
	mkUser(t, db, "u1", "alice")
	mkUser(t, db, "u2", "bob")
	t1 := &airlock.APIToken{ID: "t1", UserID: "u1", Name: "cli", Hash: []byte{0, 1, 2, 0xff},
		CreatedAt: t0, ExpiresAt: ptr(t0.Add(24 * time.Hour))}
	t2 := &airlock.APIToken{ID: "t2", UserID: "u1", Name: "ci", Hash: []byte("hash2"), CreatedAt: t0.Add(time.Minute),
		ExpiresAt: ptr(t0.Add(time.Hour)), LastUsedAt: ptr(t0.Add(2 * time.Minute)), RevokedAt: ptr(t0.Add(3 * time.Minute))}
	t3 := &airlock.APIToken{ID: "t3", UserID: "u2", Name: "other", Hash: []byte("hash3")}
	for _, tok := range []*airlock.APIToken{t1, t2, t3} {
		must(t, db.CreateAPIToken(ctx, tok))
	}
	if t3.CreatedAt != clock {
		t.Fatalf("zero CreatedAt not set to now: %v", t3.CreatedAt)
	}
	for _, want := range []*airlock.APIToken{t1, t2, t3} {
		got, err := db.APITokenByID(ctx, want.ID)
		must(t, err)
		same(t, got, want)
	}
	for _, tc := range []struct {
		user string
		want []*airlock.APIToken
	}{
		{"u1", []*airlock.APIToken{t1, t2}},
		{"u2", []*airlock.APIToken{t3}},
		{"", nil},
		{"nobody", nil},
	} {
		got, err := db.ListAPITokens(ctx, tc.user)
		must(t, err)
		same(t, got, tc.want)
	}

	// Revoke, then revoke again: the first time stands.
	must(t, db.RevokeAPIToken(ctx, "t1", t0.Add(2*time.Hour)))
	must(t, db.RevokeAPIToken(ctx, "t1", t0.Add(3*time.Hour)))
	must(t, db.TouchAPIToken(ctx, "t1", t0.Add(90*time.Minute)))
	got, err := db.APITokenByID(ctx, "t1")
	must(t, err)
	if got.RevokedAt == nil || !got.RevokedAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("RevokedAt %v, want first revocation", got.RevokedAt)
	}
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(t0.Add(90*time.Minute)) {
		t.Fatalf("LastUsedAt %v", got.LastUsedAt)
	}
	if got.Active(t0.Add(time.Hour)) {
		t.Fatal("revoked token is active")
	}
	if got, _ := db.APITokenByID(ctx, "t3"); !got.Active(t0.Add(time.Hour)) {
		t.Fatal("untouched token is not active")
	}

	for _, tc := range []struct {
		name string
		call func() error
		code string
	}{
		{"create/duplicate-id", func() error {
			return db.CreateAPIToken(ctx, &airlock.APIToken{ID: "t1", UserID: "u2", Name: "x", Hash: []byte("h")})
		}, airlock.ECONFLICT},
		{"create/unknown-user", func() error {
			return db.CreateAPIToken(ctx, &airlock.APIToken{ID: "t9", UserID: "ghost", Name: "x", Hash: []byte("h")})
		}, airlock.ENOTFOUND},
		{"by-id/missing", func() error { _, err := db.APITokenByID(ctx, "nope"); return err }, airlock.ENOTFOUND},
		{"revoke/missing", func() error { return db.RevokeAPIToken(ctx, "nope", t0) }, airlock.ENOTFOUND},
		{"touch/missing", func() error { return db.TouchAPIToken(ctx, "nope", t0) }, airlock.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}
}

// testSetPassword: a new password ends the user's web sessions but the
// one kept, and no one else's.
func testSetPassword(t *testing.T, db *DB) {
	ctx := t.Context()
	mkUser(t, db, "u1", "alice")
	mkUser(t, db, "u2", "bob")
	for _, w := range []struct{ id, user string }{{"a1", "u1"}, {"a2", "u1"}, {"a3", "u1"}, {"b1", "u2"}} {
		must(t, db.CreateWebSession(ctx, &airlock.WebSession{ID: w.id, UserID: w.user, Hash: []byte(w.id), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	}
	at := t0.Add(time.Minute)
	for _, tc := range []struct {
		name, user, hash, keep string
		code                   string
		left                   []string // web sessions that exist after
		gone                   []string // and those it ended
	}{
		{name: "ok/keep-callers", user: "u1", hash: "$argon2id$new", keep: "a2", left: []string{"a2", "b1"}, gone: []string{"a1", "a3"}},
		{name: "ok/again-nothing-else-to-end", user: "u1", hash: "$argon2id$newer", keep: "a2", left: []string{"a2", "b1"}},
		{name: "ok/keep-none", user: "u1", hash: "$argon2id$reset", keep: "", left: []string{"b1"}, gone: []string{"a2"}},
		{name: "fail/unknown-user", user: "ghost", hash: "$argon2id$x", code: airlock.ENOTFOUND, left: []string{"b1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ended, err := db.SetPassword(ctx, tc.user, tc.hash, tc.keep, at)
			if tc.code != "" {
				wantCode(t, err, tc.code)
			} else {
				must(t, err)
				if !slices.Equal(ended, tc.gone) {
					t.Errorf("ended web sessions %v, want %v", ended, tc.gone)
				}
				u, err := db.UserByID(ctx, tc.user)
				must(t, err)
				if u.PasswordHash != tc.hash || !u.UpdatedAt.Equal(at) {
					t.Errorf("user after: hash %q updated %v, want %q %v", u.PasswordHash, u.UpdatedAt, tc.hash, at)
				}
			}
			for _, id := range tc.left {
				if _, err := db.WebSessionByID(ctx, id); err != nil {
					t.Errorf("web session %s: %v, want it kept", id, err)
				}
			}
			for _, id := range tc.gone {
				_, err := db.WebSessionByID(ctx, id)
				wantCode(t, err, airlock.ENOTFOUND)
			}
		})
	}
	bob, err := db.UserByID(ctx, "u2")
	must(t, err)
	if bob.PasswordHash != "$argon2id$bob" {
		t.Errorf("bob's hash changed: %q", bob.PasswordHash)
	}
}

func testWebSessions(t *testing.T, db *DB) {
	ctx := t.Context()
	mkUser(t, db, "u1", "alice")
	var ws []*airlock.WebSession
	for i, id := range []string{"w1", "w2", "w3"} {
		s := &airlock.WebSession{ID: id, UserID: "u1", Hash: []byte(id), CreatedAt: t0,
			ExpiresAt: t0.Add(time.Duration(i+1) * time.Hour)}
		must(t, db.CreateWebSession(ctx, s))
		ws = append(ws, s)
	}
	for _, want := range ws {
		got, err := db.WebSessionByID(ctx, want.ID)
		must(t, err)
		same(t, got, want)
	}
	// Expired at or before now: w1 and w2.
	n, err := db.DeleteExpiredWebSessions(ctx, t0.Add(2*time.Hour))
	must(t, err)
	if n != 2 {
		t.Fatalf("DeleteExpiredWebSessions = %d, want 2", n)
	}
	n, err = db.DeleteExpiredWebSessions(ctx, t0.Add(2*time.Hour))
	must(t, err)
	if n != 0 {
		t.Fatalf("second DeleteExpiredWebSessions = %d, want 0", n)
	}
	if _, err := db.WebSessionByID(ctx, "w3"); err != nil {
		t.Fatalf("unexpired session gone: %v", err)
	}
	for _, tc := range []struct {
		name string
		call func() error
		code string
	}{
		{"expired-gone", func() error { _, err := db.WebSessionByID(ctx, "w1"); return err }, airlock.ENOTFOUND},
		{"create/duplicate-id", func() error {
			return db.CreateWebSession(ctx, &airlock.WebSession{ID: "w3", UserID: "u1", Hash: []byte("h"), ExpiresAt: t0})
		}, airlock.ECONFLICT},
		{"create/unknown-user", func() error {
			return db.CreateWebSession(ctx, &airlock.WebSession{ID: "w9", UserID: "ghost", Hash: []byte("h"), ExpiresAt: t0})
		}, airlock.ENOTFOUND},
		{"delete/ok", func() error { return db.DeleteWebSession(ctx, "w3") }, ""},
		{"delete/again", func() error { return db.DeleteWebSession(ctx, "w3") }, airlock.ENOTFOUND},
		{"by-id/deleted", func() error { _, err := db.WebSessionByID(ctx, "w3"); return err }, airlock.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}
}

func testDeleteUserCascades(t *testing.T, db *DB) {
	ctx := t.Context()
	mkUser(t, db, "u1", "alice")
	mkUser(t, db, "u2", "bob")
	for _, tok := range []*airlock.APIToken{
		{ID: "t1", UserID: "u1", Name: "a", Hash: []byte("1")},
		{ID: "t2", UserID: "u1", Name: "b", Hash: []byte("2")},
		{ID: "t3", UserID: "u2", Name: "c", Hash: []byte("3")},
	} {
		must(t, db.CreateAPIToken(ctx, tok))
	}
	must(t, db.CreateWebSession(ctx, &airlock.WebSession{ID: "w1", UserID: "u1", Hash: []byte("w"), ExpiresAt: clock}))
	must(t, db.CreateWebSession(ctx, &airlock.WebSession{ID: "w2", UserID: "u2", Hash: []byte("w"), ExpiresAt: clock}))
	mkSession(t, db, &airlock.Session{ID: "s1", UserID: "u1", State: airlock.SessionStopped})

	must(t, db.DeleteUser(ctx, "u1"))
	for name, err := range map[string]error{
		"user":         func() error { _, err := db.UserByID(ctx, "u1"); return err }(),
		"token t1":     func() error { _, err := db.APITokenByID(ctx, "t1"); return err }(),
		"token t2":     func() error { _, err := db.APITokenByID(ctx, "t2"); return err }(),
		"web session ": func() error { _, err := db.WebSessionByID(ctx, "w1"); return err }(),
	} {
		if airlock.ErrorCode(err) != airlock.ENOTFOUND {
			t.Errorf("%s after DeleteUser: %v, want not found", name, err)
		}
	}
	toks, err := db.ListAPITokens(ctx, "u1")
	must(t, err)
	if len(toks) != 0 {
		t.Errorf("tokens of deleted user: %d", len(toks))
	}
	// The other user's things stay, and the session stays as history.
	_, err = db.APITokenByID(ctx, "t3")
	must(t, err)
	_, err = db.WebSessionByID(ctx, "w2")
	must(t, err)
	s, err := db.SessionByID(ctx, "s1")
	must(t, err)
	if s.UserID != "u1" {
		t.Errorf("session lost its user ID: %q", s.UserID)
	}
}

func testWorkspaces(t *testing.T, db *DB) {
	ctx := t.Context()
	full := &airlock.Workspace{ID: "w1", Name: "chrome", Description: "Chromium, isolated", Image: "airlock/chromium:1.2",
		Isolation: airlock.IsolationHardened, NodeLabels: map[string]string{"zone": "eu-west", "gpu": "nvidia/a10"}, NanoCPUs: 1_500_000_000, Memory: 2 << 30, PidsLimit: 512, ShmSize: 1 << 30,
		Env: map[string]string{"LANG": "fr_FR.UTF-8", "TZ": "Europe/Paris", "QUOTE": `a"b\c`}, StartURL: "https://example.org/?q=1",
		Seccomp: "chromium", Clipboard: airlock.ClipboardToContainer, CreatedAt: t0, UpdatedAt: t0.Add(time.Minute),
		Egress: airlock.EgressPolicy{Rules: []airlock.EgressRule{
			{Action: airlock.EgressAllow, Domain: "*.example.com", Ports: []uint16{443, 8443}},
			{Action: airlock.EgressAllow, CIDR: "10.1.0.0/16", Ports: []uint16{22}},
			{Action: airlock.EgressDeny, CIDR: "2001:db8::/32"},
			{Action: airlock.EgressDeny, Domain: "*"},
		}},
		Mode: airlock.ModeKiosk, Audio: airlock.AudioOff, Locale: "ja-JP", TimeZone: "Asia/Tokyo", MaxScale: 1.5,
		Limits: airlock.Limits{Idle: 90 * time.Second, ViewerIdle: time.Hour, Lifetime: 8 * time.Hour, MaxLifetime: 20 * time.Hour},
		Browser: airlock.BrowserPolicy{URLBlocklist: []string{"*"}, URLAllowlist: []string{"example.com", "https://*.example.org/a"},
			Downloads: airlock.Transfer{Allowed: true, MaxBytes: 1 << 20}, Uploads: airlock.Transfer{},
			DevTools: true, Printing: true,
			Policies: map[string]any{"BookmarkBarEnabled": true, "HomepageLocation": "https://example.com/",
				"IncognitoModeAvailability": float64(1), "ManagedBookmarks": []any{map[string]any{"name": "x", "url": "https://x.example/"}}}}}
	// Seccomp, Clipboard, Egress and the browser options empty: stored and read back as they are.
	nilEnv := &airlock.Workspace{ID: "w2", Name: "a-nil-env", Image: "x", Isolation: airlock.IsolationStandard}
	emptyEnv := &airlock.Workspace{ID: "w3", Name: "b-empty-env", Image: "x", Isolation: airlock.IsolationStandard,
		Env: map[string]string{}, Clipboard: airlock.ClipboardFromContainer}
	for _, w := range []*airlock.Workspace{full, nilEnv, emptyEnv} {
		must(t, db.CreateWorkspace(ctx, w))
	}
	for _, want := range []*airlock.Workspace{full, nilEnv, emptyEnv} {
		got, err := db.WorkspaceByID(ctx, want.ID)
		must(t, err)
		same(t, got, want)
		got, err = db.WorkspaceByName(ctx, want.Name)
		must(t, err)
		same(t, got, want)
	}
	all, err := db.ListWorkspaces(ctx)
	must(t, err)
	same(t, all, []*airlock.Workspace{nilEnv, emptyEnv, full})

	full.Name, full.Image, full.Env, full.Memory, full.StartURL = "chromium", "airlock/chromium:1.3", map[string]string{"A": "b"}, 0, ""
	full.Seccomp, full.Clipboard = "", airlock.ClipboardOff
	full.Egress.Rules = full.Egress.Rules[2:]
	full.Mode, full.Audio, full.Locale, full.TimeZone, full.MaxScale = airlock.ModeBrowser, airlock.AudioOn, "", "", 2
	full.Browser.URLAllowlist, full.Browser.Policies, full.Browser.Uploads = nil, map[string]any{"BookmarkBarEnabled": false}, airlock.Transfer{}
	full.UpdatedAt = time.Time{}
	must(t, db.UpdateWorkspace(ctx, full))
	if full.UpdatedAt != clock {
		t.Fatalf("zero UpdatedAt not set to now: %v", full.UpdatedAt)
	}
	got, err := db.WorkspaceByID(ctx, "w1")
	must(t, err)
	same(t, got, full)

	// An update that empties the policies stores the empty ones: the
	// rules are gone, not kept from before.
	full.Egress = airlock.EgressPolicy{}
	full.Browser = airlock.BrowserPolicy{}
	must(t, db.UpdateWorkspace(ctx, full))
	got, err = db.WorkspaceByID(ctx, "w1")
	must(t, err)
	same(t, got, full)

	for _, tc := range []struct {
		name string
		call func() error
		code string
	}{
		{"create/duplicate-name", func() error {
			return db.CreateWorkspace(ctx, &airlock.Workspace{ID: "w9", Name: "chromium", Image: "x"})
		}, airlock.ECONFLICT},
		{"create/duplicate-id", func() error {
			return db.CreateWorkspace(ctx, &airlock.Workspace{ID: "w1", Name: "other", Image: "x"})
		}, airlock.ECONFLICT},
		{"update/name-taken", func() error {
			return db.UpdateWorkspace(ctx, &airlock.Workspace{ID: "w2", Name: "chromium", Image: "x"})
		}, airlock.ECONFLICT},
		{"update/missing", func() error {
			return db.UpdateWorkspace(ctx, &airlock.Workspace{ID: "nope", Name: "nope", Image: "x"})
		}, airlock.ENOTFOUND},
		{"by-id/missing", func() error { _, err := db.WorkspaceByID(ctx, "nope"); return err }, airlock.ENOTFOUND},
		{"by-name/old-name", func() error { _, err := db.WorkspaceByName(ctx, "chrome"); return err }, airlock.ENOTFOUND},
		{"delete/ok", func() error { return db.DeleteWorkspace(ctx, "w2") }, ""},
		{"delete/again", func() error { return db.DeleteWorkspace(ctx, "w2") }, airlock.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}
}

func testNodes(t *testing.T, db *DB) {
	ctx := t.Context()
	full := &airlock.Node{ID: "n1", Name: "node-a", URL: "https://10.0.0.5:2376", Capacity: 20,
		Isolation: []airlock.Isolation{airlock.IsolationStandard, airlock.IsolationHardened},
		Labels:    map[string]string{"zone": "eu-west", "gpu": ""}, State: airlock.NodeReady,
		CertSerial: "0a1b2c", CertPrevSerial: "9f8e7d", CertNotAfter: t0.Add(90 * 24 * time.Hour), LastHeartbeat: t0.Add(-time.Second),
		CreatedAt: t0, UpdatedAt: t0}
	bare := &airlock.Node{ID: "n2", Name: "node-b", URL: "https://10.0.0.6:2376", State: airlock.NodeDown}
	empty := &airlock.Node{ID: "n3", Name: "node-c", URL: "u", State: airlock.NodeReady, Draining: true,
		Isolation: []airlock.Isolation{}, Labels: map[string]string{}}
	for _, n := range []*airlock.Node{full, bare, empty} {
		must(t, db.CreateNode(ctx, n))
	}
	for _, want := range []*airlock.Node{full, bare, empty} {
		got, err := db.NodeByID(ctx, want.ID)
		must(t, err)
		same(t, got, want)
		got, err = db.NodeByName(ctx, want.Name)
		must(t, err)
		same(t, got, want)
	}
	if got, _ := db.NodeByID(ctx, "n2"); !got.CertNotAfter.IsZero() || !got.LastHeartbeat.IsZero() {
		t.Fatalf("zero times came back as %v %v", got.CertNotAfter, got.LastHeartbeat)
	}
	all, err := db.ListNodes(ctx)
	must(t, err)
	same(t, all, []*airlock.Node{full, bare, empty})

	bare.State, bare.LastHeartbeat, bare.Capacity = airlock.NodeReady, clock, 4
	bare.Isolation = []airlock.Isolation{airlock.IsolationSandboxed}
	bare.Labels = map[string]string{"k": "v"}
	// A renewal: the new serial, and the one it replaces kept on record.
	bare.CertSerial, bare.CertPrevSerial, bare.CertNotAfter = "ff", "ee", t0.Add(time.Hour)
	bare.UpdatedAt = t0.Add(3 * time.Hour)
	must(t, db.UpdateNode(ctx, bare))
	got, err := db.NodeByID(ctx, "n2")
	must(t, err)
	same(t, got, bare)

	// Draining is SetNodeDraining's alone: an update from a node read
	// before the drain keeps it.
	drained, err := db.SetNodeDraining(ctx, "n2", true, t0.Add(4*time.Hour))
	must(t, err)
	if !drained.Draining || drained.UpdatedAt != t0.Add(4*time.Hour) {
		t.Fatalf("after SetNodeDraining: %+v", drained)
	}
	bare.LastHeartbeat = clock.Add(time.Second)
	must(t, db.UpdateNode(ctx, bare))
	if got, _ := db.NodeByID(ctx, "n2"); !got.Draining {
		t.Fatal("an update from a node read before the drain undid it")
	}
	undrained, err := db.SetNodeDraining(ctx, "n2", false, t0.Add(5*time.Hour))
	must(t, err)
	if undrained.Draining {
		t.Fatal("SetNodeDraining(false) left the node draining")
	}
	_, err = db.SetNodeDraining(ctx, "nope", true, t0)
	wantCode(t, err, airlock.ENOTFOUND)

	// Liveness writes liveness alone: the serials, URL and capacity of a
	// renewal made after the liveness round read the node stand.
	heard := bare.LastHeartbeat
	if down, err := db.NodeSilent(ctx, "n2", heard.Add(-time.Second), t0.Add(6*time.Hour)); err != nil || down {
		t.Fatalf("NodeSilent judged by a heartbeat older than the last: %v %v, want no change", down, err)
	}
	if down, err := db.NodeSilent(ctx, "n2", heard, t0.Add(6*time.Hour)); err != nil || !down {
		t.Fatalf("NodeSilent: %v %v, want down", down, err)
	}
	if down, err := db.NodeSilent(ctx, "n2", heard, t0.Add(6*time.Hour)); err != nil || down {
		t.Fatalf("NodeSilent on a down node: %v %v, want no change", down, err)
	}
	got, err = db.NodeByID(ctx, "n2")
	must(t, err)
	want := *bare
	want.State, want.UpdatedAt = airlock.NodeDown, t0.Add(6*time.Hour)
	same(t, got, &want)
	back := heard.Add(time.Minute)
	must(t, db.NodeAnswered(ctx, "n2", back))
	got, err = db.NodeByID(ctx, "n2")
	must(t, err)
	want.State, want.LastHeartbeat, want.UpdatedAt = airlock.NodeReady, back, back
	same(t, got, &want)
	wantCode(t, db.NodeAnswered(ctx, "nope", back), airlock.ENOTFOUND)
	if down, err := db.NodeSilent(ctx, "nope", back, back); err != nil || down {
		t.Fatalf("NodeSilent on a missing node: %v %v", down, err)
	}

	for _, tc := range []struct {
		name string
		call func() error
		code string
	}{
		{"create/duplicate-name", func() error {
			return db.CreateNode(ctx, &airlock.Node{ID: "n9", Name: "node-a", State: airlock.NodeReady})
		}, airlock.ECONFLICT},
		{"create/duplicate-id", func() error {
			return db.CreateNode(ctx, &airlock.Node{ID: "n1", Name: "node-z", State: airlock.NodeReady})
		}, airlock.ECONFLICT},
		{"update/name-taken", func() error {
			return db.UpdateNode(ctx, &airlock.Node{ID: "n2", Name: "node-a", State: airlock.NodeReady})
		}, airlock.ECONFLICT},
		{"update/missing", func() error {
			return db.UpdateNode(ctx, &airlock.Node{ID: "nope", Name: "nope", State: airlock.NodeReady})
		}, airlock.ENOTFOUND},
		{"by-id/missing", func() error { _, err := db.NodeByID(ctx, "nope"); return err }, airlock.ENOTFOUND},
		{"by-name/missing", func() error { _, err := db.NodeByName(ctx, "nope"); return err }, airlock.ENOTFOUND},
		{"delete/ok", func() error { return db.DeleteNode(ctx, "n3") }, ""},
		{"delete/again", func() error { return db.DeleteNode(ctx, "n3") }, airlock.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}
}

func testRevokedCerts(t *testing.T, db *DB) {
	ctx := t.Context()
	must(t, db.RevokeCert(ctx, "aa", t0.Add(time.Hour)))
	must(t, db.RevokeCert(ctx, "bb", t0.Add(3*time.Hour)))
	must(t, db.RevokeCert(ctx, "cc", t0.Add(-time.Hour)))
	wantCode(t, db.RevokeCert(ctx, "", t0), airlock.EINVALID)

	for serial, want := range map[string]bool{"aa": true, "bb": true, "cc": true, "zz": false, "": false} {
		got, err := db.IsCertRevoked(ctx, serial)
		must(t, err)
		if got != want {
			t.Errorf("IsCertRevoked(%q) = %v, want %v", serial, got, want)
		}
	}
	list := func(now time.Time) []string {
		t.Helper()
		got, err := db.ListRevokedCerts(ctx, now)
		must(t, err)
		return got
	}
	same(t, list(t0), []string{"aa", "bb"})
	same(t, list(t0.Add(time.Hour)), []string{"bb"}) // not_after must be after now
	same(t, list(t0.Add(4*time.Hour)), []string(nil))

	// Revoking again never shortens a revocation, and may lengthen it.
	must(t, db.RevokeCert(ctx, "aa", t0))
	same(t, list(t0.Add(30*time.Minute)), []string{"aa", "bb"})
	must(t, db.RevokeCert(ctx, "aa", t0.Add(5*time.Hour)))
	same(t, list(t0.Add(4*time.Hour)), []string{"aa"})
}

func testSessions(t *testing.T, db *DB) {
	ctx := t.Context()
	full := &airlock.Session{ID: "s1", UserID: "u1", WorkspaceID: "w1", NodeID: "n1", ContainerID: "airlock-s1",
		State: airlock.SessionFailed, Reason: "image not found", RegisterHash: []byte{0, 9, 8}, AgentHash: []byte{7, 0},
		CreatedAt: t0, UpdatedAt: t0.Add(time.Second), StartedAt: ptr(t0.Add(2 * time.Second)),
		ReadyAt: ptr(t0.Add(3 * time.Second)), StoppedAt: ptr(t0.Add(4 * time.Second)), LastHeartbeat: ptr(t0.Add(5 * time.Second)),
		ContainerAddrs: []netip.Addr{netip.MustParseAddr("172.17.0.5"), netip.MustParseAddr("fd12::5")},
		EndReason:      airlock.EndLost, ExpiresAt: ptr(t0.Add(6 * time.Second)), LastInputAt: ptr(t0.Add(7 * time.Second)),
		LastViewerAt: ptr(t0.Add(8 * time.Second))}
	bare := &airlock.Session{ID: "s2", UserID: "u2", WorkspaceID: "w2", State: airlock.SessionPending}
	for _, s := range []*airlock.Session{full, bare} {
		must(t, db.CreateSession(ctx, s))
	}
	if bare.CreatedAt != clock || bare.UpdatedAt != clock {
		t.Fatalf("zero times not set to now: %v %v", bare.CreatedAt, bare.UpdatedAt)
	}
	for _, want := range []*airlock.Session{full, bare} {
		got, err := db.SessionByID(ctx, want.ID)
		must(t, err)
		same(t, got, want)
	}
	for _, tc := range []struct {
		name string
		call func() error
		code string
	}{
		{"create/duplicate-id", func() error {
			return db.CreateSession(ctx, &airlock.Session{ID: "s1", State: airlock.SessionPending})
		}, airlock.ECONFLICT},
		{"create/no-state", func() error { return db.CreateSession(ctx, &airlock.Session{ID: "s9"}) }, airlock.EINVALID},
		{"by-id/missing", func() error { _, err := db.SessionByID(ctx, "nope"); return err }, airlock.ENOTFOUND},
		{"delete/ok", func() error { return db.DeleteSession(ctx, "s2") }, ""},
		{"delete/again", func() error { return db.DeleteSession(ctx, "s2") }, airlock.ENOTFOUND},
		{"by-id/deleted", func() error { _, err := db.SessionByID(ctx, "s2"); return err }, airlock.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}
}

func testSessionFilters(t *testing.T, db *DB) {
	ctx := t.Context()
	for i, s := range []struct {
		id, user, node string
		state          airlock.SessionState
	}{
		{"a", "u1", "n1", airlock.SessionReady},
		{"b", "u1", "n2", airlock.SessionStopped},
		{"c", "u2", "n1", airlock.SessionStarting},
		{"d", "u2", "", airlock.SessionPending},
		{"e", "u1", "n1", airlock.SessionFailed},
		{"f", "u3", "n2", airlock.SessionStopping},
	} {
		mkSession(t, db, &airlock.Session{ID: s.id, UserID: s.user, NodeID: s.node, State: s.state,
			CreatedAt: t0.Add(time.Duration(i) * time.Minute)})
	}
	for _, tc := range []struct {
		name string
		f    airlock.SessionFilter
		want string // IDs, newest first
	}{
		{"all", airlock.SessionFilter{}, "fedcba"},
		{"user", airlock.SessionFilter{UserID: "u1"}, "eba"},
		{"node", airlock.SessionFilter{NodeID: "n1"}, "eca"},
		{"active", airlock.SessionFilter{States: airlock.ActiveStates}, "fdca"},
		{"final", airlock.SessionFilter{States: []airlock.SessionState{airlock.SessionStopped, airlock.SessionFailed}}, "eb"},
		{"one-state", airlock.SessionFilter{States: []airlock.SessionState{airlock.SessionPending}}, "d"},
		{"user-active", airlock.SessionFilter{UserID: "u1", States: airlock.ActiveStates}, "a"},
		{"node-active", airlock.SessionFilter{NodeID: "n1", States: airlock.ActiveStates}, "ca"},
		{"user-node-state", airlock.SessionFilter{UserID: "u2", NodeID: "n1", States: []airlock.SessionState{airlock.SessionStarting}}, "c"},
		{"unknown-user", airlock.SessionFilter{UserID: "ghost"}, ""},
		{"unknown-state", airlock.SessionFilter{States: []airlock.SessionState{"running"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss, err := db.ListSessions(ctx, tc.f)
			must(t, err)
			var ids strings.Builder
			for _, s := range ss {
				ids.WriteString(s.ID)
			}
			if ids.String() != tc.want {
				t.Errorf("ListSessions = %q, want %q", ids.String(), tc.want)
			}
			n, err := db.CountSessions(ctx, tc.f)
			must(t, err)
			if n != len(tc.want) {
				t.Errorf("CountSessions = %d, want %d", n, len(tc.want))
			}
			if tc.f.NodeID != "" {
				_, err := db.CountSessionsByNode(ctx, tc.f)
				wantCode(t, err, airlock.EINVALID)
				return
			}
			byNode, err := db.CountSessionsByNode(ctx, tc.f)
			must(t, err)
			want := map[string]int{}
			for _, s := range ss {
				want[s.NodeID]++
			}
			if !maps.Equal(byNode, want) {
				t.Errorf("CountSessionsByNode = %v, want %v", byNode, want)
			}
		})
	}
}

func testUpdateSession(t *testing.T, db *DB) {
	ctx := t.Context()
	now := t0.Add(10 * time.Minute)
	states := func(s ...airlock.SessionState) []airlock.SessionState { return s }
	for i, tc := range []struct {
		name  string
		state airlock.SessionState // before; "" means no such session
		u     airlock.SessionUpdate
		code  string
		check func(t *testing.T, s *airlock.Session)
	}{
		{name: "ok/pending-to-starting", state: airlock.SessionPending,
			u: airlock.SessionUpdate{From: states(airlock.SessionPending), To: airlock.SessionStarting,
				NodeID: ptr("n1"), ContainerID: ptr("c1"), RegisterHash: ptr([]byte("reg"))},
			check: func(t *testing.T, s *airlock.Session) {
				if s.State != airlock.SessionStarting || s.NodeID != "n1" || s.ContainerID != "c1" || string(s.RegisterHash) != "reg" {
					t.Errorf("got %+v", s)
				}
				if s.StartedAt != nil || s.Reason != "" {
					t.Errorf("unset fields written: %+v", s)
				}
			}},
		{name: "ok/every-field", state: airlock.SessionStarting,
			u: airlock.SessionUpdate{From: states(airlock.SessionStarting), To: airlock.SessionReady,
				NodeID: ptr("n2"), ContainerID: ptr("c2"), Reason: ptr("r"), RegisterHash: ptr([]byte{1}), AgentHash: ptr([]byte{2}),
				StartedAt: ptr(t0.Add(time.Second)), ReadyAt: ptr(t0.Add(2 * time.Second)),
				StoppedAt: ptr(t0.Add(3 * time.Second)), LastHeartbeat: ptr(t0.Add(4 * time.Second)),
				ContainerAddrs: ptr([]netip.Addr{netip.MustParseAddr("10.88.0.7")}),
				EndReason:      ptr(airlock.EndIdle), ExpiresAt: ptr(t0.Add(5 * time.Second)),
				LastInputAt: ptr(t0.Add(6 * time.Second)), LastViewerAt: ptr(t0.Add(7 * time.Second))},
			check: func(t *testing.T, s *airlock.Session) {
				want := &airlock.Session{ID: s.ID, UserID: "u1", WorkspaceID: "w1", NodeID: "n2", ContainerID: "c2",
					State: airlock.SessionReady, Reason: "r", RegisterHash: []byte{1}, AgentHash: []byte{2},
					CreatedAt: t0, UpdatedAt: now, StartedAt: ptr(t0.Add(time.Second)), ReadyAt: ptr(t0.Add(2 * time.Second)),
					StoppedAt: ptr(t0.Add(3 * time.Second)), LastHeartbeat: ptr(t0.Add(4 * time.Second)),
					ContainerAddrs: []netip.Addr{netip.MustParseAddr("10.88.0.7")},
					EndReason:      airlock.EndIdle, ExpiresAt: ptr(t0.Add(5 * time.Second)),
					LastInputAt: ptr(t0.Add(6 * time.Second)), LastViewerAt: ptr(t0.Add(7 * time.Second))}
				same(t, s, want)
			}},
		{name: "ok/one-of-several", state: airlock.SessionReady,
			u: airlock.SessionUpdate{From: states(airlock.SessionPending, airlock.SessionStarting, airlock.SessionReady),
				To: airlock.SessionFailed, Reason: ptr("boom"), StoppedAt: ptr(now)},
			check: func(t *testing.T, s *airlock.Session) {
				if s.State != airlock.SessionFailed || s.Reason != "boom" || s.StoppedAt == nil || !s.StoppedAt.Equal(now) {
					t.Errorf("got %+v", s)
				}
			}},
		{name: "ok/clear-register-hash", state: airlock.SessionStarting,
			u: airlock.SessionUpdate{From: states(airlock.SessionStarting), To: airlock.SessionStopping, RegisterHash: ptr([]byte(nil))},
			check: func(t *testing.T, s *airlock.Session) {
				if s.RegisterHash != nil {
					t.Errorf("RegisterHash %x, want nil", s.RegisterHash)
				}
			}},
		{name: "ok/keep-state", state: airlock.SessionReady,
			u: airlock.SessionUpdate{From: states(airlock.SessionReady), LastHeartbeat: ptr(now)},
			check: func(t *testing.T, s *airlock.Session) {
				if s.State != airlock.SessionReady || s.LastHeartbeat == nil || !s.LastHeartbeat.Equal(now) {
					t.Errorf("got %+v", s)
				}
			}},
		{name: "ok/keep-one-of-several", state: airlock.SessionStarting,
			u: airlock.SessionUpdate{From: states(airlock.SessionStarting, airlock.SessionReady), StartedAt: ptr(now)},
			check: func(t *testing.T, s *airlock.Session) {
				if s.State != airlock.SessionStarting || s.StartedAt == nil {
					t.Errorf("got %+v", s)
				}
			}},
		{name: "ok/same-state", state: airlock.SessionStarting,
			u: airlock.SessionUpdate{From: states(airlock.SessionStarting), To: airlock.SessionStarting, ContainerID: ptr("c9")},
			check: func(t *testing.T, s *airlock.Session) {
				if s.State != airlock.SessionStarting || s.ContainerID != "c9" {
					t.Errorf("got %+v", s)
				}
			}},
		{name: "conflict/wrong-state", state: airlock.SessionStopping,
			u:    airlock.SessionUpdate{From: states(airlock.SessionPending, airlock.SessionStarting), To: airlock.SessionFailed},
			code: airlock.ECONFLICT},
		{name: "conflict/final", state: airlock.SessionStopped,
			u:    airlock.SessionUpdate{From: states(airlock.SessionReady), To: airlock.SessionStopping},
			code: airlock.ECONFLICT},
		{name: "conflict/keep-state", state: airlock.SessionStopping,
			u:    airlock.SessionUpdate{From: states(airlock.SessionReady), LastHeartbeat: ptr(now)},
			code: airlock.ECONFLICT},
		{name: "not-found", u: airlock.SessionUpdate{From: states(airlock.SessionPending), To: airlock.SessionStarting},
			code: airlock.ENOTFOUND},
		{name: "invalid/transition", state: airlock.SessionPending,
			u:    airlock.SessionUpdate{From: states(airlock.SessionPending), To: airlock.SessionReady},
			code: airlock.EINVALID},
		{name: "invalid/one-from-cannot", state: airlock.SessionReady,
			u:    airlock.SessionUpdate{From: states(airlock.SessionReady, airlock.SessionStopped), To: airlock.SessionFailed},
			code: airlock.EINVALID},
		{name: "invalid/no-from", state: airlock.SessionPending,
			u: airlock.SessionUpdate{To: airlock.SessionStarting}, code: airlock.EINVALID},
		{name: "invalid/unknown-to", state: airlock.SessionPending,
			u: airlock.SessionUpdate{From: states(airlock.SessionPending), To: "running"}, code: airlock.EINVALID},
		{name: "invalid/keep-final", state: airlock.SessionFailed,
			u: airlock.SessionUpdate{From: states(airlock.SessionFailed), Reason: ptr("x")}, code: airlock.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "s" + string(rune('a'+i))
			if tc.state != "" {
				mkSession(t, db, &airlock.Session{ID: id, State: tc.state})
			}
			got, err := db.UpdateSession(ctx, id, tc.u, now)
			wantCode(t, err, tc.code)
			if tc.code != "" {
				if got != nil {
					t.Errorf("failed update returned %+v", got)
				}
				if tc.code == airlock.ECONFLICT && !strings.Contains(airlock.ErrorMessage(err), string(tc.state)) {
					t.Errorf("conflict %q does not name the current state %s", airlock.ErrorMessage(err), tc.state)
				}
				if tc.state != "" {
					s, err := db.SessionByID(ctx, id)
					must(t, err)
					if s.State != tc.state || s.UpdatedAt != t0 {
						t.Errorf("failed update changed the session: %+v", s)
					}
				}
				return
			}
			if got.UpdatedAt != now {
				t.Errorf("UpdatedAt %v, want %v", got.UpdatedAt, now)
			}
			tc.check(t, got)
			stored, err := db.SessionByID(ctx, id)
			must(t, err)
			same(t, stored, got)
		})
	}
}

func testClaimRegistration(t *testing.T, db *DB) {
	ctx := t.Context()
	now := t0.Add(5 * time.Minute)
	const retry = 30 * time.Second
	mkSession(t, db, &airlock.Session{ID: "s1", State: airlock.SessionStarting, RegisterHash: []byte("reg1")})
	mkSession(t, db, &airlock.Session{ID: "s2", State: airlock.SessionPending, RegisterHash: []byte("reg2")})
	mkSession(t, db, &airlock.Session{ID: "s3", State: airlock.SessionStarting})
	mkSession(t, db, &airlock.Session{ID: "s4", State: airlock.SessionStopping, RegisterHash: []byte("reg4")})
	mkSession(t, db, &airlock.Session{ID: "s5", State: airlock.SessionStarting, RegisterHash: []byte("reg5")})
	mkSession(t, db, &airlock.Session{ID: "s6", State: airlock.SessionStarting, RegisterHash: []byte("reg6")})
	var cleared []byte
	// Steps run in order on the same sessions.
	for _, tc := range []struct {
		name      string
		id        string
		hash      string
		agentHash string
		after     time.Duration // since now
		retry     time.Duration
		before    func() // runs first
		code      string
		msg       string
		wantAgent string // the stored agent hash after a successful claim
	}{
		{name: "wrong-hash", id: "s1", hash: "nope", agentHash: "agent", retry: retry, code: airlock.ENOTFOUND},
		{name: "empty-hash", id: "s3", hash: "", agentHash: "agent", retry: retry, code: airlock.ENOTFOUND},
		{name: "no-register-hash", id: "s3", hash: "reg1", agentHash: "agent", retry: retry, code: airlock.ENOTFOUND},
		{name: "no-session", id: "ghost", hash: "reg1", agentHash: "agent", retry: retry, code: airlock.ENOTFOUND},
		{name: "no-agent-hash", id: "s1", hash: "reg1", agentHash: "", retry: retry, code: airlock.EINVALID},
		{name: "ok", id: "s1", hash: "reg1", agentHash: "agent", retry: retry, wantAgent: "agent"},
		{name: "retry/within-window", id: "s1", hash: "reg1", agentHash: "agent2", after: 10 * time.Second, retry: retry, wantAgent: "agent2"},
		{name: "retry/wrong-hash", id: "s1", hash: "reg2", agentHash: "agent3", after: 15 * time.Second, retry: retry, code: airlock.ENOTFOUND},
		{name: "retry/after-window", id: "s1", hash: "reg1", agentHash: "agent3", after: 31 * time.Second, retry: retry,
			code: airlock.ECONFLICT, msg: `session "s1" registered 31s ago; its registration token works again only within 30s of the first use`},
		{name: "once/first", id: "s5", hash: "reg5", agentHash: "agent", retry: 0, wantAgent: "agent"},
		{name: "once/second", id: "s5", hash: "reg5", agentHash: "agent2", retry: 0, code: airlock.ECONFLICT},
		{name: "cleared/first", id: "s6", hash: "reg6", agentHash: "agent", retry: retry, wantAgent: "agent"},
		{name: "cleared/retry-after-clear", id: "s6", hash: "reg6", agentHash: "agent2", after: time.Second, retry: retry, code: airlock.ENOTFOUND,
			before: func() {
				_, err := db.UpdateSession(ctx, "s6", airlock.SessionUpdate{From: []airlock.SessionState{airlock.SessionReady}, RegisterHash: &cleared}, now)
				must(t, err)
			}},
		{name: "pending/right-hash", id: "s2", hash: "reg2", agentHash: "agent", retry: retry, code: airlock.ECONFLICT, msg: "is pending, not starting"},
		{name: "pending/wrong-hash", id: "s2", hash: "reg1", agentHash: "agent", retry: retry, code: airlock.ENOTFOUND},
		{name: "stopping/right-hash", id: "s4", hash: "reg4", agentHash: "agent", retry: retry, code: airlock.ECONFLICT, msg: "is stopping, not starting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			var was *airlock.Session
			if tc.id != "ghost" {
				var err error
				was, err = db.SessionByID(ctx, tc.id)
				must(t, err)
			}
			at := now.Add(tc.after)
			s, err := db.ClaimRegistration(ctx, tc.id, []byte(tc.hash), []byte(tc.agentHash), at, tc.retry)
			wantCode(t, err, tc.code)
			if tc.code != "" {
				if s != nil {
					t.Fatalf("refused claim returned %+v", s)
				}
				if tc.msg != "" && !strings.Contains(airlock.ErrorMessage(err), tc.msg) {
					t.Errorf("message %q, want it to contain %q", airlock.ErrorMessage(err), tc.msg)
				}
				if was != nil {
					stored, err := db.SessionByID(ctx, tc.id)
					must(t, err)
					same(t, stored, was)
				}
				return
			}
			// The first registration's time stays through retries.
			wantReady := now
			want := &airlock.Session{ID: tc.id, UserID: "u1", WorkspaceID: "w1", State: airlock.SessionReady,
				RegisterHash: []byte(tc.hash), AgentHash: []byte(tc.wantAgent), CreatedAt: t0, UpdatedAt: at, ReadyAt: &wantReady}
			same(t, s, want)
			stored, err := db.SessionByID(ctx, tc.id)
			must(t, err)
			same(t, stored, want)
		})
	}
}

func testSettings(t *testing.T, db *DB) {
	ctx := t.Context()
	_, err := db.Setting(ctx, "join")
	wantCode(t, err, airlock.ENOTFOUND)

	for _, tc := range []struct {
		name  string
		call  func() ([]byte, error)
		want  []byte
		after []byte // Setting("join") afterwards
	}{
		{"if-absent/first", func() ([]byte, error) { return db.SetSettingIfAbsent(ctx, "join", []byte("a")) }, []byte("a"), []byte("a")},
		{"if-absent/second", func() ([]byte, error) { return db.SetSettingIfAbsent(ctx, "join", []byte("b")) }, []byte("a"), []byte("a")},
		{"set/overwrites", func() ([]byte, error) { return nil, db.SetSetting(ctx, "join", []byte("c")) }, nil, []byte("c")},
		{"if-absent/after-set", func() ([]byte, error) { return db.SetSettingIfAbsent(ctx, "join", []byte("d")) }, []byte("c"), []byte("c")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.call()
			must(t, err)
			same(t, got, tc.want)
			after, err := db.Setting(ctx, "join")
			must(t, err)
			same(t, after, tc.after)
		})
	}
	binary := []byte{0, 1, 2, 0xfe, 0xff, '\'', '"'}
	must(t, db.SetSetting(ctx, "key", binary))
	got, err := db.Setting(ctx, "key")
	must(t, err)
	same(t, got, binary)
	got, err = db.SetSettingIfAbsent(ctx, "empty", nil)
	must(t, err)
	same(t, got, []byte{})
	must(t, db.DeleteSetting(ctx, "key"))
	_, err = db.Setting(ctx, "key")
	wantCode(t, err, airlock.ENOTFOUND)
	must(t, db.DeleteSetting(ctx, "key")) // already gone: no error
}

func testMigrationsIdempotent(t *testing.T, db *DB) {
	ctx := t.Context()
	mkUser(t, db, "u1", "alice")
	ms, err := loadMigrations()
	must(t, err)
	countVersions := func() int {
		t.Helper()
		var n int
		must(t, db.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n))
		return n
	}

	// Opening a migrated database again changes nothing and loses nothing.
	again, err := Open(ctx, db.dsn)
	must(t, err)
	_, err = again.UserByName(ctx, "alice")
	must(t, err)
	must(t, again.Close())
	if n := countVersions(); n != len(ms) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, len(ms))
	}

	// Empty the database and open it from several goroutines at once, as
	// api processes starting together do: one migrates, the others wait
	// and find the work done.
	dropAll(t, db)
	errs := race(func() error {
		again, err := Open(ctx, db.dsn)
		if err != nil {
			return err
		}
		defer again.Close()
		_, err = again.CountUsers(ctx)
		return err
	})
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := countVersions(); n != len(ms) {
		t.Fatalf("schema_migrations has %d rows after racing opens, want %d", n, len(ms))
	}
	mkUser(t, db, "u1", "alice")
}

// testMigrateWorkspaceColumns: a workspace stored before the seccomp,
// clipboard, egress and browser columns existed reads back with Docker's
// default profile, the default clipboard policy, the empty egress policy
// and the default browser options (a browser window, sound, the viewer's
// locale and time zone, up to scale 2, the zero browser policy).
func testMigrateWorkspaceColumns(t *testing.T, db *DB) {
	ctx := t.Context()
	ms, err := loadMigrations()
	must(t, err)
	if len(ms) < 2 || ms[0].version != 1 {
		t.Fatalf("migrations %v: want 0001 and the one after", ms)
	}
	dropAll(t, db)
	must(t, db.apply(ctx, ms[0]))
	_, err = db.exec(ctx, `INSERT INTO workspaces (id, name, description, image, isolation, nano_cpus, memory, pids_limit,
		shm_size, env, start_url, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		"w1", "old", "", "x", "standard", 0, 0, 0, 0, "null", "", micros(t0), micros(t0))
	must(t, err)
	must(t, db.migrate(ctx))
	got, err := db.WorkspaceByID(ctx, "w1")
	must(t, err)
	same(t, got, &airlock.Workspace{ID: "w1", Name: "old", Image: "x", Isolation: airlock.IsolationStandard,
		Seccomp: airlock.SeccompDefault, Clipboard: airlock.DefaultClipboard, Mode: airlock.DefaultMode, Audio: airlock.DefaultAudio,
		MaxScale: airlock.DefaultMaxScale, CreatedAt: t0, UpdatedAt: t0})
}

// race runs f from 8 goroutines at once and returns their errors.
func race(f func() error) []error {
	const n = 8
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f()
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWins checks that exactly one error is nil and the others have code.
func oneWins(t *testing.T, errs []error, code string) {
	t.Helper()
	wins := 0
	for _, err := range errs {
		switch airlock.ErrorCode(err) {
		case "":
			wins++
		case code:
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d winners, want exactly 1", wins)
	}
}

func testRaceUpdateSession(t *testing.T, db *DB) {
	ctx := t.Context()
	mkSession(t, db, &airlock.Session{ID: "s1", State: airlock.SessionStarting})
	errs := race(func() error {
		_, err := db.UpdateSession(ctx, "s1", airlock.SessionUpdate{
			From: []airlock.SessionState{airlock.SessionStarting}, To: airlock.SessionReady, ReadyAt: ptr(clock)}, clock)
		return err
	})
	oneWins(t, errs, airlock.ECONFLICT)
}

func testRaceClaimRegistration(t *testing.T, db *DB) {
	ctx := t.Context()
	mkSession(t, db, &airlock.Session{ID: "s1", State: airlock.SessionStarting, RegisterHash: []byte("reg")})
	errs := race(func() error {
		_, err := db.ClaimRegistration(ctx, "s1", []byte("reg"), []byte("agent"), clock, 0)
		return err
	})
	oneWins(t, errs, airlock.ECONFLICT)
	// Within a retry window every claim succeeds, and the session became
	// ready once: the first claim's ReadyAt stays.
	mkSession(t, db, &airlock.Session{ID: "s2", State: airlock.SessionStarting, RegisterHash: []byte("reg2")})
	var seq atomic.Int64
	errs = race(func() error {
		n := seq.Add(1)
		_, err := db.ClaimRegistration(ctx, "s2", []byte("reg2"), fmt.Appendf(nil, "agent%d", n), clock.Add(time.Duration(n)*time.Millisecond), time.Minute)
		return err
	})
	for _, err := range errs {
		must(t, err)
	}
	s, err := db.SessionByID(ctx, "s2")
	must(t, err)
	if s.State != airlock.SessionReady || s.ReadyAt == nil || s.ReadyAt.Before(clock) || s.ReadyAt.After(clock.Add(8*time.Millisecond)) ||
		!strings.HasPrefix(string(s.AgentHash), "agent") {
		t.Fatalf("after racing retries: %+v", s)
	}
}

func testRaceSettingIfAbsent(t *testing.T, db *DB) {
	ctx := t.Context()
	var mu sync.Mutex
	seen := map[string]bool{}
	var i int
	errs := race(func() error {
		mu.Lock()
		i++
		mine := []byte{byte('a' + i)}
		mu.Unlock()
		v, err := db.SetSettingIfAbsent(ctx, "signing-key", mine)
		mu.Lock()
		seen[string(v)] = true
		mu.Unlock()
		return err
	})
	for _, err := range errs {
		must(t, err)
	}
	if len(seen) != 1 {
		t.Fatalf("racing writers saw %d different values, want 1", len(seen))
	}
}

// testRaceSessionLimits: concurrent launches cannot overshoot a user's
// limit or a node's capacity.
func testRaceSessionLimits(t *testing.T, db *DB) {
	ctx := t.Context()
	var mu sync.Mutex
	n := 0
	next := func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("s%d", n)
	}
	errs := race(func() error {
		return db.CreateSessionWithin(ctx, &airlock.Session{ID: next(), UserID: "u1", NodeID: "n1", State: airlock.SessionStarting}, 1, 0)
	})
	oneWins(t, errs, airlock.ELIMIT)
	errs = race(func() error {
		return db.CreateSessionWithin(ctx, &airlock.Session{ID: next(), UserID: next(), NodeID: "n2", State: airlock.SessionStarting}, 0, 1)
	})
	oneWins(t, errs, airlock.EUNAVAILABLE)
	// Final sessions do not count.
	must(t, db.CreateSessionWithin(ctx, &airlock.Session{ID: next(), UserID: "u9", NodeID: "n3", State: airlock.SessionStopped}, 1, 1))
	must(t, db.CreateSessionWithin(ctx, &airlock.Session{ID: next(), UserID: "u9", NodeID: "n3", State: airlock.SessionStarting}, 1, 1))
}

// testMigrateJoinTokens: the rotating join secret of before join tokens
// had records is dropped, so a token printed then enrolls nothing.
func testMigrateJoinTokens(t *testing.T, db *DB) {
	ctx := t.Context()
	ms, err := loadMigrations()
	must(t, err)
	dropAll(t, db)
	for _, m := range ms {
		if m.version < 3 {
			must(t, db.apply(ctx, m))
		}
	}
	must(t, db.SetSetting(ctx, "join_secret_hash", []byte("old secret hash")))
	must(t, db.SetSetting(ctx, "signing-key", []byte("kept")))
	must(t, db.migrate(ctx))
	_, err = db.Setting(ctx, "join_secret_hash")
	wantCode(t, err, airlock.ENOTFOUND)
	v, err := db.Setting(ctx, "signing-key")
	must(t, err)
	if string(v) != "kept" {
		t.Fatalf("another setting changed: %q", v)
	}
	ts, err := db.ListJoinTokens(ctx)
	must(t, err)
	if len(ts) != 0 {
		t.Fatalf("a migrated database has join tokens: %+v", ts)
	}
}

func mkJoinToken(t *testing.T, db *DB, id, secret string, uses int, expires time.Time) *airlock.JoinToken {
	t.Helper()
	jt := &airlock.JoinToken{ID: id, SecretHash: []byte(secret), CreatedBy: "admin", CreatedAt: t0, ExpiresAt: expires,
		Uses: uses, MaxCapacity: 20, Isolation: []airlock.Isolation{airlock.IsolationStandard}}
	must(t, db.CreateJoinToken(t.Context(), jt))
	return jt
}

func testJoinTokens(t *testing.T, db *DB) {
	ctx := t.Context()
	a := &airlock.JoinToken{ID: "j1", SecretHash: []byte("hash-a"), CreatedBy: "admin", CreatedAt: t0,
		ExpiresAt: t0.Add(time.Hour), Uses: 3, MaxCapacity: 50,
		Isolation: []airlock.Isolation{airlock.IsolationStandard, airlock.IsolationSandboxed}}
	must(t, db.CreateJoinToken(ctx, a))
	if a.UsesLeft != 3 {
		t.Fatalf("a new token has %d uses left, want 3", a.UsesLeft)
	}
	// A zero CreatedAt is the store's clock.
	b := &airlock.JoinToken{ID: "j2", SecretHash: []byte("hash-b"), CreatedBy: "root", ExpiresAt: clock.Add(time.Minute),
		Uses: 1, MaxCapacity: 1, Isolation: []airlock.Isolation{airlock.IsolationStandard}}
	must(t, db.CreateJoinToken(ctx, b))
	if !b.CreatedAt.Equal(clock) {
		t.Fatalf("CreatedAt %v, want the store's clock %v", b.CreatedAt, clock)
	}
	got, err := db.JoinTokenByHash(ctx, []byte("hash-a"))
	must(t, err)
	same(t, got, a)
	for _, tc := range []struct {
		name string
		jt   airlock.JoinToken
		code string
	}{
		{"duplicate-id", airlock.JoinToken{ID: "j1", SecretHash: []byte("hash-c"), ExpiresAt: t0, Uses: 1, MaxCapacity: 1, Isolation: a.Isolation}, airlock.ECONFLICT},
		{"duplicate-secret", airlock.JoinToken{ID: "j3", SecretHash: []byte("hash-a"), ExpiresAt: t0, Uses: 1, MaxCapacity: 1, Isolation: a.Isolation}, airlock.ECONFLICT},
		{"no-hash", airlock.JoinToken{ID: "j4", ExpiresAt: t0, Uses: 1, MaxCapacity: 1, Isolation: a.Isolation}, airlock.EINVALID},
		{"no-uses", airlock.JoinToken{ID: "j5", SecretHash: []byte("h5"), ExpiresAt: t0, MaxCapacity: 1, Isolation: a.Isolation}, airlock.EINVALID},
		{"no-capacity", airlock.JoinToken{ID: "j6", SecretHash: []byte("h6"), ExpiresAt: t0, Uses: 1, Isolation: a.Isolation}, airlock.EINVALID},
		{"no-isolation", airlock.JoinToken{ID: "j7", SecretHash: []byte("h7"), ExpiresAt: t0, Uses: 1, MaxCapacity: 1}, airlock.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, db.CreateJoinToken(ctx, &tc.jt), tc.code)
		})
	}
	for _, h := range [][]byte{[]byte("hash-c"), nil} {
		_, err = db.JoinTokenByHash(ctx, h)
		wantCode(t, err, airlock.ENOTFOUND)
	}
	all, err := db.ListJoinTokens(ctx)
	must(t, err)
	same(t, all, []*airlock.JoinToken{b, a})
	must(t, db.DeleteJoinToken(ctx, "j1"))
	wantCode(t, db.DeleteJoinToken(ctx, "j1"), airlock.ENOTFOUND)
	_, err = db.JoinTokenByHash(ctx, []byte("hash-a"))
	wantCode(t, err, airlock.ENOTFOUND)
	all, err = db.ListJoinTokens(ctx)
	must(t, err)
	same(t, all, []*airlock.JoinToken{b})
}

func testEnrollNode(t *testing.T, db *DB) {
	ctx := t.Context()
	expires := t0.Add(time.Hour)
	mkJoinToken(t, db, "j1", "two", 2, expires)
	mkJoinToken(t, db, "j2", "gone", 1, expires)
	must(t, db.DeleteJoinToken(ctx, "j2"))
	node := func(name string) *airlock.Node {
		return &airlock.Node{ID: "id-" + name, Name: name, URL: "https://" + name + ":2376", Capacity: 4,
			Isolation: []airlock.Isolation{airlock.IsolationStandard}, State: airlock.NodeReady, CreatedAt: t0, UpdatedAt: t0}
	}
	// Steps run in order on the same tokens.
	for _, tc := range []struct {
		name     string
		secret   string
		now      time.Time
		node     string
		code     string
		usesLeft int
	}{
		{"unknown", "nope", t0, "a", airlock.EUNAUTHORIZED, 2},
		{"deleted", "gone", t0, "a", airlock.EUNAUTHORIZED, 2},
		{"expired", "two", expires, "a", airlock.EUNAUTHORIZED, 2},
		{"ok", "two", expires.Add(-time.Microsecond), "a", "", 1},
		// The name is taken: the node is not stored and the use comes back.
		{"duplicate-name", "two", t0, "a", airlock.ECONFLICT, 1},
		{"ok-last-use", "two", t0, "b", "", 0},
		{"used-up", "two", t0, "c", airlock.EUNAUTHORIZED, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := node(tc.node)
			if tc.name == "duplicate-name" {
				n.ID = "id-other"
			}
			err := db.EnrollNode(ctx, []byte(tc.secret), tc.now, n)
			wantCode(t, err, tc.code)
			jt, err := db.JoinTokenByHash(ctx, []byte("two"))
			must(t, err)
			if jt.UsesLeft != tc.usesLeft {
				t.Errorf("uses left %d, want %d", jt.UsesLeft, tc.usesLeft)
			}
			got, err := db.NodeByID(ctx, n.ID)
			if tc.code != "" {
				wantCode(t, err, airlock.ENOTFOUND)
				return
			}
			must(t, err)
			same(t, got, n)
		})
	}
}

// enrollRace enrolls 8 nodes at once with the same token and returns the
// errors and the number of nodes stored.
func enrollRace(t *testing.T, db *DB, uses int) ([]error, int) {
	ctx := t.Context()
	mkJoinToken(t, db, "j1", "secret", uses, t0.Add(time.Hour))
	var mu sync.Mutex
	i := 0
	errs := race(func() error {
		mu.Lock()
		i++
		name := fmt.Sprintf("node-%d", i)
		mu.Unlock()
		return db.EnrollNode(ctx, []byte("secret"), t0, &airlock.Node{ID: "id-" + name, Name: name, URL: "https://x",
			Capacity: 1, Isolation: []airlock.Isolation{airlock.IsolationStandard}, State: airlock.NodeReady})
	})
	nodes, err := db.ListNodes(ctx)
	must(t, err)
	jt, err := db.JoinTokenByHash(ctx, []byte("secret"))
	must(t, err)
	if jt.UsesLeft != max(0, uses-len(errs)) {
		t.Errorf("uses left %d after %d enrollments of a %d-use token", jt.UsesLeft, len(errs), uses)
	}
	return errs, len(nodes)
}

// testRaceEnrollSingleUse: a single-use token is consumed exactly once
// however many nodes present it at the same moment.
func testRaceEnrollSingleUse(t *testing.T, db *DB) {
	errs, nodes := enrollRace(t, db, 1)
	oneWins(t, errs, airlock.EUNAUTHORIZED)
	if nodes != 1 {
		t.Fatalf("%d nodes enrolled with a single-use token", nodes)
	}
}

func testRaceEnrollThreeUses(t *testing.T, db *DB) {
	errs, nodes := enrollRace(t, db, 3)
	wins := 0
	for _, err := range errs {
		switch airlock.ErrorCode(err) {
		case "":
			wins++
		case airlock.EUNAUTHORIZED:
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 3 || nodes != 3 {
		t.Fatalf("%d enrollments succeeded and %d nodes are stored with a 3-use token, want 3 and 3", wins, nodes)
	}
}

// testSessionLaunchKey: a launch key finds its user's session, is unique
// per user, and no key is no key.
func testSessionLaunchKey(t *testing.T, db *DB) {
	ctx := t.Context()
	must(t, db.CreateSession(ctx, &airlock.Session{ID: "s1", UserID: "u1", NodeID: "n1", State: airlock.SessionStarting, LaunchKey: "k1"}))
	// Another user's same key, and sessions with none, are theirs.
	must(t, db.CreateSession(ctx, &airlock.Session{ID: "s2", UserID: "u2", NodeID: "n1", State: airlock.SessionStarting, LaunchKey: "k1"}))
	must(t, db.CreateSession(ctx, &airlock.Session{ID: "s3", UserID: "u1", NodeID: "n1", State: airlock.SessionStarting}))
	must(t, db.CreateSession(ctx, &airlock.Session{ID: "s4", UserID: "u1", NodeID: "n1", State: airlock.SessionStarting}))
	got, err := db.SessionByLaunchKey(ctx, "u1", "k1")
	must(t, err)
	if got.ID != "s1" || got.LaunchKey != "k1" {
		t.Fatalf("u1's k1 is %s (key %q), want s1", got.ID, got.LaunchKey)
	}
	if got, err := db.SessionByLaunchKey(ctx, "u2", "k1"); err != nil || got.ID != "s2" {
		t.Fatalf("u2's k1: %v, %v; want s2", got, err)
	}
	err = db.CreateSession(ctx, &airlock.Session{ID: "s5", UserID: "u1", NodeID: "n1", State: airlock.SessionStarting, LaunchKey: "k1"})
	wantCode(t, err, airlock.ECONFLICT)
	_, err = db.SessionByLaunchKey(ctx, "u1", "k2")
	wantCode(t, err, airlock.ENOTFOUND)
	_, err = db.SessionByLaunchKey(ctx, "u1", "")
	wantCode(t, err, airlock.ENOTFOUND)
}

// testRaceSessionLaunchKey: the same launch asked at once (a retry served
// by two api processes) makes one session.
func testRaceSessionLaunchKey(t *testing.T, db *DB) {
	ctx := t.Context()
	var mu sync.Mutex
	n := 0
	errs := race(func() error {
		mu.Lock()
		n++
		id := fmt.Sprintf("s%d", n)
		mu.Unlock()
		return db.CreateSessionWithin(ctx, &airlock.Session{ID: id, UserID: "u1", NodeID: "n1", State: airlock.SessionStarting, LaunchKey: "k"}, 5, 0)
	})
	oneWins(t, errs, airlock.ECONFLICT)
}

func testPools(t *testing.T, db *DB) {
	ctx := t.Context()
	must(t, db.SetPool(ctx, &airlock.Pool{WorkspaceID: "w2", Size: 3, MaxAge: time.Hour}))
	must(t, db.SetPool(ctx, &airlock.Pool{WorkspaceID: "w1", Size: 10, MaxAge: 30 * time.Minute}))
	must(t, db.SetPool(ctx, &airlock.Pool{WorkspaceID: "w2", Size: 5, MaxAge: 2 * time.Hour, UpdatedAt: t0}))
	got, err := db.ListPools(ctx)
	must(t, err)
	same(t, got, []*airlock.Pool{{WorkspaceID: "w1", Size: 10, MaxAge: 30 * time.Minute, UpdatedAt: clock},
		{WorkspaceID: "w2", Size: 5, MaxAge: 2 * time.Hour, UpdatedAt: t0}})
	must(t, db.SetPool(ctx, &airlock.Pool{WorkspaceID: "w1", Size: 0, MaxAge: time.Hour}))
	got, err = db.ListPools(ctx)
	must(t, err)
	if len(got) != 2 || got[0].Size != 0 {
		t.Fatalf("after emptying w1's pool: %+v", got)
	}
}

// testClaimWarm: a pool's session registers as warm, and is handed out
// once, to one user, within the user's limit, only from a ready,
// undrained node; a cold session is never handed out.
func testClaimWarm(t *testing.T, db *DB) {
	ctx := t.Context()
	for _, n := range []*airlock.Node{{ID: "n1", Name: "up"}, {ID: "n2", Name: "drained", Draining: true}} {
		n.URL, n.State = "u", airlock.NodeReady
		must(t, db.CreateNode(ctx, n))
	}
	pooled := ptr(t0)
	for _, s := range []*airlock.Session{
		{ID: "warm-1", NodeID: "n1", State: airlock.SessionStarting, PooledAt: pooled, RegisterHash: []byte("r1")},
		{ID: "warm-2", NodeID: "n1", State: airlock.SessionStarting, PooledAt: pooled, RegisterHash: []byte("r2")},
		{ID: "warm-drained", NodeID: "n2", State: airlock.SessionStarting, PooledAt: pooled, RegisterHash: []byte("r3")},
		{ID: "cold", NodeID: "n1", State: airlock.SessionStarting, RegisterHash: []byte("r4")},
	} {
		s.WorkspaceID, s.CreatedAt = "w1", t0
		if !s.Pooled() {
			s.UserID = "u1"
		}
		must(t, db.CreateSession(ctx, s))
	}
	for i, id := range []string{"warm-1", "warm-2", "warm-drained", "cold"} {
		s, err := db.ClaimRegistration(ctx, id, []byte(fmt.Sprintf("r%d", i+1)), []byte("agent"), t0.Add(time.Duration(i)*time.Second), time.Minute)
		must(t, err)
		want := airlock.SessionWarm
		if id == "cold" {
			want = airlock.SessionReady
		}
		if s.State != want {
			t.Fatalf("%s registered as %s, want %s", id, s.State, want)
		}
	}
	h := airlock.Handout{UserID: "u7", LaunchKey: "k1", ExpiresAt: clock.Add(time.Hour),
		Viewer: airlock.Viewer{Locale: "ja-JP", TimeZone: "Asia/Tokyo", Scale: 2}}
	s, err := db.ClaimWarm(ctx, "w1", h, 2, clock)
	must(t, err)
	if s.ID != "warm-1" || s.State != airlock.SessionReady || s.UserID != "u7" || s.LaunchKey != "k1" || s.CreatedAt != clock ||
		s.ExpiresAt == nil || !s.ExpiresAt.Equal(clock.Add(time.Hour)) || !s.Pooled() || s.Viewer != h.Viewer {
		t.Fatalf("claimed %+v", s)
	}
	h.LaunchKey = "k2"
	s, err = db.ClaimWarm(ctx, "w1", h, 2, clock)
	must(t, err)
	if s.ID != "warm-2" {
		t.Fatalf("second claim got %s, want warm-2", s.ID)
	}
	// The user's limit, then an empty pool (the drained node's and the
	// cold session are not handed out).
	h.LaunchKey = "k3"
	_, err = db.ClaimWarm(ctx, "w1", h, 2, clock)
	wantCode(t, err, airlock.ELIMIT)
	h.UserID = "u8"
	_, err = db.ClaimWarm(ctx, "w1", h, 2, clock)
	wantCode(t, err, airlock.ENOTFOUND)
	// Handed out, a session never goes back to warm.
	_, err = db.UpdateSession(ctx, "warm-1", airlock.SessionUpdate{From: []airlock.SessionState{airlock.SessionReady}, To: airlock.SessionWarm}, clock)
	wantCode(t, err, airlock.EINVALID)
}

// testRaceClaimWarm: many claims at once on a pool of a few: each warm
// session goes to exactly one claimant.
func testRaceClaimWarm(t *testing.T, db *DB) {
	ctx := t.Context()
	must(t, db.CreateNode(ctx, &airlock.Node{ID: "n1", Name: "up", URL: "u", State: airlock.NodeReady}))
	for i := range 3 {
		must(t, db.CreateSession(ctx, &airlock.Session{ID: fmt.Sprintf("w%d", i), WorkspaceID: "w1", NodeID: "n1", State: airlock.SessionWarm,
			PooledAt: ptr(t0), CreatedAt: t0, ReadyAt: ptr(t0)}))
	}
	var mu sync.Mutex
	got := map[string]string{}
	var n int
	errs := race(func() error {
		mu.Lock()
		n++
		user := fmt.Sprintf("u%d", n)
		mu.Unlock()
		s, err := db.ClaimWarm(ctx, "w1", airlock.Handout{UserID: user, ExpiresAt: clock}, 3, clock)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if prev, ok := got[s.ID]; ok {
			t.Errorf("%s handed to %s and %s", s.ID, prev, user)
		}
		got[s.ID] = user
		return nil
	})
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if airlock.ErrorCode(err) != airlock.ENOTFOUND {
			t.Errorf("claim: %v", err)
		}
	}
	if ok != 3 || len(got) != 3 {
		t.Fatalf("%d claims succeeded for %d sessions, want 3 and 3", ok, len(got))
	}
}

// testUserSSO: a user made by single sign-on is found by its provider's
// issuer and subject, which link one user only; local users have none.
func testUserSSO(t *testing.T, db *DB) {
	ctx := t.Context()
	mkUser(t, db, "u1", "local1")
	mkUser(t, db, "u2", "local2")
	const iss = "https://idp.example.com"
	alice := &airlock.User{ID: "u3", Name: "alice", Role: airlock.RoleUser, SSOIssuer: iss, SSOSubject: "sub-1"}
	must(t, db.CreateUser(ctx, alice))
	got, err := db.UserBySSO(ctx, iss, "sub-1")
	must(t, err)
	if got.ID != "u3" || got.SSOIssuer != iss || got.SSOSubject != "sub-1" || got.PasswordHash != "" {
		t.Fatalf("UserBySSO: %+v", got)
	}
	if u, err := db.UserByName(ctx, "alice"); err != nil || u.SSOSubject != "sub-1" {
		t.Fatalf("UserByName of an SSO user: %+v %v", u, err)
	}
	for _, tc := range []struct {
		name, iss, sub, code string
	}{
		{"other subject", iss, "sub-2", airlock.ENOTFOUND},
		{"other issuer", "https://other.example.com", "sub-1", airlock.ENOTFOUND},
		{"empty never matches a local user", "", "", airlock.ENOTFOUND},
	} {
		_, err := db.UserBySSO(ctx, tc.iss, tc.sub)
		wantCode(t, err, tc.code)
	}
	err = db.CreateUser(ctx, &airlock.User{ID: "u4", Name: "alice2", Role: airlock.RoleUser, SSOIssuer: iss, SSOSubject: "sub-1"})
	wantCode(t, err, airlock.ECONFLICT)
	if !strings.Contains(err.Error(), `already linked to user "alice"`) {
		t.Errorf("second link of one account: %v", err)
	}
	// The same subject at another provider is another account.
	must(t, db.CreateUser(ctx, &airlock.User{ID: "u5", Name: "alice-other", Role: airlock.RoleUser, SSOIssuer: "https://other.example.com", SSOSubject: "sub-1"}))
	wantCode(t, db.CreateUser(ctx, &airlock.User{ID: "u6", Name: "half", Role: airlock.RoleUser, SSOIssuer: iss}), airlock.EINVALID)
	// A web session begun by single sign-on keeps the provider's ID token.
	must(t, db.CreateWebSession(ctx, &airlock.WebSession{ID: "w1", UserID: "u3", Hash: []byte("h"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), SSOIDToken: "eyJ.id.token"}))
	must(t, db.CreateWebSession(ctx, &airlock.WebSession{ID: "w2", UserID: "u1", Hash: []byte("h2"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	if ws, err := db.WebSessionByID(ctx, "w1"); err != nil || ws.SSOIDToken != "eyJ.id.token" {
		t.Fatalf("web session w1: %+v %v", ws, err)
	}
	if ws, err := db.WebSessionByID(ctx, "w2"); err != nil || ws.SSOIDToken != "" {
		t.Fatalf("web session w2: %+v %v", ws, err)
	}
	// An update leaves the link alone.
	got.MaxSessions = 5
	must(t, db.UpdateUser(ctx, got))
	if again, err := db.UserBySSO(ctx, iss, "sub-1"); err != nil || again.MaxSessions != 5 {
		t.Fatalf("after an update: %+v %v", again, err)
	}
}
