package airlock

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestValidLocale(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"en-US", "en-US"}, {"ja", "ja"}, {"JA-jp", "ja-JP"}, {"zh-hant-tw", "zh-Hant-TW"}, {"es-419", "es-419"},
		{"sr-Latn", "sr-Latn"}, {"de-DE-u-co-PHONEBK", "de-DE-u-co-phonebk"}, {"en-x-AB", "en-x-ab"},
		{"in", "in"}, {"", ""}, {"e", ""}, {"en_US", ""}, {"en-", ""}, {"-en", ""}, {"en--US", ""}, {"en US", ""},
		{"en-US\n", ""}, {"123", ""}, {"en-abcdefghi", ""}, {"en-" + strings.Repeat("ab-", 11) + "ab", ""},
	} {
		got, err := ValidLocale(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("ValidLocale(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if err != nil && ErrorCode(err) != EINVALID {
			t.Errorf("ValidLocale(%q): code %s, want %s", tc.in, ErrorCode(err), EINVALID)
		}
	}
}

func TestValidTimeZone(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"UTC", true}, {"Asia/Tokyo", true}, {"America/Argentina/Buenos_Aires", true}, {"Etc/GMT+5", true}, {"Europe/Paris", true},
		{"", false}, {"Local", false}, {"Mars/Olympus", false}, {"../../etc/passwd", false}, {"/etc/localtime", false},
		{"Asia/Tokyo/", false}, {"asia tokyo", false}, {"Asia//Tokyo", false}, {strings.Repeat("A", 65), false},
	} {
		err := ValidTimeZone(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ValidTimeZone(%q) = %v; want ok %v", tc.in, err, tc.ok)
		}
	}
}

func TestSessionDisplay(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ws         Workspace
		v          Viewer
		locale, tz string
		scale      float64
	}{
		{name: "nothing", scale: 1},
		{name: "viewer", v: Viewer{Locale: "ja-JP", TimeZone: "Asia/Tokyo", Scale: 1.5}, locale: "ja-JP", tz: "Asia/Tokyo", scale: 1.5},
		{name: "workspace-wins", ws: Workspace{Locale: "de-DE", TimeZone: "Europe/Berlin"}, v: Viewer{Locale: "ja-JP", TimeZone: "Asia/Tokyo"},
			locale: "de-DE", tz: "Europe/Berlin", scale: 1},
		{name: "workspace-locale-only", ws: Workspace{Locale: "de-DE"}, v: Viewer{Locale: "ja-JP", TimeZone: "Asia/Tokyo"},
			locale: "de-DE", tz: "Asia/Tokyo", scale: 1},
		{name: "clamped-to-default-max", v: Viewer{Scale: 3}, scale: 2},
		{name: "clamped-to-max", ws: Workspace{MaxScale: 1.25}, v: Viewer{Scale: 3}, scale: 1.25},
		{name: "rounded", ws: Workspace{MaxScale: 4}, v: Viewer{Scale: 2.6666667}, scale: 2.67},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, tz, s := SessionDisplay(&tc.ws, tc.v)
			if l != tc.locale || tz != tc.tz || s != tc.scale {
				t.Errorf("SessionDisplay = %q %q %v; want %q %q %v", l, tz, s, tc.locale, tc.tz, tc.scale)
			}
		})
	}
}

