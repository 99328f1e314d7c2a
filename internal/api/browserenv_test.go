package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// TestWorkspaceBrowserOptions creates workspaces with browser options
// through the API: what is stored and shown, and what is refused.
func TestWorkspaceBrowserOptions(t *testing.T) {
	e := newEnv(t)
	full := map[string]any{"name": "kiosk", "image": "airlock/chromium:1", "mode": "kiosk", "audio": "off",
		"locale": "JA-jp", "timezone": "Asia/Tokyo", "max_scale": 3,
		"browser": map[string]any{
			"url_blocklist": []string{"*"}, "url_allowlist": []string{"example.com"},
			"downloads": map[string]any{"allowed": true}, "uploads": map[string]any{"allowed": true, "max_bytes": 1 << 20},
			"devtools": true, "printing": true,
			"policies": map[string]any{"BookmarkBarEnabled": true, "HomepageLocation": "https://example.com/"},
		}}
	t.Run("ok/full", func(t *testing.T) {
		got := e.addWorkspace(full)
		want := airlock.BrowserPolicy{URLBlocklist: []string{"*"}, URLAllowlist: []string{"example.com"},
			Downloads: airlock.Transfer{Allowed: true, MaxBytes: airlock.DefaultTransferMax},
			Uploads:   airlock.Transfer{Allowed: true, MaxBytes: 1 << 20}, DevTools: true, Printing: true,
			Policies: map[string]any{"BookmarkBarEnabled": true, "HomepageLocation": "https://example.com/"}}
		if got.Browser == nil || !reflect.DeepEqual(*got.Browser, want) {
			t.Errorf("browser %+v, want %+v", got.Browser, want)
		}
		if got.Mode != "kiosk" || got.Audio != "off" || got.Locale != "ja-JP" || got.TimeZone != "Asia/Tokyo" || got.MaxScale != 3 {
			t.Errorf("mode %q audio %q locale %q timezone %q max_scale %v", got.Mode, got.Audio, got.Locale, got.TimeZone, got.MaxScale)
		}
	})
	t.Run("ok/defaults", func(t *testing.T) {
		got := e.addWorkspace(map[string]any{"name": "plain", "image": "airlock/chromium:1"})
		if got.Mode != "browser" || got.Audio != "on" || got.Locale != "" || got.TimeZone != "" || got.MaxScale != 2 {
			t.Errorf("mode %q audio %q locale %q timezone %q max_scale %v", got.Mode, got.Audio, got.Locale, got.TimeZone, got.MaxScale)
		}
		if got.Browser == nil || !reflect.DeepEqual(*got.Browser, airlock.BrowserPolicy{}) {
			t.Errorf("browser %+v, want the zero policy", got.Browser)
		}
	})
	t.Run("ok/user-sees-no-raw-policies", func(t *testing.T) {
		rec := e.do(req{Method: "GET", Path: "/api/v1/workspaces/kiosk", Bearer: e.userTok})
		wantStatus(t, rec, http.StatusOK)
		var got workspaceSpec
		mustJSON(t, rec, &got)
		if got.Browser == nil || got.Browser.Policies != nil || !got.Browser.Printing || len(got.Browser.URLBlocklist) != 1 {
			t.Errorf("a user sees browser %+v; want the policy without its raw policies", got.Browser)
		}
	})
	for _, tc := range []struct {
		name string
		set  map[string]any
		msg  []string
	}{
		{"fail/mode", map[string]any{"mode": "fullscreen"}, []string{`mode "fullscreen"`, "browser, kiosk"}},
		{"fail/audio", map[string]any{"audio": "loud"}, []string{`audio "loud"`, "on or off"}},
		{"fail/audio-bool", map[string]any{"audio": true}, []string{"audio", "string"}},
		{"fail/max-scale-low", map[string]any{"max_scale": 0.5}, []string{"max_scale 0.5", "1 to 4"}},
		{"fail/max-scale-high", map[string]any{"max_scale": 5}, []string{"max_scale 5", "1 to 4"}},
		{"fail/locale", map[string]any{"locale": "en_US"}, []string{`locale "en_US"`, "BCP 47"}},
		{"fail/timezone-unknown", map[string]any{"timezone": "Mars/Olympus"}, []string{`"Mars/Olympus"`, "not in the IANA"}},
		{"fail/timezone-path", map[string]any{"timezone": "../etc/passwd"}, []string{"not an IANA time zone name"}},
		{"fail/timezone-local", map[string]any{"timezone": "Local"}, []string{`"Local"`}},
		{"fail/unknown-browser-field", map[string]any{"browser": map[string]any{"download": true}}, []string{"download"}},
		{"fail/allow-file", map[string]any{"browser": map[string]any{"url_allowlist": []string{"FILE:///etc"}}}, []string{"url_allowlist[0]", "file://"}},
		{"fail/empty-pattern", map[string]any{"browser": map[string]any{"url_blocklist": []string{"a.example", ""}}}, []string{"url_blocklist[1] is empty"}},
		{"fail/pattern-space", map[string]any{"browser": map[string]any{"url_blocklist": []string{"a b"}}}, []string{"url_blocklist[0]", "spaces"}},
		{"fail/too-many-patterns", map[string]any{"browser": map[string]any{"url_blocklist": make([]string, 1001)}}, []string{"1001 patterns", "1000"}},
		{"fail/download-max", map[string]any{"browser": map[string]any{"downloads": map[string]any{"allowed": true, "max_bytes": -1}}}, []string{"downloads max_bytes -1"}},
		{"fail/upload-max", map[string]any{"browser": map[string]any{"uploads": map[string]any{"allowed": true, "max_bytes": int64(17 << 30)}}}, []string{"uploads max_bytes", "16 GiB"}},
		{"fail/policy-owned", map[string]any{"browser": map[string]any{"policies": map[string]any{"URLBlocklist": []string{"x"}}}}, []string{"URLBlocklist is Airlock's", "browser.url_blocklist"}},
		{"fail/policy-password", map[string]any{"browser": map[string]any{"policies": map[string]any{"PasswordManagerEnabled": true}}}, []string{"PasswordManagerEnabled", "always off"}},
		{"fail/policy-debugging", map[string]any{"browser": map[string]any{"policies": map[string]any{"RemoteDebuggingAllowed": false}}}, []string{"RemoteDebuggingAllowed"}},
		{"fail/policy-name", map[string]any{"browser": map[string]any{"policies": map[string]any{"bookmark bar": true}}}, []string{`"bookmark bar" is not a Chromium policy name`}},
		{"fail/policy-null", map[string]any{"browser": map[string]any{"policies": map[string]any{"HomepageLocation": nil}}}, []string{"HomepageLocation", "null"}},
		{"fail/policy-fraction", map[string]any{"browser": map[string]any{"policies": map[string]any{"IncognitoModeAvailability": 1.5}}}, []string{"IncognitoModeAvailability", "not an integer"}},
		{"fail/policy-nested-null", map[string]any{"browser": map[string]any{"policies": map[string]any{"ManagedBookmarks": []any{map[string]any{"url": nil}}}}}, []string{"ManagedBookmarks: [0]: url: null"}},
		{"fail/policies-too-large", map[string]any{"browser": map[string]any{"policies": map[string]any{"HomepageLocation": strings.Repeat("a", 33<<10)}}}, []string{"at most 32768"}},
		{"fail/policy-too-large", map[string]any{"browser": map[string]any{"url_blocklist": longPatterns(60, 2000)}}, []string{"bytes of Chromium policy JSON", "at most 102400"}},
		{"fail/env-airlock-mode", map[string]any{"env": map[string]string{"AIRLOCK_MODE": "kiosk"}}, []string{"AIRLOCK_MODE", "only AIRLOCK_CODEC"}},
		{"fail/env-airlock-policy", map[string]any{"env": map[string]string{"AIRLOCK_CHROMIUM_POLICY": "{}"}}, []string{"AIRLOCK_CHROMIUM_POLICY"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"name": "bad", "image": "x"}
			for k, v := range tc.set {
				body[k] = v
			}
			rec := e.do(req{Method: "POST", Path: "/api/v1/workspaces", Bearer: e.adminTok, Body: body})
			wantError(t, rec, airlock.EINVALID, tc.msg...)
		})
	}
}

