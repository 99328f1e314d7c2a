package oidc

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseGroups(t *testing.T) {
	long := strings.Repeat("g", maxGroupNameLen+1)
	many, _ := json.Marshal(make([]string, maxGroups+1))
	cases := []struct {
		name    string
		raw     string // "" is an absent claim
		want    []string
		present bool
		errText string
	}{
		{name: "ok/absent", raw: ""},
		{name: "ok/null", raw: "null"},
		{name: "ok/empty string is not returned", raw: `""`},
		{name: "ok/empty array", raw: `[]`, want: []string{}, present: true},
		{name: "ok/array", raw: `["b","a"]`, want: []string{"b", "a"}, present: true},
		{name: "ok/duplicates removed, order kept", raw: `["b","a","b","a"]`, want: []string{"b", "a"}, present: true},
		{name: "ok/one string", raw: `"admins"`, want: []string{"admins"}, present: true},
		{name: "ok/space around", raw: "  [ \"a\" ]  ", want: []string{"a"}, present: true},
		{name: "ok/unicode and escapes", raw: `["\u00e9quipe","a\"b"]`, want: []string{"équipe", `a"b`}, present: true},
		{name: "ok/names are exact, not trimmed", raw: `[" a "]`, want: []string{" a "}, present: true},
		{name: "ok/longest name", raw: `["` + long[1:] + `"]`, want: []string{long[1:]}, present: true},
		{name: "fail/number", raw: `42`, errText: `claim "groups" is a number; want an array of strings or a string`},
		{name: "fail/bool", raw: `true`, errText: "is a boolean"},
		{name: "fail/object", raw: `{"a":1}`, errText: "is an object"},
		{name: "fail/number in array", raw: `["a",1]`, errText: "element 1 is a number, not a string"},
		{name: "fail/null in array", raw: `["a",null]`, errText: "element 1 is null"},
		{name: "fail/nested array", raw: `[["a"]]`, errText: "element 0 is an array"},
		{name: "fail/empty name in array", raw: `["a",""]`, errText: "element 1 is an empty name"},
		{name: "fail/name too long", raw: `["` + long + `"]`, errText: "more than 256"},
		{name: "fail/too many", raw: string(many), errText: "1001 groups, more than 1000"},
		{name: "fail/broken array", raw: `["a"`, errText: "not a valid JSON array"},
		{name: "fail/broken string", raw: `"a`, errText: "not a valid JSON string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var raw json.RawMessage
			if tc.raw != "" {
				raw = json.RawMessage(tc.raw)
			}
			got, present, err := parseGroups("groups", raw)
			if tc.errText != "" {
				if !errors.Is(err, ErrClaims) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("error %v, want ErrClaims with %q", err, tc.errText)
				}
				if got != nil || present {
					t.Fatalf("groups %q present %v with an error", got, present)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if present != tc.present || !slices.Equal(got, tc.want) || (present && got == nil) {
				t.Fatalf("got %q present %v, want %q present %v", got, present, tc.want, tc.present)
			}
		})
	}
}

func TestIdentityClaims(t *testing.T) {
	cases := []struct {
		name        string
		payload     string
		required    bool
		want        Identity
		distributed bool
		errText     string
	}{
		{name: "ok/all", payload: `{"email":"a@x","email_verified":true,"name":"A","preferred_username":"a","groups":["g"]}`,
			want: Identity{Email: "a@x", EmailVerified: true, Name: "A", PreferredUsername: "a", Groups: []string{"g"}, GroupsPresent: true}},
		{name: "ok/none", payload: `{}`},
		{name: "ok/nulls", payload: `{"email":null,"email_verified":null,"name":null}`},
		{name: "ok/email_verified as string", payload: `{"email_verified":"true"}`, want: Identity{EmailVerified: true}},
		{name: "ok/email_verified false string", payload: `{"email_verified":"false"}`},
		{name: "ok/groups distributed", payload: `{"_claim_names":{"groups":"src1"},"_claim_sources":{"src1":{"endpoint":"https://x"}}}`, distributed: true},
		{name: "fail/email_verified odd", payload: `{"email_verified":"yes"}`, errText: `claim "email_verified" is a string, not a boolean`},
		{name: "fail/email_verified number", payload: `{"email_verified":1}`, errText: "is a number, not a boolean"},
		{name: "fail/email not a string", payload: `{"email":["a@x"]}`, errText: `claim "email" is an array, not a string`},
		{name: "fail/name object", payload: `{"name":{"first":"A"}}`, errText: `claim "name" is an object`},
		{name: "fail/not an object", payload: `[1]`, errText: "not a JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var id Identity
			distributed, err := identityClaims([]byte(tc.payload), "groups", &id)
			if tc.errText != "" {
				if !errors.Is(err, ErrClaims) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("error %v, want ErrClaims with %q", err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !identityEqual(id, tc.want) || distributed != tc.distributed {
				t.Fatalf("got %+v distributed %v, want %+v %v", id, distributed, tc.want, tc.distributed)
			}
		})
	}
}
