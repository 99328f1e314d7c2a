package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
)

// testEgress is the policy of the README: HTTPS to one domain's
// subdomains, SSH to one private range, nothing else.
const testEgress = `{"rules":[{"action":"allow","domain":"*.example.com","ports":[443]},` +
	`{"action":"allow","cidr":"10.1.0.0/16","ports":[22]},{"action":"deny","domain":"*"}]}`

func testEgressRules() []airlock.EgressRule {
	return []airlock.EgressRule{
		{Action: airlock.EgressAllow, Domain: "*.example.com", Ports: []uint16{443}},
		{Action: airlock.EgressAllow, CIDR: "10.1.0.0/16", Ports: []uint16{22}},
		{Action: airlock.EgressDeny, Domain: "*"},
	}
}

// workspaceBody is a create request naming workspace name with the given
// isolation and raw egress field (none when empty).
func workspaceBody(name, isolation, egress string) string {
	b := `{"name":"` + name + `","image":"airlock/chromium:1","isolation":"` + isolation + `"`
	if egress != "" {
		b += `,"egress":` + egress
	}
	return b + "}"
}

// getEgress reads workspace name back as an admin and returns its egress
// field as raw JSON ("" when absent).
func getEgress(t *testing.T, e *env, name string) string {
	t.Helper()
	rec := e.do(req{Method: "GET", Path: "/api/v1/workspaces/" + name, Bearer: e.adminTok})
	wantStatus(t, rec, http.StatusOK)
	var got map[string]json.RawMessage
	mustJSON(t, rec, &got)
	return string(got["egress"])
}

