package cli

import (
	"reflect"
	"strings"
	"testing"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

func TestParseBrowserFile(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     airlock.BrowserPolicy
		err      string
	}{
		{name: "ok/yaml", in: "url_blocklist: [\"*\"]\nurl_allowlist: [intranet.example]\ndownloads: {allowed: true}\nprinting: true\npolicies: {BookmarkBarEnabled: true}\n",
			want: airlock.BrowserPolicy{URLBlocklist: []string{"*"}, URLAllowlist: []string{"intranet.example"},
				Downloads: airlock.Transfer{Allowed: true, MaxBytes: airlock.DefaultTransferMax}, Printing: true,
				Policies: map[string]any{"BookmarkBarEnabled": true}}},
		{name: "ok/json", in: `{"devtools": true, "uploads": {"allowed": true, "max_bytes": 10}}`,
			want: airlock.BrowserPolicy{DevTools: true, Uploads: airlock.Transfer{Allowed: true, MaxBytes: 10}}},
		{name: "ok/empty", in: "", want: airlock.BrowserPolicy{}},
		{name: "fail/yaml-unknown", in: "dev_tools: true\n", err: "field dev_tools not found"},
		{name: "fail/json-unknown", in: `{"print": true}`, err: `unknown field "print"`},
		{name: "fail/alias", in: "url_blocklist:\n  - *\n", err: "quote URL patterns"},
		{name: "fail/json-trailing", in: `{} {}`, err: "data after"},
		{name: "fail/invalid", in: "url_allowlist: [\"file:///\"]\n", err: "file:// URLs are always blocked"},
		{name: "fail/too-large", in: strings.Repeat(" ", maxBrowserFile+1), err: "at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseBrowserFile([]byte(tc.in))
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
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseTransfer(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want airlock.Transfer
		err  bool
	}{
		{in: "off"}, {in: "OFF"},
		{in: "on", want: airlock.Transfer{Allowed: true}},
		{in: "100m", want: airlock.Transfer{Allowed: true, MaxBytes: 100 << 20}},
		{in: "1g", want: airlock.Transfer{Allowed: true, MaxBytes: 1 << 30}},
		{in: "0", err: true}, {in: "yes", err: true}, {in: "-5m", err: true}, {in: "", err: true},
	} {
		got, err := ParseTransfer(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseTransfer(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
