package agent

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestChromiumCommandLine: whatever the start URL, it is Chromium's last
// argument and comes after "--", so Chromium never reads it as a switch.
func TestChromiumCommandLine(t *testing.T) {
	for _, tc := range []struct {
		name, url string
	}{
		{"ok/https", "https://example.com/"},
		{"ok/blank", "about:blank"},
		{"attack/renderer-cmd-prefix", "--renderer-cmd-prefix=/bin/sh -c 'id > /tmp/pwned'"},
		{"attack/no-sandbox", "--no-sandbox"},
		{"attack/single-dash", "-incognito"},
		{"attack/javascript", "javascript:alert(1)"},
		{"attack/file", "file:///etc/passwd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := appCommand(context.Background(), ":0", DesktopConfig{App: "chromium", StartURL: tc.url, Width: 800, Height: 600})
			if err != nil {
				t.Fatal(err)
			}
			args := cmd.Args[1:]
			end := slices.Index(args, "--")
			if end < 0 {
				t.Fatalf("no \"--\" in %q", args)
			}
			if got := args[end+1:]; len(got) != 1 || got[0] != tc.url {
				t.Fatalf("after \"--\": %q, want only the start URL %q", got, tc.url)
			}
			for _, a := range args[:end] {
				if strings.Contains(a, tc.url) {
					t.Errorf("the start URL appears among the flags: %q", a)
				}
				if !strings.HasPrefix(a, "--") {
					t.Errorf("argument %q before \"--\" is not a flag of the agent's", a)
				}
			}
		})
	}
}