func TestCreateWorkspaceEgress(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name      string
		body      string
		wantRules []airlock.EgressRule // on success
		code      string
		msg       []string
	}{
		{name: "ok/hardened", body: workspaceBody("h1", "hardened", testEgress), wantRules: testEgressRules()},
		{name: "ok/sandboxed", body: workspaceBody("s1", "sandboxed", `{"rules":[{"action":"deny","cidr":"192.0.2.7"}]}`),
			wantRules: []airlock.EgressRule{{Action: airlock.EgressDeny, CIDR: "192.0.2.7"}}},
		{name: "ok/hardened-no-policy", body: workspaceBody("h2", "hardened", ""), wantRules: []airlock.EgressRule{}},
		{name: "ok/hardened-empty-rules", body: workspaceBody("h3", "hardened", `{"rules":[]}`), wantRules: []airlock.EgressRule{}},
		{name: "ok/hardened-empty-object", body: workspaceBody("h4", "hardened", `{}`), wantRules: []airlock.EgressRule{}},
		{name: "ok/standard-null", body: workspaceBody("st1", "standard", `null`)},
		{name: "ok/standard-empty-rules", body: workspaceBody("st2", "standard", `{"rules":[]}`)},
		{name: "fail/standard-with-rules", body: workspaceBody("x1", "standard", testEgress), code: "invalid",
			msg: []string{`workspace "x1" has 3 egress rules but isolation standard`, "egress policies need isolation hardened or sandboxed"}},
		{name: "fail/default-isolation-with-rules", body: `{"name":"x1","image":"a","egress":` + testEgress + `}`, code: "invalid",
			msg: []string{"egress policies need isolation hardened or sandboxed"}},
		{name: "fail/bad-cidr-second-rule", body: workspaceBody("x1", "hardened", `{"rules":[{"action":"allow","domain":"a.example"},{"action":"deny","cidr":"10.1.2.3/8"}]}`),
			code: "invalid", msg: []string{"egress policy rules[1]", `cidr "10.1.2.3/8" has bits set past the prefix length; did you mean 10.0.0.0/8?`}},
		{name: "fail/bad-action", body: workspaceBody("x1", "hardened", `{"rules":[{"action":"permit","domain":"a.example"}]}`),
			code: "invalid", msg: []string{"egress policy rules[0]", `action "permit" is not "allow" or "deny"`}},
		{name: "fail/domain-and-cidr", body: workspaceBody("x1", "hardened", `{"rules":[{"action":"allow","domain":"a.example","cidr":"10.0.0.0/8"}]}`),
			code: "invalid", msg: []string{"egress policy rules[0]", "not both"}},
		{name: "fail/uppercase-domain", body: workspaceBody("x1", "hardened", `{"rules":[{"action":"allow","domain":"A.example"}]}`),
			code: "invalid", msg: []string{"egress policy rules[0]", "lowercase"}},
		{name: "fail/unknown-rule-field", body: workspaceBody("x1", "hardened", `{"rules":[{"action":"allow","domain":"a.example"},{"action":"allow","domain":"b.example","port":443}]}`),
			code: "invalid", msg: []string{"egress policy rules[1]", `unknown field "port"`}},
		{name: "fail/port-out-of-range", body: workspaceBody("x1", "hardened", `{"rules":[{"action":"allow","domain":"a.example","ports":[443,70000]}]}`),
			code: "invalid", msg: []string{"egress policy rules[0]", `field "ports" must be a whole number in range, not 70000`}},
		{name: "fail/port-zero", body: workspaceBody("x1", "hardened", `{"rules":[{"action":"allow","domain":"a.example","ports":[0]}]}`),
			code: "invalid", msg: []string{"egress policy rules[0]", "port 0 is not a port"}},
		{name: "fail/port-string", body: workspaceBody("x1", "hardened", `{"rules":[{"action":"allow","domain":"a.example","ports":["443"]}]}`),
			code: "invalid", msg: []string{"egress policy rules[0]", `field "ports"`}},
		{name: "fail/unknown-policy-field", body: workspaceBody("x1", "hardened", `{"rule":[]}`),
			code: "invalid", msg: []string{"egress policy", `unknown field "rule"`}},
		{name: "fail/rules-not-list", body: workspaceBody("x1", "hardened", `{"rules":{"action":"allow"}}`),
			code: "invalid", msg: []string{"egress policy", `field "rules"`}},
		{name: "fail/policy-is-list", body: workspaceBody("x1", "hardened", `[{"action":"allow","domain":"a.example"}]`),
			code: "invalid", msg: []string{"egress policy", `{"rules":[`}},
		{name: "fail/too-many-rules", body: workspaceBody("x1", "hardened", `{"rules":[`+strings.Repeat(`{"action":"deny","domain":"*"},`, airlock.MaxEgressRules)+`{"action":"deny","domain":"*"}]}`),
			code: "invalid", msg: []string{"egress policy has 257 rules; at most 256"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(req{Method: "POST", Path: "/api/v1/workspaces", Bearer: e.adminTok, Body: tc.body})
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg...)
				wantError(t, e.do(req{Method: "GET", Path: "/api/v1/workspaces/x1", Bearer: e.adminTok}), "not_found")
				return
			}
			wantStatus(t, rec, http.StatusCreated)
			var created workspaceSpec
			mustJSON(t, rec, &created)
			var stored workspaceSpec
			mustJSON(t, e.do(req{Method: "GET", Path: "/api/v1/workspaces/" + created.Name, Bearer: e.adminTok}), &stored)
			for what, got := range map[string]workspaceSpec{"create": created, "get": stored} {
				switch {
				case tc.wantRules == nil && got.Egress != nil:
					t.Errorf("%s: egress %+v for a standard workspace", what, got.Egress)
				case tc.wantRules != nil && (got.Egress == nil || !reflect.DeepEqual(got.Egress.Rules, tc.wantRules)):
					t.Errorf("%s: egress %+v, want rules %+v", what, got.Egress, tc.wantRules)
				}
			}
		})
	}
	t.Run("ok/empty-policy-shows-rules-list", func(t *testing.T) {
		if got := getEgress(t, e, "h4"); got != `{"rules":[]}` {
			t.Errorf("egress %s, want {\"rules\":[]}", got)
		}
		if got := getEgress(t, e, "st1"); got != "" {
			t.Errorf("a standard workspace shows egress %s", got)
		}
	})
	t.Run("ok/list", func(t *testing.T) {
		var list []workspaceSpec
		mustJSON(t, e.do(req{Method: "GET", Path: "/api/v1/workspaces", Bearer: e.adminTok}), &list)
		found := false
		for _, w := range list {
			if w.Name == "h1" {
				found = true
				if w.Egress == nil || !reflect.DeepEqual(w.Egress.Rules, testEgressRules()) {
					t.Errorf("listed egress %+v", w.Egress)
				}
			}
		}
		if !found {
			t.Fatalf("h1 not listed: %+v", list)
		}
	})
}