func longPatterns(n, size int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strings.Repeat("a", size)
	}
	return out
}

// TestUpdateWorkspaceBrowser: an update changes the browser fields it
// names and keeps the others; policies given replace the old ones; null
// resets the policy.
func TestUpdateWorkspaceBrowser(t *testing.T) {
	e := newEnv(t)
	e.addWorkspace(map[string]any{"name": "w", "image": "x", "locale": "fr-FR", "browser": map[string]any{
		"url_blocklist": []string{"ads.example"}, "printing": true, "downloads": map[string]any{"allowed": true, "max_bytes": 1000},
		"policies": map[string]any{"BookmarkBarEnabled": true, "ShowHomeButton": true}}})
	patch := func(t *testing.T, body string) workspaceSpec {
		t.Helper()
		rec := e.do(req{Method: "PATCH", Path: "/api/v1/workspaces/w", Bearer: e.adminTok, Body: body})
		wantStatus(t, rec, http.StatusOK)
		var got workspaceSpec
		mustJSON(t, rec, &got)
		return got
	}
	got := patch(t, `{"browser": {"downloads": {"allowed": false}, "policies": {"ShowHomeButton": false}}, "max_scale": 1.5}`)
	want := airlock.BrowserPolicy{URLBlocklist: []string{"ads.example"}, Printing: true, Downloads: airlock.Transfer{},
		Policies: map[string]any{"ShowHomeButton": false}}
	if !reflect.DeepEqual(*got.Browser, want) || got.Locale != "fr-FR" || got.MaxScale != 1.5 {
		t.Errorf("after the merge: browser %+v locale %q max_scale %v; want browser %+v, locale fr-FR, max_scale 1.5", *got.Browser, got.Locale, got.MaxScale, want)
	}
	got = patch(t, `{"browser": null, "locale": ""}`)
	if !reflect.DeepEqual(*got.Browser, airlock.BrowserPolicy{}) || got.Locale != "" {
		t.Errorf("after browser null: %+v locale %q; want the zero policy and no locale", *got.Browser, got.Locale)
	}
	rec := e.do(req{Method: "PATCH", Path: "/api/v1/workspaces/w", Bearer: e.adminTok, Body: `{"browser": {"policies": {"SyncDisabled": false}}}`})
	wantError(t, rec, airlock.EINVALID, "SyncDisabled", "always off")
}

