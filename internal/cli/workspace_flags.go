package cli

import (
	"flag"
	"fmt"
	"strings"

	"github.com/docker/go-units"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/apiclient"
)

// wsFlags are the settings of `workspace add` and `workspace update`.
type wsFlags struct {
	image, iso, mem, shm, startURL, desc, seccomp, clipboard *string
	cpus                                                     *float64
	pids                                                     *int64
	env                                                      multi
	nodeLabels                                               multi
	clearNodeLabels                                          *bool
	egressFile                                               *string
	clearEgress                                              *bool
	rules                                                    egressRules
	browser                                                  *wsBrowserFlags
	limits                                                   [5]*string
	onExpiry                                                 *string
}

// limitFlags are the session limit flags and the API fields they set.
var limitFlags = [5][2]string{
	{"idle-timeout", "idle_timeout"}, {"viewer-idle-timeout", "viewer_idle_timeout"}, {"lifetime", "lifetime"}, {"max-lifetime", "max_lifetime"},
	{"resume-grace", "resume_grace"},
}

// workspaceFlags registers the settings on fs; add: with the defaults of
// a new workspace, and without the flags that only clear a setting.
func workspaceFlags(fs *flag.FlagSet, add bool) *wsFlags {
	f := &wsFlags{}
	f.image = fs.String("image", "", "image reference (on the nodes' allow-lists)")
	isoDefault := ""
	if add {
		isoDefault = "standard"
	}
	f.iso = fs.String("isolation", isoDefault, "standard, hardened or sandboxed")
	f.mem = fs.String("memory", "", "memory limit, e.g. 512m (default: the node's)")
	f.cpus = fs.Float64("cpus", 0, "CPU limit, e.g. 1.5 (default: none)")
	f.pids = fs.Int64("pids", 0, "process limit (default: the node's)")
	f.shm = fs.String("shm", "", "size of /dev/shm, e.g. 256m")
	f.startURL = fs.String("start-url", "", "first page of a browser workspace")
	f.desc = fs.String("description", "", "one line for the catalog")
	f.seccomp = fs.String("seccomp", "", "seccomp profile the server knows, e.g. chromium (default: Docker's)")
	f.clipboard = fs.String("clipboard", "", "clipboard policy: off, to-container, from-container or both (default both)")
	fs.Var(&f.env, "env", "KEY=VALUE for the container (repeatable; on update, replaces every variable)")
	fs.Var(&f.nodeLabels, "node-label", "KEY=VALUE a node must carry to run the sessions, e.g. zone=eu (repeatable; on update, replaces every label)")
	if !add {
		f.clearNodeLabels = fs.Bool("clear-node-labels", false, "let the sessions run on any node again")
	}
	f.egressFile = fs.String("egress-file", "", "egress policy of a hardened or sandboxed workspace, as YAML or JSON ({\"rules\":[...]}); on update, replaces the policy")
	fs.Var(egressFlag{&f.rules, airlock.EgressAllow}, "allow", "egress rule allowing DOMAIN[:PORTS] or CIDR[:PORTS], e.g. '*.example.com:443' or 10.1.0.0/16:22 (repeatable, in order: the first rule that matches decides; on update, the rules given replace the policy)")
	fs.Var(egressFlag{&f.rules, airlock.EgressDeny}, "deny", "egress rule denying DOMAIN[:PORTS] or CIDR[:PORTS], e.g. '*' or 10.0.0.0/8 (repeatable, in order with --allow)")
	if !add {
		f.clearEgress = fs.Bool("clear-egress", false, "empty the egress policy (back to the defaults: the public internet, nothing private)")
	}
	f.browser = workspaceBrowserFlags(fs, add)
	for i, help := range []string{
		"end a session after this long with no viewer and no input, e.g. 30m (default: the server's)",
		"end a session after this long without input while a viewer is connected, e.g. 4h (default: the server's)",
		"end a session this long after its launch, however busy, e.g. 12h (default: the server's)",
		"how far after its launch a user may extend a session's end; equal to --lifetime: no extension (default: the server's)",
		"how long a suspended session (--on-expiry suspend) may be resumed before it is removed, e.g. 24h (default: the server's)",
	} {
		f.limits[i] = fs.String(limitFlags[i][0], "", help)
	}
	f.onExpiry = fs.String("on-expiry", "", "what an idle or lifetime end does: remove, or suspend (stop the container and keep it for --resume-grace; the user may resume it) (default: the server's)")
	return f
}

