package infra

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/store"
)

var testProfiles = []string{"chromium"}

func openStore(t *testing.T) *store.DB {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestLoadWorkspaces(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	for _, tc := range []struct {
		name, body, wantErr string
	}{
		{"ok/create", "workspaces:\n  - name: web\n    image: airlock/minimal:latest\n    memory: 64m\n    cpus: 0.5\n", ""},
		{"ok/update", "workspaces:\n  - name: web\n    image: airlock/minimal:latest\n    memory: 128m\n", ""},
		{"ok/seccomp-clipboard", "workspaces:\n  - name: chromium\n    image: airlock/chromium:latest\n    seccomp: chromium\n    clipboard: to-container\n", ""},
		// A bare off is the string "off" (YAML 1.2), as is a quoted one.
		{"ok/clipboard-each", "workspaces:\n  - name: c-off\n    image: x\n    clipboard: off\n  - name: c-off-quoted\n    image: x\n    clipboard: \"off\"\n  - name: c-from\n    image: x\n    clipboard: from-container\n" +
			"  - name: c-both\n    image: x\n    clipboard: both\n  - name: c-default\n    image: x\n", ""},
		{"fail/unknown-key", "workspaces:\n  - name: web\n    imgae: x\n", "imgae"},
		{"fail/bad-size", "workspaces:\n  - name: web\n    image: x\n    memory: lots\n", `size "lots"`},
		{"fail/invalid-second", "workspaces:\n  - name: good\n    image: x\n  - name: Bad\n    image: x\n", "workspace 2 (Bad)"},
		{"fail/seccomp-unknown", "workspaces:\n  - name: ff\n    image: x\n    seccomp: firefox\n",
			`workspace 1 (ff): invalid: seccomp profile "firefox" is not known to this deployment; known profiles: chromium`},
		{"fail/seccomp-path", "workspaces:\n  - name: ff\n    image: x\n    seccomp: ./chromium.json\n", `seccomp profile name "./chromium.json"`},
		{"fail/start-url-flag", "workspaces:\n  - name: web\n    image: x\n    start_url: --renderer-cmd-prefix=/bin/sh\n", `start URL "--renderer-cmd-prefix=/bin/sh"`},
		{"fail/start-url-javascript", "workspaces:\n  - name: web\n    image: x\n    start_url: 'javascript:alert(1)'\n", "scheme javascript: is not allowed"},
		{"fail/start-url-file", "workspaces:\n  - name: web\n    image: x\n    start_url: file:///etc/passwd\n", "scheme file: is not allowed"},
		{"fail/clipboard-unknown", "workspaces:\n  - name: cb\n    image: x\n    clipboard: sometimes\n",
			`workspace 1 (cb): invalid: clipboard "sometimes" is not one of off, to-container, from-container, both`},
		{"fail/clipboard-list", "workspaces:\n  - name: cb\n    image: x\n    clipboard: [both]\n", "line 4: cannot unmarshal !!seq into string"},
		{"ok/limits", "workspaces:\n  - name: limited\n    image: x\n    idle_timeout: 90s\n    viewer_idle_timeout: 1h\n    lifetime: 8h\n    max_lifetime: 12h\n", ""},
		{"fail/limit-not-duration", "workspaces:\n  - name: lim\n    image: x\n    lifetime: forever\n", "line 4: cannot unmarshal !!str `forever` into time.Duration"},
		{"fail/limit-order", "workspaces:\n  - name: lim\n    image: x\n    idle_timeout: 2h\n    viewer_idle_timeout: 1h\n",
			"workspace 1 (lim): invalid: viewer_idle_timeout 1h is shorter than idle_timeout 2h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := LoadWorkspaces(ctx, st, writeCatalog(t, tc.body), testProfiles)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	ws, err := st.WorkspaceByName(ctx, "web")
	if err != nil || ws.Memory != 128<<20 {
		t.Fatalf("web after update: %+v %v", ws, err)
	}
	if ws, err := st.WorkspaceByName(ctx, "limited"); err != nil ||
		ws.Limits != (airlock.Limits{Idle: 90 * time.Second, ViewerIdle: time.Hour, Lifetime: 8 * time.Hour, MaxLifetime: 12 * time.Hour}) {
		t.Fatalf("limited: %+v %v", ws, err)
	}
	if _, err := st.WorkspaceByName(ctx, "good"); err == nil {
		t.Fatal("a file with an invalid workspace wrote its valid ones")
	}
	for name, want := range map[string]struct {
		seccomp   string
		clipboard airlock.ClipboardPolicy
	}{
		"web":          {"", airlock.ClipboardBoth},
		"chromium":     {"chromium", airlock.ClipboardToContainer},
		"c-off":        {"", airlock.ClipboardOff},
		"c-off-quoted": {"", airlock.ClipboardOff},
		"c-from":       {"", airlock.ClipboardFromContainer},
		"c-both":       {"", airlock.ClipboardBoth},
		"c-default":    {"", airlock.ClipboardBoth},
	} {
		ws, err := st.WorkspaceByName(ctx, name)
		if err != nil || ws.Seccomp != want.seccomp || ws.Clipboard != want.clipboard {
			t.Errorf("%s: %+v %v, want seccomp %q clipboard %q", name, ws, err, want.seccomp, want.clipboard)
		}
	}
}

const seedCatalog = `workspaces:
  - name: minimal
    image: airlock/minimal:latest
  - name: chromium
    image: airlock/chromium:latest
    seccomp: chromium
    clipboard: both
`

func TestSeedWorkspaces(t *testing.T) {
	ctx := context.Background()
	names := func(t *testing.T, st *store.DB) []string {
		t.Helper()
		list, err := st.ListWorkspaces(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, w := range list {
			out = append(out, w.Name)
		}
		return out
	}
	addWorkspace := func(t *testing.T, st *store.DB, name, image string) {
		t.Helper()
		now := airlock.Now()
		if err := st.CreateWorkspace(ctx, &airlock.Workspace{ID: name + "-id", Name: name, Image: image,
			Isolation: airlock.IsolationStandard, Clipboard: airlock.ClipboardOff, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		// setup runs on a fresh store before the first seeding.
		setup func(t *testing.T, st *store.DB)
		// between runs after the first seeding, before the second.
		between func(t *testing.T, st *store.DB)
		want    []string
	}{
		{name: "ok/new-deployment", want: []string{"chromium", "minimal"}},
		{name: "ok/upgrade-adds-chromium", setup: func(t *testing.T, st *store.DB) { addWorkspace(t, st, "minimal", "airlock/minimal:latest") },
			want: []string{"chromium", "minimal"}},
		{name: "ok/upgrade-keeps-minimal-deleted", setup: func(t *testing.T, st *store.DB) { addWorkspace(t, st, "mine", "x") },
			want: []string{"chromium", "mine"}},
		{name: "ok/deleted-default-stays-deleted", between: func(t *testing.T, st *store.DB) {
			ws, err := st.WorkspaceByName(ctx, "chromium")
			if err != nil {
				t.Fatal(err)
			}
			if err := st.DeleteWorkspace(ctx, ws.ID); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"minimal"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			if tc.setup != nil {
				tc.setup(t, st)
			}
			if err := SeedWorkspaces(ctx, st, "defaults", []byte(seedCatalog), testProfiles); err != nil {
				t.Fatal(err)
			}
			if tc.between != nil {
				tc.between(t, st)
			}
			if err := SeedWorkspaces(ctx, st, "defaults", []byte(seedCatalog), testProfiles); err != nil {
				t.Fatal(err)
			}
			if got := names(t, st); !slices.Equal(got, tc.want) {
				t.Fatalf("workspaces %v, want %v", got, tc.want)
			}
			raw, err := st.Setting(ctx, offeredSetting)
			if err != nil {
				t.Fatal(err)
			}
			var offered []string
			if err := json.Unmarshal(raw, &offered); err != nil || !slices.Contains(offered, "chromium") || !slices.Contains(offered, "minimal") {
				t.Fatalf("offered %s (%v), want minimal and chromium", raw, err)
			}
		})
	}

	t.Run("ok/same-name-left-alone", func(t *testing.T) {
		st := openStore(t)
		addWorkspace(t, st, "chromium", "registry.example/chromium:9")
		if err := SeedWorkspaces(ctx, st, "defaults", []byte(seedCatalog), testProfiles); err != nil {
			t.Fatal(err)
		}
		ws, err := st.WorkspaceByName(ctx, "chromium")
		if err != nil || ws.Image != "registry.example/chromium:9" || ws.Seccomp != "" || ws.Clipboard != airlock.ClipboardOff {
			t.Fatalf("the administrator's chromium changed: %+v %v", ws, err)
		}
	})
	t.Run("ok/seeded-fields", func(t *testing.T) {
		st := openStore(t)
		if err := SeedWorkspaces(ctx, st, "defaults", []byte(seedCatalog), testProfiles); err != nil {
			t.Fatal(err)
		}
		ws, err := st.WorkspaceByName(ctx, "chromium")
		if err != nil || ws.Seccomp != "chromium" || ws.Clipboard != airlock.ClipboardBoth || ws.ID == "" {
			t.Fatalf("chromium: %+v %v", ws, err)
		}
	})
	t.Run("fail/unknown-profile-writes-nothing", func(t *testing.T) {
		st := openStore(t)
		err := SeedWorkspaces(ctx, st, "defaults", []byte(seedCatalog), nil)
		if err == nil || !strings.Contains(err.Error(), `workspaces file defaults: workspace 2 (chromium)`) ||
			!strings.Contains(err.Error(), `seccomp profile "chromium" is not known`) {
			t.Fatalf("got %v", err)
		}
		if got := names(t, st); len(got) != 0 {
			t.Fatalf("workspaces %v written from a catalog with an error", got)
		}
	})
}

func TestSeccompProfiles(t *testing.T) {
	profiles, err := SeccompProfiles()
	if err != nil {
		t.Fatal(err)
	}
	if got := profileNames(profiles); !slices.Equal(got, []string{"chromium"}) {
		t.Fatalf("profiles %v, want chromium", got)
	}
	var p struct {
		DefaultAction string `json:"defaultAction"`
	}
	if err := json.Unmarshal(profiles["chromium"], &p); err != nil || p.DefaultAction == "" {
		t.Fatalf("chromium profile is not a seccomp profile: %v", err)
	}
}

// TestLoadWorkspacesEgress: a catalog file gives a hardened workspace its
// egress policy, in the API's form, refused rule by rule, and a change of
// the file replaces the stored policy.
func TestLoadWorkspacesEgress(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	const head = "workspaces:\n  - name: hw\n    image: x\n    isolation: hardened\n"
	for _, tc := range []struct {
		name, body, wantErr string
		want                []airlock.EgressRule
	}{
		{name: "ok/rules", body: head + "    egress:\n      rules:\n        - action: allow\n          domain: \"*.example.com\"\n          ports: [443, 8443]\n" +
			"        - {action: deny, cidr: 10.0.0.0/8}\n",
			want: []airlock.EgressRule{{Action: "allow", Domain: "*.example.com", Ports: []uint16{443, 8443}}, {Action: "deny", CIDR: "10.0.0.0/8"}}},
		{name: "ok/replaced", body: head + "    egress:\n      rules: [{action: deny, domain: \"*\"}]\n", want: []airlock.EgressRule{{Action: "deny", Domain: "*"}}},
		{name: "ok/removed", body: head, want: nil},
		{name: "fail/standard", body: "workspaces:\n  - name: sw\n    image: x\n    egress:\n      rules: [{action: deny, domain: \"*\"}]\n",
			wantErr: "workspace 1 (sw): invalid: workspace \"sw\" has 1 egress rules but isolation standard"},
		{name: "fail/bad-rule", body: head + "    egress:\n      rules:\n        - {action: allow, domain: a.example}\n        - {action: allow, cidr: 10.1.2.3/16}\n",
			wantErr: "workspace 1 (hw): invalid: egress policy rules[1]: cidr \"10.1.2.3/16\" has bits set past the prefix length"},
		{name: "fail/unknown-field", body: head + "    egress:\n      rules: [{action: allow, domain: a.example, port: 443}]\n", wantErr: "field port not found"},
		{name: "fail/port-range", body: head + "    egress:\n      rules: [{action: allow, domain: a.example, ports: [70000]}]\n", wantErr: "line 6"},
		{name: "fail/unquoted-star", body: head + "    egress:\n      rules:\n        - action: deny\n          domain: *\n", wantErr: `quote egress domains like "*.example.com"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := LoadWorkspaces(ctx, st, writeCatalog(t, tc.body), testProfiles)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ws, err := st.WorkspaceByName(ctx, "hw")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(ws.Egress.Rules, tc.want, func(a, b airlock.EgressRule) bool {
				return a.Action == b.Action && a.Domain == b.Domain && a.CIDR == b.CIDR && slices.Equal(a.Ports, b.Ports)
			}) {
				t.Fatalf("stored rules %+v, want %+v", ws.Egress.Rules, tc.want)
			}
		})
	}
	if _, err := st.WorkspaceByName(ctx, "sw"); err == nil {
		t.Fatal("a standard workspace with egress rules was stored")
	}
}

// writeCatalog writes a workspace catalog file and returns its path.
func writeCatalog(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ws.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadWorkspacesBrowser: a catalog's browser options are stored, YAML
// values normalized as JSON ones, and bad ones refused with the
// workspace named.
func TestLoadWorkspacesBrowser(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	const head = "workspaces:\n  - name: b\n    image: x\n"
	for _, tc := range []struct {
		name, body, wantErr string
		want                *airlock.Workspace
	}{
		{name: "ok/full", body: head + "    mode: kiosk\n    audio: off\n    locale: ja-JP\n    timezone: Asia/Tokyo\n    max_scale: 1.5\n" +
			"    browser:\n      url_blocklist: [\"*\"]\n      url_allowlist: [intranet.example]\n      downloads: {allowed: true, max_bytes: 1000}\n" +
			"      uploads: {allowed: true}\n      printing: true\n      policies:\n        BookmarkBarEnabled: true\n        IncognitoModeAvailability: 1\n" +
			"        ManagedBookmarks: [{name: wiki, url: \"https://wiki.example/\"}]\n",
			want: &airlock.Workspace{Mode: airlock.ModeKiosk, Audio: airlock.AudioOff, Locale: "ja-JP", TimeZone: "Asia/Tokyo", MaxScale: 1.5,
				Browser: airlock.BrowserPolicy{URLBlocklist: []string{"*"}, URLAllowlist: []string{"intranet.example"},
					Downloads: airlock.Transfer{Allowed: true, MaxBytes: 1000}, Uploads: airlock.Transfer{Allowed: true, MaxBytes: airlock.DefaultTransferMax},
					Printing: true, Policies: map[string]any{"BookmarkBarEnabled": true, "IncognitoModeAvailability": float64(1),
						"ManagedBookmarks": []any{map[string]any{"name": "wiki", "url": "https://wiki.example/"}}}}}},
		{name: "ok/defaults", body: head,
			want: &airlock.Workspace{Mode: airlock.ModeBrowser, Audio: airlock.AudioOn, MaxScale: 2}},
		{name: "fail/mode", body: head + "    mode: tabs\n", wantErr: `workspace 1 (b): invalid: mode "tabs" is not one of browser, kiosk`},
		{name: "ok/audio-off-unquoted", body: head + "    audio: off\n",
			want: &airlock.Workspace{Mode: airlock.ModeBrowser, Audio: airlock.AudioOff, MaxScale: 2}},
		{name: "fail/audio", body: head + "    audio: loud\n", wantErr: `audio "loud" is not on or off`},
		{name: "fail/unknown-field", body: head + "    browser:\n      dev_tools: true\n", wantErr: "field dev_tools not found"},
		{name: "fail/owned-policy", body: head + "    browser:\n      policies: {BrowserSignin: 1}\n", wantErr: "BrowserSignin is Airlock's to set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := LoadWorkspaces(ctx, st, writeCatalog(t, tc.body), testProfiles)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ws, err := st.WorkspaceByName(ctx, "b")
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			if ws.Mode != w.Mode || ws.Audio != w.Audio || ws.Locale != w.Locale || ws.TimeZone != w.TimeZone || ws.MaxScale != w.MaxScale ||
				!reflect.DeepEqual(ws.Browser, w.Browser) {
				t.Fatalf("stored mode %q audio %q locale %q timezone %q max_scale %v browser %+v;\nwant %q %q %q %q %v %+v",
					ws.Mode, ws.Audio, ws.Locale, ws.TimeZone, ws.MaxScale, ws.Browser, w.Mode, w.Audio, w.Locale, w.TimeZone, w.MaxScale, w.Browser)
			}
		})
	}
}