// TestWorkspaceEgressAdminOnly: like env, a policy's rules (which name
// the private network's ranges and hosts) reach admins only.
func TestWorkspaceEgressAdminOnly(t *testing.T) {
	e := newEnv(t)
	wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/workspaces", Bearer: e.adminTok, Body: workspaceBody("h", "hardened", testEgress)}), http.StatusCreated)
	for _, tc := range []struct {
		name, path, bearer string
		want               bool
	}{
		{"admin/get", "/api/v1/workspaces/h", e.adminTok, true},
		{"admin/list", "/api/v1/workspaces", e.adminTok, true},
		{"user/get", "/api/v1/workspaces/h", e.userTok, false},
		{"user/list", "/api/v1/workspaces", e.userTok, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(req{Method: "GET", Path: tc.path, Bearer: tc.bearer})
			wantStatus(t, rec, http.StatusOK)
			body := rec.Body.String()
			if got := strings.Contains(body, `"egress"`) && strings.Contains(body, "10.1.0.0/16"); got != tc.want {
				t.Errorf("egress shown: %v, want %v: %s", got, tc.want, body)
			}
			if !tc.want && strings.Contains(body, "10.1.0.0/16") {
				t.Errorf("a rule reached a non-admin: %s", body)
			}
		})
	}
}