// settings are the ones the flags give: every setting for add, only
// those given for update.
func (f *wsFlags) settings(fs *flag.FlagSet, add bool) (apiclient.WorkspaceSettings, error) {
	body := apiclient.WorkspaceSettings{}
	set := func(name string) bool { return add || flagSet(fs, name) }
	for _, s := range []struct {
		flag, key string
		val       any
	}{
		{"image", "image", *f.image}, {"isolation", "isolation", *f.iso}, {"cpus", "nano_cpus", int64(*f.cpus * 1e9)},
		{"pids", "pids_limit", *f.pids}, {"start-url", "start_url", *f.startURL}, {"description", "description", *f.desc},
		{"seccomp", "seccomp", *f.seccomp}, {"clipboard", "clipboard", *f.clipboard},
	} {
		if set(s.flag) {
			body[s.key] = s.val
		}
	}
	for _, kv := range []struct {
		flag, key, val string
	}{{"memory", "memory", *f.mem}, {"shm", "shm_size", *f.shm}} {
		if kv.val != "" {
			n, err := parseSize(kv.val)
			if err != nil {
				return nil, fmt.Errorf("--%s: %w", kv.flag, err)
			}
			body[kv.key] = n
		} else if !add && flagSet(fs, kv.flag) {
			body[kv.key] = 0 // --memory '' on update: back to the node's default
		}
	}
	if len(f.env) > 0 {
		m := map[string]string{}
		for _, e := range f.env {
			k, v, ok := strings.Cut(e, "=")
			if !ok {
				return nil, fmt.Errorf("--env %q is not KEY=VALUE", e)
			}
			m[k] = v
		}
		body["env"] = m
	}
	labels, err := f.labels()
	if err != nil {
		return nil, err
	}
	if labels != nil {
		body["node_labels"] = labels
	}
	egress, err := f.egress(fs)
	if err != nil {
		return nil, err
	}
	if egress != nil {
		body["egress"] = egress
	}
	if err := f.browser.set(fs, add, body); err != nil {
		return nil, err
	}
	// Durations as the server reads them ("30m"); "" or "0" on update
	// goes back to the server's default.
	for i, l := range limitFlags {
		if v := *f.limits[i]; v != "" || (!add && flagSet(fs, l[0])) {
			if v == "" {
				v = "0"
			}
			body[l[1]] = v
		}
	}
	if v := *f.onExpiry; v != "" || (!add && flagSet(fs, "on-expiry")) {
		body["on_expiry"] = v
	}
	return body, nil
}

// labels are the node labels the flags give, or nil when none is given
// (an empty map for --clear-node-labels).
func (f *wsFlags) labels() (map[string]string, error) {
	wipe := f.clearNodeLabels != nil && *f.clearNodeLabels
	if wipe && len(f.nodeLabels) > 0 {
		return nil, fmt.Errorf("give --node-label or --clear-node-labels, not both")
	}
	if wipe {
		return map[string]string{}, nil
	}
	return ParseLabels("node-label", f.nodeLabels)
}

// ParseLabels reads the KEY=VALUE values of a repeatable flag; nil for
// none. The server checks the keys and values themselves.
func ParseLabels(flag string, values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(values))
	for _, l := range values {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q is not KEY=VALUE", flag, l)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("--%s %s is given twice", flag, k)
		}
		m[k] = v
	}
	return m, nil
}

// egress is the policy the egress flags give, or nil when none is given.
func (f *wsFlags) egress(fs *flag.FlagSet) (map[string]any, error) {
	file := flagSet(fs, "egress-file")
	wipe := f.clearEgress != nil && *f.clearEgress
	n := 0
	for _, given := range []bool{file, len(f.rules.rules) > 0, wipe} {
		if given {
			n++
		}
	}
	if n > 1 {
		return nil, fmt.Errorf("--egress-file, --allow/--deny and --clear-egress each set the whole egress policy: give one of them (put every rule in the file, or give every rule as a flag)")
	}
	switch {
	case file:
		p, err := ReadEgressFile(*f.egressFile)
		if err != nil {
			return nil, err
		}
		return map[string]any{"rules": nonNilRules(p.Rules)}, nil
	case len(f.rules.rules) > 0:
		return map[string]any{"rules": f.rules.rules}, nil
	case wipe:
		return map[string]any{"rules": []airlock.EgressRule{}}, nil
	}
	return nil, nil
}

func nonNilRules(r []airlock.EgressRule) []airlock.EgressRule {
	if r == nil {
		return []airlock.EgressRule{}
	}
	return r
}

// egressRules collects --allow and --deny in command-line order, which
// is the policy's order.
type egressRules struct{ rules []airlock.EgressRule }

// egressFlag is --allow or --deny: each value is parsed when given, so a
// malformed rule is refused naming its flag.
type egressFlag struct {
	into   *egressRules
	action string
}

func (f egressFlag) String() string { return "" }

func (f egressFlag) Set(v string) error {
	r, err := ParseEgressRule(f.action, v)
	if err != nil {
		return err
	}
	f.into.rules = append(f.into.rules, r)
	return nil
}

// wsBrowserFlags are the browser options of `workspace add` and
// `workspace update`.
type wsBrowserFlags struct {
	mode, audio, locale, timeZone        *string
	maxScale                             *float64
	file                                 *string
	downloads, uploads, devtools, prints *string
	block, allow                         multi
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
func (f *wsBrowserFlags) set(fs *flag.FlagSet, add bool, body apiclient.WorkspaceSettings) error {
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
		tr, err := ParseTransfer(t.val)
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
		on, err := ParseSwitch(s.val)
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
		p, err := ReadBrowserFile(*f.file)
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

// parseSize parses a size flag such as 512m.
func parseSize(s string) (int64, error) {
	n, err := units.RAMInBytes(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size such as 512m", s)
	}
	return n, nil
}