// TestSessionBrowserEnv launches sessions through the API and checks the
// agent's environment for the browser options, from the workspace and
// the viewer.
func TestSessionBrowserEnv(t *testing.T) {
	e := newEnv(t)
	e.addNode("n1", 100)
	_, tok := e.addUser("bob", 100)
	e.addWorkspace(map[string]any{"name": "plain", "image": "airlock/chromium:1"})
	e.addWorkspace(map[string]any{"name": "fixed", "image": "airlock/chromium:1", "mode": "kiosk", "audio": "off",
		"locale": "de-DE", "timezone": "Europe/Berlin", "max_scale": 1.5,
		"browser": map[string]any{"url_blocklist": []string{"*"}, "url_allowlist": []string{"intranet.example"},
			"downloads": map[string]any{"allowed": true, "max_bytes": 5 << 20}, "uploads": map[string]any{"allowed": true},
			"devtools": true, "printing": true, "policies": map[string]any{"BookmarkBarEnabled": true}}})
	strict := map[string]any{"DeveloperToolsAvailability": 1.0, "PasswordManagerEnabled": false, "BrowserSignin": 0.0,
		"SyncDisabled": true, "PrintingEnabled": false, "PromptForDownloadLocation": false, "URLBlocklist": []any{"file://*", "devtools://*"},
		"DownloadRestrictions": 3.0, "AllowFileSelectionDialogs": false}
	for _, tc := range []struct {
		name      string
		workspace string
		viewer    map[string]any
		env       map[string]string // "" : unset
		policy    map[string]any
	}{
		{name: "ok/defaults-no-viewer", workspace: "plain",
			env: map[string]string{"AIRLOCK_MODE": "browser", "AIRLOCK_LOCALE": "", "AIRLOCK_TIMEZONE": "", "AIRLOCK_SCALE": "1",
				"AIRLOCK_DOWNLOAD_MAX": "0", "AIRLOCK_UPLOAD_MAX": "0", "AIRLOCK_AUDIO": "on"},
			policy: strict},
		{name: "ok/viewer-settings", workspace: "plain", viewer: map[string]any{"locale": "zh-hant-tw", "timezone": "Asia/Taipei", "scale": 1.2500001},
			env:    map[string]string{"AIRLOCK_LOCALE": "zh-Hant-TW", "AIRLOCK_TIMEZONE": "Asia/Taipei", "AIRLOCK_SCALE": "1.25"},
			policy: strict},
		{name: "ok/scale-clamped-to-default-max", workspace: "plain", viewer: map[string]any{"scale": 3},
			env: map[string]string{"AIRLOCK_SCALE": "2"}},
		{name: "ok/workspace-wins", workspace: "fixed", viewer: map[string]any{"locale": "ja-JP", "timezone": "Asia/Tokyo", "scale": 2},
			env: map[string]string{"AIRLOCK_MODE": "kiosk", "AIRLOCK_LOCALE": "de-DE", "AIRLOCK_TIMEZONE": "Europe/Berlin", "AIRLOCK_SCALE": "1.5",
				"AIRLOCK_DOWNLOAD_MAX": "5242880", "AIRLOCK_UPLOAD_MAX": "268435456", "AIRLOCK_AUDIO": "off"},
			policy: map[string]any{"DeveloperToolsAvailability": 1.0, "PasswordManagerEnabled": false, "BrowserSignin": 0.0,
				"SyncDisabled": true, "PrintingEnabled": true, "PromptForDownloadLocation": false,
				"URLBlocklist": []any{"file://*", "*"}, "URLAllowlist": []any{"intranet.example"},
				"AudioOutputAllowed": false, "BookmarkBarEnabled": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"workspace": tc.workspace}
			for k, v := range tc.viewer {
				body[k] = v
			}
			rec := e.do(req{Method: "POST", Path: "/api/v1/sessions", Bearer: tok, Body: body})
			wantStatus(t, rec, http.StatusCreated)
			var s sessionView
			mustJSON(t, rec, &s)
			sp := e.launched(s.ID).Spec
			for k, want := range tc.env {
				got, ok := envValue(sp.Env, k)
				if want == "" && ok {
					t.Errorf("%s=%q, want it unset", k, got)
				} else if want != "" && got != want {
					t.Errorf("%s=%q (set %v), want %q", k, got, ok, want)
				}
			}
			raw, ok := envValue(sp.Env, "AIRLOCK_CHROMIUM_POLICY")
			if !ok {
				t.Fatal("AIRLOCK_CHROMIUM_POLICY unset")
			}
			if tc.policy == nil {
				return
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(raw), &got); err != nil {
				t.Fatalf("AIRLOCK_CHROMIUM_POLICY %q: %v", raw, err)
			}
			if !reflect.DeepEqual(got, tc.policy) {
				t.Errorf("AIRLOCK_CHROMIUM_POLICY\n got %v\nwant %v", got, tc.policy)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		viewer map[string]any
		msg    []string
	}{
		{"fail/locale", map[string]any{"locale": "english please"}, []string{"locale", "BCP 47"}},
		{"fail/locale-long", map[string]any{"locale": "en-" + strings.Repeat("abcdefgh-", 5) + "x"}, []string{"BCP 47"}},
		{"fail/timezone", map[string]any{"timezone": "Nowhere/Land"}, []string{`"Nowhere/Land"`, "IANA"}},
		{"fail/timezone-absolute", map[string]any{"timezone": "/usr/share/zoneinfo/UTC"}, []string{"IANA"}},
		{"fail/scale-low", map[string]any{"scale": 0.5}, []string{"scale 0.5", "1 to 4"}},
		{"fail/scale-high", map[string]any{"scale": 4.5}, []string{"scale 4.5", "1 to 4"}},
		{"fail/scale-string", map[string]any{"scale": "2"}, []string{"scale", "number"}},
		{"fail/unknown-field", map[string]any{"dpr": 2}, []string{"dpr"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"workspace": "plain"}
			for k, v := range tc.viewer {
				body[k] = v
			}
			before := len(e.drv.startCalls())
			rec := e.do(req{Method: "POST", Path: "/api/v1/sessions", Bearer: tok, Body: body})
			wantError(t, rec, airlock.EINVALID, tc.msg...)
			if n := len(e.drv.startCalls()); n != before {
				t.Errorf("a refused launch started %d containers", n-before)
			}
		})
	}
}
