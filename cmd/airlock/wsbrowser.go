package main

import (
	"flag"
	"fmt"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/cli"
)

// wsBrowserFlags are the browser options of `workspace add` and
// `workspace update`.
type wsBrowserFlags struct {
	mode, audio, locale, timeZone        *string
	maxScale                             *float64
	file                                 *string
	downloads, uploads, devtools, prints *string
	block, allow                         stringList
	clear                                *bool
}

func workspaceBrowserFlags(fs *flag.FlagSet, add bool) *wsBrowserFlags {
	f := &wsBrowserFlags{}
	f.mode = fs.String("mode", "", "browser (a normal window: tabs, address bar; the default) or kiosk (one page, no browser UI)")
	f.audio = fs.String("audio", "", "on (the default) or off: the session's sound in the viewer")
	f.locale = fs.String("locale", "", "fixed language of the sessions, a BCP 47 tag such as ja-JP (default: each viewer's)")
	f.timeZone = fs.String("timezone", "", "fixed time zone of the sessions, an IANA name such as Asia/Tokyo (default: each viewer's)")
	f.maxScale = fs.Float64("max-scale", 0, "largest device scale factor for HiDPI viewers, 1 to 4 (default 2)")
	f.file = fs.String("browser-file", "", "browser policy as YAML or JSON (url_blocklist, url_allowlist, downloads, uploads, devtools, printing, policies); replaces the whole policy")
	f.downloads = fs.String("downloads", "", "downloads to the viewer: off (the default), on, or on up to a size such as 100m")
	f.uploads = fs.String("uploads", "", "uploads from the viewer: off (the default), on, or on up to a size such as 100m")
	f.devtools = fs.String("devtools", "", "Chromium's developer tools: on or off (the default)")
	f.prints = fs.String("printing", "", "printing (to PDF): on or off (the default)")
	fs.Var(&f.block, "url-block", "URL pattern the browser refuses, e.g. '*' or ads.example.com (repeatable; on update, replaces the blocklist)")
	fs.Var(&f.allow, "url-allow", "URL pattern allowed despite --url-block, e.g. intranet.example.com (repeatable; on update, replaces the allowlist)")
	if !add {
		f.clear = fs.Bool("clear-browser", false, "reset the browser policy to Airlock's defaults (no downloads, uploads, devtools or printing)")
	}
	return f
}

// set adds the options given to body: every one for add, those named for
// update (a browser object names only the policy's fields given, which
// the server merges into the stored policy).
func (f *wsBrowserFlags) set(fs *flag.FlagSet, add bool, body map[string]any) error {
	for _, s := range []struct {
		flag, key string
		val       any
	}{{"mode", "mode", *f.mode}, {"audio", "audio", *f.audio}, {"locale", "locale", *f.locale},
		{"timezone", "timezone", *f.timeZone}, {"max-scale", "max_scale", *f.maxScale}} {
		if add || flagSet(fs, s.flag) {
			body[s.key] = s.val
		}
	}
	browser := map[string]any{}
	for _, t := range []struct{ flag, key, val string }{{"downloads", "downloads", *f.downloads}, {"uploads", "uploads", *f.uploads}} {
		if !flagSet(fs, t.flag) {
			continue
		}
		tr, err := cli.ParseTransfer(t.val)
		if err != nil {
			return fmt.Errorf("--%s: %w", t.flag, err)
		}
		if tr.Allowed && tr.MaxBytes == 0 {
			browser[t.key] = map[string]any{"allowed": true}
		} else {
			browser[t.key] = tr
		}
	}
	for _, s := range []struct{ flag, key, val string }{{"devtools", "devtools", *f.devtools}, {"printing", "printing", *f.prints}} {
		if !flagSet(fs, s.flag) {
			continue
		}
		on, err := cli.ParseSwitch(s.val)
		if err != nil {
			return fmt.Errorf("--%s: %w", s.flag, err)
		}
		browser[s.key] = on
	}
	if len(f.block) > 0 {
		browser["url_blocklist"] = []string(f.block)
	}
	if len(f.allow) > 0 {
		browser["url_allowlist"] = []string(f.allow)
	}
	file := flagSet(fs, "browser-file")
	wipe := f.clear != nil && *f.clear
	switch {
	case (file || wipe) && len(browser) > 0:
		return fmt.Errorf("--browser-file and --clear-browser set the whole browser policy: give them without --downloads, --uploads, --devtools, --printing, --url-block or --url-allow")
	case file && wipe:
		return fmt.Errorf("give --browser-file or --clear-browser, not both")
	case file:
		p, err := cli.ReadBrowserFile(*f.file)
		if err != nil {
			return err
		}
		body["browser"] = wholeBrowser(p)
	case wipe:
		body["browser"] = nil
	case len(browser) > 0:
		body["browser"] = browser
	}
	return nil
}

// wholeBrowser is p with every field present, so that an update replaces
// the stored policy rather than merging into it.
func wholeBrowser(p airlock.BrowserPolicy) map[string]any {
	nonNil := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	policies := p.Policies
	if policies == nil {
		policies = map[string]any{}
	}
	return map[string]any{"url_blocklist": nonNil(p.URLBlocklist), "url_allowlist": nonNil(p.URLAllowlist),
		"downloads": map[string]any{"allowed": p.Downloads.Allowed, "max_bytes": p.Downloads.MaxBytes},
		"uploads":   map[string]any{"allowed": p.Uploads.Allowed, "max_bytes": p.Uploads.MaxBytes}, "devtools": p.DevTools, "printing": p.Printing, "policies": policies}
}
