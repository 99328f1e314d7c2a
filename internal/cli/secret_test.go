package cli

import (
	"io"
	"os"
	"strings"
	"testing"
)

// TestSecrets: a set variable wins, else stdin gives one line per secret
// in order, and a missing secret names where to give it.
func TestSecrets(t *testing.T) {
	type want struct{ value, err string }
	for _, tc := range []struct {
		name  string
		env   map[string]string
		stdin string
		gets  []string // variable names asked in turn
		want  []want
	}{
		{name: "ok/env", env: map[string]string{"CUR": "from-env"}, gets: []string{"CUR"}, want: []want{{value: "from-env"}}},
		{name: "ok/env-before-stdin", env: map[string]string{"NEW": "env-new"}, stdin: "stdin-cur\n", gets: []string{"CUR", "NEW"},
			want: []want{{value: "stdin-cur"}, {value: "env-new"}}},
		{name: "ok/stdin-lines-in-order", stdin: "first one\r\nsecond\n", gets: []string{"CUR", "NEW"}, want: []want{{value: "first one"}, {value: "second"}}},
		{name: "ok/stdin-no-final-newline", stdin: "only", gets: []string{"NEW"}, want: []want{{value: "only"}}},
		{name: "fail/stdin-empty", stdin: "", gets: []string{"NEW"}, want: []want{{err: "no new password: set NEW or give it as a line on stdin"}}},
		{name: "fail/stdin-one-line-for-two", stdin: "cur\n", gets: []string{"CUR", "NEW"}, want: []want{{value: "cur"}, {err: "set NEW"}}},
		{name: "fail/blank-line", stdin: "\n", gets: []string{"CUR"}, want: []want{{err: "set CUR"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			go func() {
				_, _ = io.WriteString(w, tc.stdin)
				w.Close()
			}()
			s := &Secrets{In: r, Prompt: io.Discard, Getenv: func(k string) string { return tc.env[k] }}
			for i, env := range tc.gets {
				what := map[string]string{"CUR": "current password", "NEW": "new password"}[env]
				got, err := s.Get(env, what, true)
				switch w := tc.want[i]; {
				case w.err != "":
					if err == nil || !strings.Contains(err.Error(), w.err) {
						t.Fatalf("Get(%s) = %q, %v; want an error containing %q", env, got, err, w.err)
					}
				case err != nil || got != w.value:
					t.Fatalf("Get(%s) = %q, %v; want %q", env, got, err, w.value)
				}
			}
		})
	}
}
