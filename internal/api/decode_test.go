package api

import (
	"net/http"
	"strings"
	"testing"
)

// TestDecode drives the strict JSON decoding through POST /workspaces,
// whose body has strings, numbers, a map and a time.
func TestDecode(t *testing.T) {
	e := newEnv(t)
	n := 0
	// valid returns a fresh valid body, so ok cases do not collide.
	valid := func() string {
		n++
		return `{"name":"ws-` + string(rune('a'+n)) + `","image":"airlock/chromium:1"}`
	}
	huge := `{"name":"big","image":"x","description":"` + strings.Repeat("a", maxBody) + `"}`
	for _, tc := range []struct {
		name string
		body string
		ct   string // "-" sends no Content-Type
		msg  []string
	}{
		{name: "ok/plain", body: valid()},
		{name: "ok/charset", body: valid(), ct: "application/json; charset=utf-8"},
		{name: "ok/content-type-case", body: valid(), ct: "Application/JSON"},
		{name: "ok/no-content-type", body: valid(), ct: "-"},
		{name: "ok/trailing-whitespace", body: valid() + "\n\t \r\n"},
		{name: "ok/leading-whitespace", body: "\n  " + valid()},
		{name: "fail/content-type-text", body: valid(), ct: "text/plain", msg: []string{`Content-Type must be application/json, not "text/plain"`}},
		{name: "fail/content-type-form", body: valid(), ct: "application/x-www-form-urlencoded", msg: []string{"Content-Type must be application/json"}},
		{name: "fail/content-type-multipart", body: valid(), ct: "multipart/form-data; boundary=x", msg: []string{"Content-Type must be application/json"}},
		{name: "fail/unknown-field", body: `{"name":"a","image":"b","bogus":1}`, msg: []string{`unknown field "bogus"`}},
		{name: "fail/unknown-field-case", body: `{"name":"a","image":"b","Imagex":"c"}`, msg: []string{`unknown field "Imagex"`}},
		{name: "fail/trailing-object", body: `{"name":"a","image":"b"}{}`, msg: []string{"data after the JSON object"}},
		{name: "fail/trailing-garbage", body: `{"name":"a","image":"b"} x`, msg: []string{"data after the JSON object"}},
		{name: "fail/trailing-bracket", body: `{"name":"a","image":"b"}]`, msg: []string{"data after the JSON object"}},
		{name: "fail/trailing-number", body: `{"name":"a","image":"b"} 1`, msg: []string{"data after the JSON object"}},
		{name: "fail/string-for-number", body: `{"name":"a","image":"b","memory":"1g"}`, msg: []string{`field "memory" must be a whole number, not a string`}},
		{name: "fail/number-for-string", body: `{"name":5,"image":"b"}`, msg: []string{`field "name" must be a string, not a number`}},
		{name: "fail/bool-for-string", body: `{"name":"a","image":true}`, msg: []string{`field "image"`, "string", "bool"}},
		{name: "fail/list-for-map", body: `{"name":"a","image":"b","env":["A=1"]}`, msg: []string{`field "env"`, "object", "array"}},
		{name: "fail/number-in-map", body: `{"name":"a","image":"b","env":{"A":1}}`, msg: []string{`field "env`, "string", "number"}},
		{name: "fail/object-for-string", body: `{"name":{},"image":"b"}`, msg: []string{`field "name"`, "string", "object"}},
		{name: "fail/bad-time", body: `{"name":"a","image":"b","created_at":"yesterday"}`, msg: []string{"yesterday"}},
		{name: "fail/empty-body", body: "", msg: []string{"a JSON object is required"}},
		{name: "fail/whitespace-body", body: " \n", msg: []string{"a JSON object is required"}},
		{name: "fail/too-large", body: huge, msg: []string{"larger than 1 MiB"}},
		{name: "fail/malformed", body: `{"name" "a"}`, msg: []string{"malformed JSON at byte"}},
		{name: "fail/malformed-quote", body: `{'name':'a'}`, msg: []string{"malformed JSON at byte"}},
		{name: "fail/truncated", body: `{"name":"a",`, msg: []string{"request body"}},
		{name: "fail/not-json", body: `name=a&image=b`, msg: []string{"malformed JSON"}},
		{name: "fail/null", body: `null`, msg: []string{"workspace name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			switch tc.ct {
			case "":
			case "-":
				h["Content-Type"] = ""
			default:
				h["Content-Type"] = tc.ct
			}
			rec := e.do(req{Method: "POST", Path: "/api/v1/workspaces", Bearer: e.adminTok, Body: tc.body, Header: h})
			if strings.HasPrefix(tc.name, "ok/") {
				wantStatus(t, rec, http.StatusCreated)
				return
			}
			eb := wantError(t, rec, "invalid", tc.msg...)
			if len(eb.Message) > 512 {
				t.Errorf("message is %d bytes long", len(eb.Message))
			}
		})
	}
}