func TestUpdateWorkspace(t *testing.T) {
	e := newEnv(t)
	e.addWorkspace(map[string]any{"name": "web", "image": "airlock/chromium:1", "isolation": "hardened", "memory": 1 << 30,
		"env": map[string]string{"LANG": "fr_FR.UTF-8"}, "seccomp": "chromium", "clipboard": "off"})
	e.addWorkspace(map[string]any{"name": "other", "image": "x"})
	for _, tc := range []struct {
		name   string
		bearer string // "" is the admin's
		path   string // "" is web's
		body   string
		code   string
		msg    []string
		check  func(t *testing.T, got workspaceSpec)
	}{
		{name: "ok/set-egress", body: `{"egress":` + testEgress + `}`, check: func(t *testing.T, got workspaceSpec) {
			if got.Egress == nil || !reflect.DeepEqual(got.Egress.Rules, testEgressRules()) {
				t.Errorf("egress %+v", got.Egress)
			}
			// What the body does not name is kept.
			if got.Memory != 1<<30 || got.Env["LANG"] != "fr_FR.UTF-8" || got.Seccomp != "chromium" || got.Clipboard != "off" || got.Isolation != "hardened" {
				t.Errorf("other fields changed: %+v", got)
			}
		}},
		{name: "ok/other-field-keeps-egress", body: `{"memory":536870912}`, check: func(t *testing.T, got workspaceSpec) {
			if got.Memory != 512<<20 || got.Egress == nil || len(got.Egress.Rules) != 3 {
				t.Errorf("memory %d egress %+v", got.Memory, got.Egress)
			}
		}},
		{name: "fail/bad-rule-keeps-policy", body: `{"egress":{"rules":[{"action":"allow","domain":"ok.example"},{"action":"allow","domain":"*.*.example"}]}}`,
			code: "invalid", msg: []string{"egress policy rules[1]", "wildcard"}},
		{name: "fail/standard-with-rules", body: `{"isolation":"standard"}`, code: "invalid",
			msg: []string{"3 egress rules but isolation standard", "need isolation hardened or sandboxed"}},
		{name: "ok/standard-and-null-egress", body: `{"isolation":"standard","egress":null}`, check: func(t *testing.T, got workspaceSpec) {
			if got.Isolation != "standard" || got.Egress != nil {
				t.Errorf("isolation %s egress %+v", got.Isolation, got.Egress)
			}
		}},
		{name: "ok/back-to-hardened-has-empty-policy", body: `{"isolation":"hardened"}`, check: func(t *testing.T, got workspaceSpec) {
			if got.Egress == nil || got.Egress.Rules == nil || len(got.Egress.Rules) != 0 {
				t.Errorf("egress %+v, want the empty policy", got.Egress)
			}
		}},
		{name: "ok/replace-then-empty", body: `{"egress":{"rules":[{"action":"deny","cidr":"10.0.0.0/8"}]}}`, check: func(t *testing.T, got workspaceSpec) {
			if got.Egress == nil || !reflect.DeepEqual(got.Egress.Rules, []airlock.EgressRule{{Action: "deny", CIDR: "10.0.0.0/8"}}) {
				t.Errorf("egress %+v", got.Egress)
			}
		}},
		{name: "ok/empty-rules", body: `{"egress":{"rules":[]}}`, check: func(t *testing.T, got workspaceSpec) {
			if got.Egress == nil || len(got.Egress.Rules) != 0 {
				t.Errorf("egress %+v", got.Egress)
			}
		}},
		{name: "ok/env-replaced-not-merged", body: `{"env":{"TZ":"UTC"}}`, check: func(t *testing.T, got workspaceSpec) {
			if len(got.Env) != 1 || got.Env["TZ"] != "UTC" {
				t.Errorf("env %v, want only TZ", got.Env)
			}
		}},
		{name: "ok/node-labels", body: `{"node_labels":{"zone":"eu","gpu":"a10"}}`, check: func(t *testing.T, got workspaceSpec) {
			if !reflect.DeepEqual(got.NodeLabels, map[string]string{"zone": "eu", "gpu": "a10"}) {
				t.Errorf("node labels %v", got.NodeLabels)
			}
		}},
		{name: "ok/node-labels-replaced-not-merged", body: `{"node_labels":{"zone":"us"}}`, check: func(t *testing.T, got workspaceSpec) {
			if !reflect.DeepEqual(got.NodeLabels, map[string]string{"zone": "us"}) {
				t.Errorf("node labels %v, want only zone=us", got.NodeLabels)
			}
		}},
		{name: "fail/node-label-key", body: `{"node_labels":{"zone eu":"x"}}`, code: "invalid", msg: []string{`label key "zone eu"`}},
		{name: "ok/node-labels-removed", body: `{"node_labels":null}`, check: func(t *testing.T, got workspaceSpec) {
			if got.NodeLabels != nil {
				t.Errorf("node labels %v, want none", got.NodeLabels)
			}
		}},
		{name: "ok/rename", body: `{"name":"web2"}`, check: func(t *testing.T, got workspaceSpec) {
			if got.Name != "web2" {
				t.Errorf("name %q", got.Name)
			}
		}},
		{name: "ok/rename-back", path: "/api/v1/workspaces/web2", body: `{"name":"web"}`},
		{name: "fail/rename-taken", body: `{"name":"other"}`, code: "conflict", msg: []string{`workspace "other" already exists`}},
		{name: "fail/as-user", bearer: "user", body: `{"memory":0}`, code: "forbidden", msg: []string{"admin role"}},
		{name: "fail/anonymous", bearer: "-", body: `{"memory":0}`, code: "unauthorized"},
		{name: "fail/unknown", path: "/api/v1/workspaces/nope", body: `{"memory":0}`, code: "not_found", msg: []string{`workspace "nope" not found`}},
		{name: "fail/id", body: `{"id":"x"}`, code: "invalid", msg: []string{"id and created_at are set by the server"}},
		{name: "fail/created-at", body: `{"created_at":"2020-01-01T00:00:00Z"}`, code: "invalid", msg: []string{"id and created_at are set by the server"}},
		{name: "fail/unknown-field", body: `{"privileged":true}`, code: "invalid", msg: []string{`unknown field "privileged"`}},
		{name: "fail/not-object", body: `[1]`, code: "invalid", msg: []string{"request body"}},
		{name: "fail/seccomp-unknown", body: `{"seccomp":"firefox"}`, code: "invalid", msg: []string{`seccomp profile "firefox" is not known`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bearer := map[string]string{"": e.adminTok, "user": e.userTok, "-": ""}[tc.bearer]
			path := tc.path
			if path == "" {
				path = "/api/v1/workspaces/web"
			}
			var before string
			if tc.code != "" {
				before = getEgress(t, e, "web")
			}
			rec := e.do(req{Method: "PATCH", Path: path, Bearer: bearer, Body: tc.body})
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg...)
				if after := getEgress(t, e, "web"); after != before {
					t.Errorf("a refused update changed the policy from %s to %s", before, after)
				}
				return
			}
			wantStatus(t, rec, http.StatusOK)
			var got workspaceSpec
			mustJSON(t, rec, &got)
			var stored workspaceSpec
			mustJSON(t, e.do(req{Method: "GET", Path: "/api/v1/workspaces/" + got.Name, Bearer: e.adminTok}), &stored)
			if !reflect.DeepEqual(got, stored) {
				t.Errorf("answered %+v, stored %+v", got, stored)
			}
			if tc.check != nil {
				tc.check(t, stored)
			}
		})
	}
}

