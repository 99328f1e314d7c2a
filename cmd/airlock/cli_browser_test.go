package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestCLIWorkspaceBrowser sets a workspace's browser options through the
// CLI: flags for add, merged flags, a policy file and a reset for update,
// and refusals that say what was wrong, of these and of a launch's own
// locale, time zone and scale.
func TestCLIWorkspaceBrowser(t *testing.T) {
	env := startUp(t)
	show := func(name string) map[string]any {
		t.Helper()
		var w map[string]any
		out := env.cli(t, "workspace", "show", name)
		if err := json.Unmarshal([]byte(out), &w); err != nil {
			t.Fatalf("workspace show %s: %v: %s", name, err, out)
		}
		return w
	}
	check := func(step string, got map[string]any, want map[string]any) {
		t.Helper()
		for k, v := range want {
			if !reflect.DeepEqual(got[k], v) {
				t.Errorf("%s: %s = %#v, want %#v", step, k, got[k], v)
			}
		}
	}
	env.cli(t, "workspace", "add", "kb", "--image", "airlock/chromium:latest", "--mode", "kiosk", "--audio", "off",
		"--locale", "ja-JP", "--timezone", "Asia/Tokyo", "--max-scale", "3", "--downloads", "100m", "--uploads", "on",
		"--printing", "on", "--url-block", "*", "--url-allow", "intranet.example", "--url-allow", "wiki.example")
	check("add", show("kb"), map[string]any{"mode": "kiosk", "audio": "off", "locale": "ja-JP", "timezone": "Asia/Tokyo", "max_scale": 3.0,
		"browser": map[string]any{"url_blocklist": []any{"*"}, "url_allowlist": []any{"intranet.example", "wiki.example"},
			"downloads": map[string]any{"allowed": true, "max_bytes": float64(100 << 20)},
			"uploads":   map[string]any{"allowed": true, "max_bytes": float64(256 << 20)}, "devtools": false, "printing": true}})

	env.cli(t, "workspace", "update", "kb", "--downloads", "off", "--devtools", "on", "--locale", "")
	check("update flags", show("kb"), map[string]any{"mode": "kiosk", "locale": nil,
		"browser": map[string]any{"url_blocklist": []any{"*"}, "url_allowlist": []any{"intranet.example", "wiki.example"},
			"downloads": map[string]any{"allowed": false},
			"uploads":   map[string]any{"allowed": true, "max_bytes": float64(256 << 20)}, "devtools": true, "printing": true}})

	dir := t.TempDir()
	file := filepath.Join(dir, "browser.yaml")
	if err := os.WriteFile(file, []byte("url_blocklist: [ads.example]\npolicies: {BookmarkBarEnabled: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env.cli(t, "workspace", "update", "kb", "--browser-file", file)
	check("update file", show("kb"), map[string]any{"browser": map[string]any{"url_blocklist": []any{"ads.example"},
		"downloads": map[string]any{"allowed": false}, "uploads": map[string]any{"allowed": false}, "devtools": false, "printing": false,
		"policies": map[string]any{"BookmarkBarEnabled": true}}})

	env.cli(t, "workspace", "update", "kb", "--clear-browser", "--mode", "browser")
	check("clear", show("kb"), map[string]any{"mode": "browser", "browser": map[string]any{
		"downloads": map[string]any{"allowed": false}, "uploads": map[string]any{"allowed": false}, "devtools": false, "printing": false}})

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"fail/mode", []string{"workspace", "update", "kb", "--mode", "tabs"}, `mode "tabs" is not one of browser, kiosk`},
		{"fail/downloads", []string{"workspace", "update", "kb", "--downloads", "lots"}, `--downloads: "lots" is not off, on or a size`},
		{"fail/devtools", []string{"workspace", "update", "kb", "--devtools", "yes"}, `--devtools: "yes" is not on or off`},
		{"fail/timezone", []string{"workspace", "update", "kb", "--timezone", "Mars/Olympus"}, "not in the IANA time zone database"},
		{"fail/max-scale", []string{"workspace", "update", "kb", "--max-scale", "8"}, "max_scale 8 is out of range"},
		{"fail/file-and-flags", []string{"workspace", "update", "kb", "--browser-file", file, "--printing", "on"}, "set the whole browser policy"},
		{"fail/allow-file-url", []string{"workspace", "update", "kb", "--url-allow", "file:///etc"}, "file:// URLs are always blocked"},
		{"fail/session-locale", []string{"session", "create", "kb", "--locale", "en_US"}, `locale "en_US" is not a BCP 47 language tag`},
		{"fail/session-timezone", []string{"session", "create", "kb", "--timezone", "Mars/Olympus"}, "not in the IANA time zone database"},
		{"fail/session-scale", []string{"session", "create", "kb", "--scale", "9"}, "scale 9 is out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := env.try(tc.args...)
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("airlock %v: exit %d, output %q; want an error mentioning %q", tc.args, code, out, tc.want)
			}
		})
	}
}