func TestChromiumPolicy(t *testing.T) {
	strict := map[string]any{"DeveloperToolsAvailability": 1, "PasswordManagerEnabled": false, "BrowserSignin": 0,
		"SyncDisabled": true, "PrintingEnabled": false, "PromptForDownloadLocation": false, "URLBlocklist": []string{"file://*", "devtools://*"},
		"DownloadRestrictions": 3, "AllowFileSelectionDialogs": false}
	if got := DefaultChromiumPolicy(); !reflect.DeepEqual(got, strict) {
		t.Errorf("DefaultChromiumPolicy() =\n%v\nwant\n%v", got, strict)
	}
	open := BrowserPolicy{URLBlocklist: []string{"*"}, URLAllowlist: []string{"example.com"}, Downloads: Transfer{Allowed: true},
		Uploads: Transfer{Allowed: true}, DevTools: true, Printing: true, Policies: map[string]any{"ShowHomeButton": true}}
	want := map[string]any{"DeveloperToolsAvailability": 1, "PasswordManagerEnabled": false, "BrowserSignin": 0,
		"SyncDisabled": true, "PrintingEnabled": true, "PromptForDownloadLocation": false, "URLBlocklist": []string{"file://*", "*"},
		"URLAllowlist": []string{"example.com"}, "AudioOutputAllowed": false, "ShowHomeButton": true}
	if got := ChromiumPolicy(open, AudioOff); !reflect.DeepEqual(got, want) {
		t.Errorf("ChromiumPolicy(open, off) =\n%v\nwant\n%v", got, want)
	}
	// The workspace's list is not changed by the blocklist's prefix.
	if len(open.URLBlocklist) != 1 || open.URLBlocklist[0] != "*" {
		t.Errorf("ChromiumPolicy changed the workspace's blocklist: %v", open.URLBlocklist)
	}
	b, err := ChromiumPolicyJSON(BrowserPolicy{}, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseChromiumPolicy(b)
	if err != nil {
		t.Fatalf("ParseChromiumPolicy(%s): %v", b, err)
	}
	if p["DownloadRestrictions"] != 3.0 {
		t.Errorf("round trip: %v", p)
	}
}

func TestParseChromiumPolicy(t *testing.T) {
	for _, tc := range []struct{ name, in, err string }{
		{name: "ok/empty", in: `{}`},
		{name: "ok/values", in: `{"A1": true, "Bb": 2, "Cc": "x", "Dd": ["a"], "Ee": {"k": [1, {"z": false}]}}`},
		{name: "fail/array", in: `[]`, err: "not a JSON object"},
		{name: "fail/null", in: `null`, err: "null, not an object"},
		{name: "fail/trailing", in: `{} x`, err: "data after"},
		{name: "fail/name", in: `{"../x": 1}`, err: `"../x" is not a policy name`},
		{name: "fail/value-null", in: `{"Aa": null}`, err: "Aa: null"},
		{name: "fail/fraction", in: `{"Aa": 0.5}`, err: "not an integer"},
		{name: "fail/deep", in: `{"Aa": ` + strings.Repeat("[", 10) + strings.Repeat("]", 10) + `}`, err: "nested more than 8"},
		{name: "fail/large", in: `{"Aa": "` + strings.Repeat("x", MaxChromiumPolicySize) + `"}`, err: "at most 102400"},
		{name: "fail/not-json", in: `{`, err: "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseChromiumPolicy([]byte(tc.in))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v, want an error containing %q", err, tc.err)
			}
		})
	}
}

func TestBrowserPolicyValidateNormalizes(t *testing.T) {
	b := BrowserPolicy{Downloads: Transfer{MaxBytes: 99}, Uploads: Transfer{Allowed: true},
		Policies: map[string]any{"Aa": 3, "Bb": map[string]any{"c": int64(1)}}}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	want := BrowserPolicy{Uploads: Transfer{Allowed: true, MaxBytes: DefaultTransferMax},
		Policies: map[string]any{"Aa": 3.0, "Bb": map[string]any{"c": 1.0}}}
	if !reflect.DeepEqual(b, want) {
		t.Errorf("after Validate %+v, want %+v", b, want)
	}
	var empty BrowserPolicy
	empty.Policies = map[string]any{}
	if err := empty.Validate(); err != nil || empty.Policies != nil {
		t.Errorf("an empty policies map: %v, %v; want nil", err, empty.Policies)
	}
}

// FuzzViewer checks the launch request's viewer settings, which come from
// the network: Validate never panics, and what it accepts is what the
// agent may be given (a canonical locale stays valid, a scale in range).
func FuzzViewer(f *testing.F) {
	f.Add("ja-JP", "Asia/Tokyo", 2.0)
	f.Add("zh-hant-tw", "America/Argentina/Buenos_Aires", 1.25)
	f.Add("", "", 0.0)
	f.Add("en_US", "../etc", 9.0)
	f.Fuzz(func(t *testing.T, locale, tz string, scale float64) {
		v := Viewer{Locale: locale, TimeZone: tz, Scale: scale}
		if err := v.Validate(); err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("error %v is not %s", err, EINVALID)
			}
			return
		}
		if again, err := ValidLocale(v.Locale); v.Locale != "" && (err != nil || again != v.Locale) {
			t.Fatalf("canonical locale %q does not validate to itself: %q, %v", v.Locale, again, err)
		}
		if strings.ContainsAny(v.Locale+v.TimeZone, "=\x00\n ") {
			t.Fatalf("accepted %q %q, unfit for an environment variable", v.Locale, v.TimeZone)
		}
		_, _, s := SessionDisplay(&Workspace{}, v)
		if s < MinScale || s > DefaultMaxScale {
			t.Fatalf("scale %v out of range", s)
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzParseChromiumPolicy: the agent's check of the policy it is given
// never panics, and what it accepts marshals back to a JSON object it
// accepts again.
func FuzzParseChromiumPolicy(f *testing.F) {
	def, err := ChromiumPolicyJSON(BrowserPolicy{}, AudioOn)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(def)
	f.Add([]byte(`{"ManagedBookmarks": [{"name": "a", "url": "https://a.example/"}], "IncognitoModeAvailability": 1}`))
	f.Add([]byte(`{"Aa": 1e400}`))
	f.Add([]byte(`{"Aa": [[[[[[[[[[1]]]]]]]]]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseChromiumPolicy(data)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("error %v is not %s", err, EINVALID)
			}
			return
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal an accepted policy: %v", err)
		}
		if _, err := ParseChromiumPolicy(out); err != nil && len(out) <= MaxChromiumPolicySize {
			t.Fatalf("accepted %q, refused its own JSON %q: %v", data, out, err)
		}
	})
}
