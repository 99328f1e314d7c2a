package agent

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

func TestChromiumPolicyEnv(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]any
		err      string
	}{
		{name: "ok/unset-is-default", in: "", want: airlock.DefaultChromiumPolicy()},
		{name: "ok/object", in: `{"PrintingEnabled": true, "URLBlocklist": ["file://*", "*"]}`,
			want: map[string]any{"PrintingEnabled": true, "URLBlocklist": []any{"file://*", "*"}}},
		{name: "fail/array", in: `["PrintingEnabled"]`, err: "AIRLOCK_CHROMIUM_POLICY: chromium policy is not a JSON object"},
		{name: "fail/garbage", in: `PrintingEnabled=true`, err: "not a JSON object"},
		{name: "fail/name", in: `{"a/b": 1}`, err: `"a/b" is not a policy name`},
		{name: "fail/large", in: `{"Aa": "` + strings.Repeat("x", airlock.MaxChromiumPolicySize) + `"}`, err: "at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ChromiumPolicy(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLocaleTimeZoneEnv(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"", DefaultLocale, ""}, {"ja-JP", "ja-JP", ""}, {"zh-hant-tw", "zh-Hant-TW", ""},
		{"ja_JP.UTF-8", "", "AIRLOCK_LOCALE"}, {"--lang=x", "", "AIRLOCK_LOCALE"},
	} {
		got, err := Locale(tc.in)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Locale(%q) = %q, %v; want %q, error %q", tc.in, got, err, tc.want, tc.err)
		}
	}
	for _, tc := range []struct{ in, want, err string }{
		{"", DefaultTimeZone, ""}, {"Asia/Tokyo", "Asia/Tokyo", ""},
		{"Mars/Olympus", "", "AIRLOCK_TIMEZONE"}, {"/etc/localtime", "", "AIRLOCK_TIMEZONE"}, {":Asia/Tokyo", "", "AIRLOCK_TIMEZONE"},
	} {
		got, err := TimeZone(tc.in)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("TimeZone(%q) = %q, %v; want %q, error %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestWritePolicy: the file Chromium reads is the server's policy with
// the session's languages, replaced whole on every start.
func TestWritePolicy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "airlock")
	read := func() map[string]any {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "policy.json"))
		if err != nil {
			t.Fatal(err)
		}
		var p map[string]any
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("policy.json %s: %v", b, err)
		}
		return p
	}
	server := map[string]any{"PrintingEnabled": true, "URLBlocklist": []any{"file://*", "*"}}
	if err := writePolicy(dir, DesktopConfig{Policy: server, Locale: "de-CH-u-co-phonebk"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"PrintingEnabled": true, "URLBlocklist": []any{"file://*", "*"}, "ForcedLanguages": []any{"de-CH", "de"}}
	if got := read(); !reflect.DeepEqual(got, want) {
		t.Errorf("policy.json = %v, want %v", got, want)
	}
	if _, ok := server["ForcedLanguages"]; ok {
		t.Error("writePolicy changed the configuration's policy")
	}
	fi, err := os.Stat(filepath.Join(dir, "policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("policy.json mode %v, want 0644: Chromium must read it", fi.Mode().Perm())
	}
	// No policy from the server: Airlock's defaults, file:// blocked.
	if err := writePolicy(dir, DesktopConfig{}); err != nil {
		t.Fatal(err)
	}
	got := read()
	if got["DownloadRestrictions"] != 3.0 || got["PasswordManagerEnabled"] != false || !slices.Contains(got["URLBlocklist"].([]any), any("file://*")) {
		t.Errorf("default policy.json = %v", got)
	}
	if _, ok := got["ForcedLanguages"]; ok {
		t.Errorf("no locale, yet ForcedLanguages: %v", got)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("%d files in the policy directory, want policy.json alone", len(entries))
	}
	// A directory that cannot be made is an error, not a Chromium without policy.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writePolicy(filepath.Join(blocker, "airlock"), DesktopConfig{}); err == nil {
		t.Error("writePolicy under a file: no error")
	}
}

// TestAppCommandLocale: the session's language and time zone reach
// Chromium's flags and environment, and the policy is written first.
func TestAppCommandLocale(t *testing.T) {
	dir := t.TempDir()
	cmd, err := appCommand(context.Background(), ":0", DesktopConfig{App: "chromium", StartURL: "about:blank", Width: 800, Height: 600,
		Locale: "ja-JP", TimeZone: "Asia/Tokyo", PolicyDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	flags := chromiumArgv(t, cmd)[1:]
	flags = flags[:slices.Index(flags, "--")]
	if !slices.Contains(flags, "--lang=ja-JP") {
		t.Errorf("no --lang=ja-JP among the flags %q", flags)
	}
	for _, kv := range []string{"LANGUAGE=ja_JP:ja", "TZ=Asia/Tokyo", "LANG=C.UTF-8"} {
		if !slices.Contains(cmd.Env, kv) {
			t.Errorf("no %s in the environment %q", kv, cmd.Env)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "policy.json")); err != nil {
		t.Errorf("policy not written: %v", err)
	}
}

func TestGettextLanguages(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ja-JP", "ja_JP:ja"}, {"ja", "ja"}, {"pt-BR", "pt_BR:pt"}, {"es-419", "es_419:es"},
		{"zh-Hant", "zh_TW:zh"}, {"zh-Hans-CN", "zh_CN:zh"}, {"zh-Hant-HK", "zh_HK:zh"}, {"sr-Latn", "sr"},
		{"de-DE-u-co-phonebk", "de_DE:de"}, {"en-x-test", "en"},
	} {
		if got := gettextLanguages(tc.in); got != tc.want {
			t.Errorf("gettextLanguages(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