// TestContainerSpecEgress: the session network of a hardened or sandboxed
// workspace carries its policy, the empty one as an empty rules list (the
// defaults); a standard one carries none, which its node would refuse.
func TestContainerSpecEgress(t *testing.T) {
	e := newEnv(t)
	reg, err := auth.NewToken(auth.KindRegister)
	if err != nil {
		t.Fatal(err)
	}
	sess := &airlock.Session{ID: "s1", UserID: "u1", ContainerID: "airlock-s1"}
	for _, tc := range []struct {
		name string
		ws   airlock.Workspace
		want string
	}{
		{"ok/standard", airlock.Workspace{Name: "w", Image: "x", Isolation: airlock.IsolationStandard}, ""},
		{"ok/hardened-empty", airlock.Workspace{Name: "w", Image: "x", Isolation: airlock.IsolationHardened}, `{"rules":[]}`},
		{"ok/sandboxed-empty", airlock.Workspace{Name: "w", Image: "x", Isolation: airlock.IsolationSandboxed}, `{"rules":[]}`},
		{"ok/hardened-rules", airlock.Workspace{Name: "w", Image: "x", Isolation: airlock.IsolationHardened,
			Egress: airlock.EgressPolicy{Rules: testEgressRules()}}, testEgress},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := e.srv.sessions.ContainerSpec(sess, &tc.ws, airlock.Viewer{}, reg)
			if err != nil {
				t.Fatal(err)
			}
			if sp.Egress != tc.want || sp.Isolation != string(tc.ws.Isolation) {
				t.Fatalf("Egress %q isolation %q, want %q %q", sp.Egress, sp.Isolation, tc.want, tc.ws.Isolation)
			}
			if tc.want == "" {
				return
			}
			// What the node's proxy parses is the workspace's policy.
			p, err := airlock.ParseEgressPolicy([]byte(sp.Egress))
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Rules) != len(tc.ws.Egress.Rules) || (len(p.Rules) > 0 && !reflect.DeepEqual(p.Rules, tc.ws.Egress.Rules)) {
				t.Errorf("label parses to %+v, workspace has %+v", p.Rules, tc.ws.Egress.Rules)
			}
		})
	}
}

// TestSessionNetworkEgress: a session launched after an update gets the
// new policy on its network.
func TestSessionNetworkEgress(t *testing.T) {
	e := newEnv(t)
	e.addNode("n1", 4, func(n *airlock.Node) {
		n.Isolation = []airlock.Isolation{airlock.IsolationStandard, airlock.IsolationHardened}
	})
	e.addWorkspace(map[string]any{"name": "hw", "image": "airlock/chromium:1", "isolation": "hardened"})
	first := e.createSession(e.userTok, "hw")
	if got := e.launched(first.ID).Spec.Egress; got != `{"rules":[]}` {
		t.Fatalf("first session's egress %q, want the empty policy", got)
	}
	wantStatus(t, e.do(req{Method: "PATCH", Path: "/api/v1/workspaces/hw", Bearer: e.adminTok, Body: `{"egress":` + testEgress + `}`}), http.StatusOK)
	second := e.createSession(e.userTok, "hw")
	if got := e.launched(second.ID).Spec.Egress; got != testEgress {
		t.Fatalf("second session's egress %q, want %s", got, testEgress)
	}
}
