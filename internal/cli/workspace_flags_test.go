package cli

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
)

// TestWorkspaceNodeLabelFlags: --node-label gives the node labels,
// --clear-node-labels removes them on update, and a malformed or repeated
// label, or both flags at once, is refused naming the flag.
func TestWorkspaceNodeLabelFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		add  bool
		args []string
		want any    // body["node_labels"]; nil: absent
		err  string // refusal, if any
	}{
		{"ok/add", true, []string{"--image", "x", "--node-label", "zone=eu", "--node-label", "gpu=a10"}, map[string]string{"zone": "eu", "gpu": "a10"}, ""},
		{"ok/empty-value", true, []string{"--node-label", "ssd="}, map[string]string{"ssd": ""}, ""},
		{"ok/none", true, []string{"--image", "x"}, nil, ""},
		{"ok/update-clear", false, []string{"--clear-node-labels"}, map[string]string{}, ""},
		{"ok/update-untouched", false, []string{"--memory", "1g"}, nil, ""},
		{"fail/no-equals", true, []string{"--node-label", "zone"}, nil, `--node-label "zone" is not KEY=VALUE`},
		{"fail/no-key", true, []string{"--node-label", "=eu"}, nil, `--node-label "=eu" is not KEY=VALUE`},
		{"fail/twice", true, []string{"--node-label", "zone=eu", "--node-label", "zone=us"}, nil, "--node-label zone is given twice"},
		{"fail/both", false, []string{"--node-label", "zone=eu", "--clear-node-labels"}, nil, "not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("workspace", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			f := workspaceFlags(fs, tc.add)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			body, err := f.settings(fs, tc.add)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, ok := body["node_labels"]
			if tc.want == nil {
				if ok {
					t.Fatalf("node_labels %v, want absent", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("node_labels %v, want %v", got, tc.want)
			}
		})
	}
}