// TestDecodeMessages are refusals whose message does not say what was
// wrong (see the report on internal/api's decoding).
func TestDecodeMessages(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, path, body string
		msg              []string
		not              string
	}{
		// `[]` is answered `field "" must be a object, not a array`.
		{name: "fail/array-body", path: "/api/v1/workspaces", body: `[]`, msg: []string{"JSON object"}, not: `field ""`},
		{name: "fail/string-body", path: "/api/v1/workspaces", body: `"chrome"`, msg: []string{"JSON object"}, not: `field ""`},
		// A fraction is answered `must be a number, not a number 1.5`.
		{name: "fail/fraction-for-integer", path: "/api/v1/users", body: `{"name":"bob","password":"long-enough","max_sessions":1.5}`,
			msg: []string{`field "max_sessions"`, "whole number"}},
		{name: "fail/overflow", path: "/api/v1/workspaces", body: `{"name":"a","image":"b","memory":1e30}`,
			msg: []string{`field "memory"`}, not: "must be a number, not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(req{Method: "POST", Path: tc.path, Bearer: e.adminTok, Body: tc.body})
			eb := wantError(t, rec, "invalid", tc.msg...)
			if tc.not != "" && strings.Contains(eb.Message, tc.not) {
				t.Errorf("message %q", eb.Message)
			}
		})
	}
}

// TestDecodeEveryEndpoint: every route that reads a body refuses the same
// malformed bodies the same way, before doing anything.
func TestDecodeEveryEndpoint(t *testing.T) {
	e := newEnv(t)
	nodeCert := e.enrollNode("n1", "https://10.0.0.5:2376")
	for _, ep := range []struct {
		name, path, bearer string
		node               bool
	}{
		{name: "login", path: "/api/v1/auth/login"},
		{name: "users", path: "/api/v1/users", bearer: e.adminTok},
		{name: "tokens", path: "/api/v1/tokens", bearer: e.userTok},
		{name: "workspaces", path: "/api/v1/workspaces", bearer: e.adminTok},
		{name: "sessions", path: "/api/v1/sessions", bearer: e.userTok},
		{name: "enroll", path: "/api/v1/nodes/enroll"},
		{name: "renew", path: "/api/v1/nodes/renew", node: true},
		{name: "register", path: "/api/v1/agent/register"},
	} {
		for _, tc := range []struct {
			name, body, ct string
			msg            string
		}{
			{"fail/unknown-field", `{"zzz":1}`, "", `unknown field "zzz"`},
			{"fail/empty", ``, "", "a JSON object is required"},
			{"fail/trailing", `{}{}`, "", "data after the JSON object"},
			{"fail/malformed", `{"a" 1}`, "", "malformed JSON"},
			{"fail/content-type", `{}`, "text/plain", "Content-Type must be application/json"},
			{"fail/too-large", `{"zzz":"` + strings.Repeat("z", maxBody) + `"}`, "", "larger than 1 MiB"},
		} {
			if ep.name == "login" && tc.name == "fail/too-large" {
				// Sign-ins wait for a hash slot holding their body, so
				// theirs is kept far smaller.
				tc.msg = "larger than 16 KiB"
			}
			t.Run(ep.name+"/"+tc.name, func(t *testing.T) {
				r := req{Method: "POST", Path: ep.path, Bearer: ep.bearer, Body: tc.body}
				if tc.ct != "" {
					r.Header = map[string]string{"Content-Type": tc.ct}
				}
				if ep.node {
					r.TLS = peer(nodeCert)
				}
				wantError(t, e.do(r), "invalid", tc.msg)
			})
		}
	}
}
