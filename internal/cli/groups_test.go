package cli

import (
	"encoding/json"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/airlock-rbi/airlock/internal/apiclient"
)

// TestGroupFlagsApply: the flags of `group create` and `set` change only
// what they name, "none" unsets a field, and the result is the api's
// JSON, a policy left empty sent as none.
func TestGroupFlagsApply(t *testing.T) {
	staff := `{"name":"staff","priority":10,"workspaces":[{"workspace":"web","policy":{"clipboard":"off"}}],"policy":{"max_sessions":2,"idle_timeout":"1h"}}`
	for _, tc := range []struct {
		name, from string
		args       []string
		want, text string // the group's JSON after, and PolicyText of its policy
		err        string
	}{
		{name: "ok/create", from: `{"name":"x","priority":0}`,
			args: []string{"--priority", "5", "--grant", "web", "--idle", "30m", "--downloads", "block", "--idp-groups", "A, B"},
			want: `{"name":"x","priority":5,"workspaces":[{"workspace":"web"}],"policy":{"idle_timeout":"30m","downloads":false},"idp_groups":["A","B"]}`,
			text: "idle 30m · downloads blocked"},
		{name: "ok/set-keeps-what-no-flag-names", from: staff, args: []string{"--uploads", "allow"},
			want: `{"name":"staff","priority":10,"workspaces":[{"workspace":"web","policy":{"clipboard":"off"}}],"policy":{"max_sessions":2,"idle_timeout":"1h","uploads":true}}`,
			text: "max-sessions 2 · idle 1h · uploads allowed"},
		{name: "ok/none-unsets-and-an-empty-policy-is-none", from: staff,
			args: []string{"--max-sessions", "none", "--idle", "none", "--rule", "web:"},
			want: `{"name":"staff","priority":10,"workspaces":[{"workspace":"web"}]}`, text: "-"},
		{name: "ok/rule-grants-and-sets", from: staff, args: []string{"--rule", "docs:lifetime=8h,clipboard=both", "--ungrant", "web"},
			want: `{"name":"staff","priority":10,"workspaces":[{"workspace":"docs","policy":{"lifetime":"8h","clipboard":"both"}}],"policy":{"max_sessions":2,"idle_timeout":"1h"}}`,
			text: "max-sessions 2 · idle 1h"},
		{name: "fail/max-sessions", from: staff, args: []string{"--max-sessions", "many"}, err: `--max-sessions "many": give a number, or none`},
		{name: "fail/duration", from: staff, args: []string{"--lifetime", "soon"}, err: `--lifetime "soon": give a duration`},
		{name: "fail/downloads", from: staff, args: []string{"--downloads", "maybe"}, err: "give allow, block or none"},
		{name: "fail/rule-key", from: staff, args: []string{"--rule", "web:colour=red"}, err: `no key "colour"`},
		{name: "fail/rule-value", from: staff, args: []string{"--rule", "web:idle=soon"}, err: `--rule "web:idle=soon": --idle "soon"`},
		{name: "fail/ungrant", from: staff, args: []string{"--ungrant", "docs"}, err: "does not grant it one by one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("group", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var f GroupFlags
			f.Register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			var g apiclient.GroupSpec
			if err := json.Unmarshal([]byte(tc.from), &g); err != nil {
				t.Fatal(err)
			}
			err := f.Apply(&g)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Apply: %v; want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(g)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("group\n got %s\nwant %s", got, tc.want)
			}
			if text := PolicyText(g.Policy); text != tc.text {
				t.Errorf("PolicyText = %q; want %q", text, tc.text)
			}
		})
	}
}
