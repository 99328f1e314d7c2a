package airlock

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	// The server checks time zone names without relying on the host's
	// zoneinfo, which a minimal server image lacks.
	_ "time/tzdata"
)

// Mode is how a browser workspace shows Chromium: a normal window with
// tabs and an address bar, or a kiosk (one page, no browser UI), for
// single-site workspaces. The agent reads it from AIRLOCK_MODE.
type Mode string

const (
	ModeBrowser Mode = "browser"
	ModeKiosk   Mode = "kiosk"
	// DefaultMode is the mode of a workspace that names none.
	DefaultMode = ModeBrowser
)

// Modes lists every mode, for messages.
var Modes = []Mode{ModeBrowser, ModeKiosk}

// Valid reports whether m is a known mode; empty is not one.
func (m Mode) Valid() bool { return slices.Contains(Modes, m) }

// OrDefault returns m, or DefaultMode when m is empty.
func (m Mode) OrDefault() Mode {
	if m == "" {
		return DefaultMode
	}
	return m
}

// AudioPolicy says whether a session's sound reaches the viewer; the
// agent reads it from AIRLOCK_AUDIO.
type AudioPolicy string

const (
	AudioOn  AudioPolicy = "on"
	AudioOff AudioPolicy = "off"
	// DefaultAudio is the audio of a workspace that names none.
	DefaultAudio = AudioOn
)

// Valid reports whether a is on or off; empty is neither.
func (a AudioPolicy) Valid() bool { return a == AudioOn || a == AudioOff }

// OrDefault returns a, or DefaultAudio when a is empty.
func (a AudioPolicy) OrDefault() AudioPolicy {
	if a == "" {
		return DefaultAudio
	}
	return a
}

// Bounds of the device scale factor (HiDPI): a session's display is
// rendered at the viewer's devicePixelRatio, at most the workspace's
// MaxScale, which is itself at most MaxScaleLimit: each step up
// multiplies the pixels to capture, encode and send.
const (
	MinScale        = 1.0
	MaxScaleLimit   = 4.0
	DefaultMaxScale = 2.0
)

// Bounds of file transfers. Downloads and uploads pass through the
// session's /tmp, a tmpfs counted against its memory, so the default is
// well below the usual memory limit.
const (
	DefaultTransferMax = 256 << 20
	MaxTransferMax     = 16 << 30
)

// Transfer says whether files may cross between the viewer and the
// session in one direction, and how large one may be.
type Transfer struct {
	Allowed bool `json:"allowed" yaml:"allowed"`
	// MaxBytes bounds one file; Validate sets it to DefaultTransferMax
	// when transfers are allowed and it is 0, and to 0 when they are not.
	MaxBytes int64 `json:"max_bytes,omitempty" yaml:"max_bytes,omitempty"`
}

// Limit is the largest file allowed, in bytes: 0 when transfers are off.
func (t Transfer) Limit() int64 {
	switch {
	case !t.Allowed:
		return 0
	case t.MaxBytes == 0:
		return DefaultTransferMax
	}
	return t.MaxBytes
}

func (t *Transfer) validate(what string) error {
	if t.MaxBytes < 0 || t.MaxBytes > MaxTransferMax {
		return Errorf(EINVALID, "browser %s max_bytes %d is out of range: give 1 to %d bytes (16 GiB), or leave it out for %d (256 MiB)",
			what, t.MaxBytes, int64(MaxTransferMax), DefaultTransferMax)
	}
	switch {
	case !t.Allowed:
		t.MaxBytes = 0
	case t.MaxBytes == 0:
		t.MaxBytes = DefaultTransferMax
	}
	return nil
}

// Bounds of a browser policy. A session's whole Chromium policy travels
// in one environment variable (AIRLOCK_CHROMIUM_POLICY), and Linux caps
// one at 128 KiB.
const (
	MaxURLPatterns        = 1000 // per list; Chromium's own limit
	MaxURLPatternLen      = 2048
	MaxChromiumPolicies   = 200
	MaxRawPoliciesSize    = 32 << 10  // bytes of JSON
	MaxChromiumPolicySize = 100 << 10 // bytes of JSON, the whole policy
	maxPolicyDepth        = 8
)

// BrowserPolicy is a browser workspace's Chromium policy, written as
// Chromium's managed policies (see ChromiumPolicy). Its zero value is the
// strict one: no downloads, no uploads, no devtools, no printing.
type BrowserPolicy struct {
	// URLBlocklist and URLAllowlist are Chromium's URL filter patterns
	// (https://chromeenterprise.google/policies/url-patterns/): a URL
	// that matches the blocklist is refused unless a more specific
	// allowlist pattern matches it, so ["*"] and an allowlist make a
	// single-site browser. file:// is always blocked, and the allowlist
	// may not open it.
	URLBlocklist []string `json:"url_blocklist,omitempty" yaml:"url_blocklist,omitempty"`
	URLAllowlist []string `json:"url_allowlist,omitempty" yaml:"url_allowlist,omitempty"`
	// Downloads: files the remote page downloads, offered to the viewer.
	Downloads Transfer `json:"downloads" yaml:"downloads"`
	// Uploads: files the viewer hands to the remote page's file chooser.
	Uploads Transfer `json:"uploads" yaml:"uploads"`
	// DevTools allows Chromium's developer tools (off by default: they
	// let a user run script in any page and see its traffic).
	DevTools bool `json:"devtools" yaml:"devtools"`
	// Printing allows printing (to PDF: the container has no printer).
	Printing bool `json:"printing" yaml:"printing"`
	// Policies are further Chromium policies by name
	// (https://chromeenterprise.google/policies/), for what the fields
	// above do not cover, e.g. {"BookmarkBarEnabled": true}. Values are
	// JSON: booleans, integers, strings, lists and objects. Policies
	// Airlock sets itself are refused here (see airlockPolicies).
	Policies map[string]any `json:"policies,omitempty" yaml:"policies,omitempty"`
}

// airlockPolicies are the Chromium policies Airlock decides, each with
// what to set instead; a workspace's Policies may not name them. Some
// follow the workspace's fields; the rest keep the agent working or keep
// secrets and the container's files out of the browser.
var airlockPolicies = map[string]string{
	"URLBlocklist":               "browser.url_blocklist",
	"URLAllowlist":               "browser.url_allowlist",
	"URLBlacklist":               "browser.url_blocklist",
	"URLWhitelist":               "browser.url_allowlist",
	"DownloadRestrictions":       "browser.downloads",
	"AllowFileSelectionDialogs":  "browser.uploads",
	"DeveloperToolsAvailability": "browser.devtools",
	"DeveloperToolsDisabled":     "browser.devtools",
	"PrintingEnabled":            "browser.printing",
	"AudioOutputAllowed":         "audio",
	"ForcedLanguages":            "locale (the agent sets it from the session's locale)",
	"PasswordManagerEnabled":     "nothing: the password manager is always off",
	"BrowserSignin":              "nothing: sign-in is always off",
	"SyncDisabled":               "nothing: sync is always off",
	"RemoteDebuggingAllowed":     "nothing: the agent drives Chromium over its DevTools pipe",
	"DownloadDirectory":          "nothing: the agent decides where downloads go",
	"PromptForDownloadLocation":  "nothing: downloads are offered in the viewer",
}

var policyNameRE = regexp.MustCompile(`^[A-Z][A-Za-z0-9]{1,99}$`)

// Validate checks the policy and fills the transfers' default limits.
func (b *BrowserPolicy) Validate() error {
	if err := validURLPatterns("url_blocklist", b.URLBlocklist, false); err != nil {
		return err
	}
	if err := validURLPatterns("url_allowlist", b.URLAllowlist, true); err != nil {
		return err
	}
	if err := b.Downloads.validate("downloads"); err != nil {
		return err
	}
	if err := b.Uploads.validate("uploads"); err != nil {
		return err
	}
	return b.validatePolicies()
}

func validURLPatterns(field string, list []string, allow bool) error {
	if len(list) > MaxURLPatterns {
		return Errorf(EINVALID, "browser %s has %d patterns; Chromium takes at most %d", field, len(list), MaxURLPatterns)
	}
	for i, p := range list {
		switch {
		case p == "":
			return Errorf(EINVALID, "browser %s[%d] is empty; give a URL pattern such as example.com or https://*.example.com/path", field, i)
		case len(p) > MaxURLPatternLen:
			return Errorf(EINVALID, "browser %s[%d] is %d characters long; at most %d", field, i, len(p), MaxURLPatternLen)
		case strings.IndexFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
			return Errorf(EINVALID, "browser %s[%d] %q contains spaces or control characters", field, i, p)
		case allow && strings.HasPrefix(strings.ToLower(p), "file:"):
			return Errorf(EINVALID, "browser url_allowlist[%d] %q: file:// URLs are always blocked (they would show the container's files)", i, p)
		}
	}
	return nil
}

func (b *BrowserPolicy) validatePolicies() error {
	if len(b.Policies) == 0 {
		b.Policies = nil
		return nil
	}
	if len(b.Policies) > MaxChromiumPolicies {
		return Errorf(EINVALID, "browser policies has %d entries; at most %d", len(b.Policies), MaxChromiumPolicies)
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range b.Policies {
			if !yield(k) {
				return
			}
		}
	}) {
		if !policyNameRE.MatchString(name) {
			return Errorf(EINVALID, "browser policies: %q is not a Chromium policy name (a capital letter, then letters and digits, e.g. BookmarkBarEnabled)", name)
		}
		if instead, ok := airlockPolicies[name]; ok {
			return Errorf(EINVALID, "browser policies: %s is Airlock's to set; set %s", name, instead)
		}
		if err := checkPolicyValue(b.Policies[name], 0); err != nil {
			return Errorf(EINVALID, "browser policies: %s: %v", name, err)
		}
	}
	// Normalize through JSON: values decoded from YAML (int, map[string]any)
	// and from JSON (float64) then compare and marshal alike.
	raw, err := json.Marshal(b.Policies)
	if err != nil {
		return Errorf(EINVALID, "browser policies: %v", err)
	}
	if len(raw) > MaxRawPoliciesSize {
		return Errorf(EINVALID, "browser policies are %d bytes of JSON; at most %d", len(raw), MaxRawPoliciesSize)
	}
	var norm map[string]any
	if err := json.Unmarshal(raw, &norm); err != nil {
		return Errorf(EINVALID, "browser policies: %v", err)
	}
	b.Policies = norm
	return nil
}

// checkPolicyValue accepts the JSON values Chromium's policies take:
// booleans, integers, strings, and lists and objects of them. null means
// nothing to Chromium, and no policy takes a fraction.
func checkPolicyValue(v any, depth int) error {
	if depth > maxPolicyDepth {
		return fmt.Errorf("nested more than %d levels deep", maxPolicyDepth)
	}
	switch x := v.(type) {
	case bool, string:
		return nil
	case int, int64, uint64:
		return nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return fmt.Errorf("%v is not an integer; Chromium's policies take booleans, integers, strings, lists and objects", x)
		}
		return nil
	case []any:
		for i, e := range x {
			if err := checkPolicyValue(e, depth+1); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	case map[string]any:
		for k, e := range x {
			if err := checkPolicyValue(e, depth+1); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		return nil
	case nil:
		return errors.New("null is not a policy value; leave the policy out to leave it unset")
	}
	return fmt.Errorf("a value of type %T is not a policy value", v)
}

// ChromiumPolicy is the complete managed policy of a session of a
// workspace with browser policy b and audio a: Airlock's defaults (no
// password manager, sign-in or sync; developer tools off; file:// blocked;
// no printing; no downloads or file choosers unless allowed) with the
// workspace's choices, then its further Policies.
func ChromiumPolicy(b BrowserPolicy, a AudioPolicy) map[string]any {
	p := map[string]any{}
	for k, v := range b.Policies {
		p[k] = v
	}
	// Developer tools off is their pages blocked, not
	// DeveloperToolsAvailability 2: that also keeps the agent's own
	// DevTools pipe (downloads, the file chooser) from attaching to pages.
	p["DeveloperToolsAvailability"] = 1 // allowed
	p["PasswordManagerEnabled"] = false
	p["BrowserSignin"] = 0
	p["SyncDisabled"] = true
	p["PrintingEnabled"] = b.Printing
	p["PromptForDownloadLocation"] = false
	blocked := []string{"file://*"}
	if !b.DevTools {
		blocked = append(blocked, "devtools://*")
	}
	p["URLBlocklist"] = append(blocked, b.URLBlocklist...)
	if len(b.URLAllowlist) > 0 {
		p["URLAllowlist"] = slices.Clone(b.URLAllowlist)
	}
	if !b.Downloads.Allowed {
		p["DownloadRestrictions"] = 3 // block all downloads
	}
	if !b.Uploads.Allowed {
		p["AllowFileSelectionDialogs"] = false
	}
	if a.OrDefault() == AudioOff {
		p["AudioOutputAllowed"] = false
	}
	return p
}

// DefaultChromiumPolicy is the policy of a session whose workspace has
// the zero BrowserPolicy: what the agent applies when the server gave it
// none.
func DefaultChromiumPolicy() map[string]any { return ChromiumPolicy(BrowserPolicy{}, DefaultAudio) }

// ChromiumPolicyJSON is ChromiumPolicy as the JSON the agent is given,
// refused when it exceeds MaxChromiumPolicySize.
func ChromiumPolicyJSON(b BrowserPolicy, a AudioPolicy) ([]byte, error) {
	out, err := json.Marshal(ChromiumPolicy(b, a))
	if err != nil {
		return nil, fmt.Errorf("chromium policy: %w", err)
	}
	if len(out) > MaxChromiumPolicySize {
		return nil, Errorf(EINVALID, "the browser policy makes %d bytes of Chromium policy JSON; at most %d: use fewer or shorter URL patterns or policies",
			len(out), MaxChromiumPolicySize)
	}
	return out, nil
}

// ParseChromiumPolicy checks a Chromium policy as the agent receives it
// (AIRLOCK_CHROMIUM_POLICY): one JSON object of at most
// MaxChromiumPolicySize bytes, whose names look like policy names.
func ParseChromiumPolicy(data []byte) (map[string]any, error) {
	if len(data) > MaxChromiumPolicySize {
		return nil, Errorf(EINVALID, "chromium policy is %d bytes; at most %d", len(data), MaxChromiumPolicySize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var p map[string]any
	if err := dec.Decode(&p); err != nil {
		return nil, Errorf(EINVALID, "chromium policy is not a JSON object: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, Errorf(EINVALID, "chromium policy has data after the object")
	}
	if p == nil {
		return nil, Errorf(EINVALID, "chromium policy is null, not an object")
	}
	for k, v := range p {
		if !policyNameRE.MatchString(k) {
			return nil, Errorf(EINVALID, "chromium policy: %q is not a policy name", k)
		}
		if err := checkPolicyValue(v, 0); err != nil {
			return nil, Errorf(EINVALID, "chromium policy: %s: %v", k, err)
		}
	}
	return p, nil
}

// localeRE is the shape of a BCP 47 language tag: a language of 2-3
// letters (or 4-8, registered ones), then subtags of 1-8 letters and
// digits (script, region, variants, extensions, private use).
var localeRE = regexp.MustCompile(`^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$`)

// maxLocaleLen bounds a locale: longer tags exist in theory, never in a
// browser's navigator.language.
const maxLocaleLen = 35

// ValidLocale checks a BCP 47 language tag ("ja-JP", "zh-Hant-TW",
// "es-419") and returns it in its conventional case: language lowercase,
// script titlecase, region uppercase.
func ValidLocale(s string) (string, error) {
	if len(s) > maxLocaleLen || !localeRE.MatchString(s) {
		return "", Errorf(EINVALID, "locale %q is not a BCP 47 language tag such as en-US, ja-JP or zh-Hant-TW", truncate(s, 40))
	}
	parts := strings.Split(s, "-")
	parts[0] = strings.ToLower(parts[0])
	ext := false // after a singleton (u-, x-), subtags keep lowercase
	for i := 1; i < len(parts); i++ {
		p := parts[i]
		switch {
		case ext:
			parts[i] = strings.ToLower(p)
		case len(p) == 1:
			ext = true
			parts[i] = strings.ToLower(p)
		case i == 1 && len(p) == 4 && isAlpha(p):
			parts[i] = strings.ToUpper(p[:1]) + strings.ToLower(p[1:])
		case len(p) == 2 && isAlpha(p):
			parts[i] = strings.ToUpper(p)
		default:
			parts[i] = strings.ToLower(p)
		}
	}
	return strings.Join(parts, "-"), nil
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

var timeZoneRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9][A-Za-z0-9_+-]*){0,2}$`)

// ValidTimeZone checks an IANA time zone name ("Asia/Tokyo", "UTC") that
// Go's embedded database knows.
func ValidTimeZone(s string) error {
	if len(s) > 64 || !timeZoneRE.MatchString(s) || s == "Local" {
		return Errorf(EINVALID, "time zone %q is not an IANA time zone name such as Europe/Paris, Asia/Tokyo or UTC", truncate(s, 40))
	}
	if _, err := time.LoadLocation(s); err != nil {
		return Errorf(EINVALID, "time zone %q is not in the IANA time zone database; give a name such as Europe/Paris, Asia/Tokyo or UTC", s)
	}
	return nil
}

// ValidScale checks a device scale factor: a number from MinScale to
// MaxScaleLimit.
func ValidScale(what string, v float64) error {
	if math.IsNaN(v) || v < MinScale || v > MaxScaleLimit {
		return Errorf(EINVALID, "%s %s is out of range: give a number from 1 to 4 (e.g. 1, 1.5, 2)", what, strconv.FormatFloat(v, 'g', 6, 64))
	}
	return nil
}

// truncate shortens s for a message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// validateBrowser checks the workspace's browser options and fills their
// defaults: mode, audio, max scale, the transfers' limits.
func (w *Workspace) validateBrowser() error {
	if w.Mode == "" {
		w.Mode = DefaultMode
	}
	if !w.Mode.Valid() {
		return Errorf(EINVALID, "mode %q is not one of %s", w.Mode, join(Modes))
	}
	if w.Audio == "" {
		w.Audio = DefaultAudio
	}
	if !w.Audio.Valid() {
		return Errorf(EINVALID, "audio %q is not on or off", w.Audio)
	}
	if w.MaxScale == 0 {
		w.MaxScale = DefaultMaxScale
	}
	if err := ValidScale("max_scale", w.MaxScale); err != nil {
		return err
	}
	if w.Locale != "" {
		l, err := ValidLocale(w.Locale)
		if err != nil {
			return err
		}
		w.Locale = l
	}
	if w.TimeZone != "" {
		if err := ValidTimeZone(w.TimeZone); err != nil {
			return err
		}
	}
	if err := w.Browser.Validate(); err != nil {
		return err
	}
	_, err := ChromiumPolicyJSON(w.Browser, w.Audio)
	return err
}

// Viewer is what a viewer's browser tells the server when it launches a
// session: its language, time zone and device pixel ratio. Each is
// optional; the zero Viewer lets the workspace and Airlock's defaults
// decide.
type Viewer struct {
	Locale   string
	TimeZone string
	Scale    float64
}

// Validate checks the viewer's settings and puts the locale in its
// conventional case.
func (v *Viewer) Validate() error {
	if v.Locale != "" {
		l, err := ValidLocale(v.Locale)
		if err != nil {
			return err
		}
		v.Locale = l
	}
	if v.TimeZone != "" {
		if err := ValidTimeZone(v.TimeZone); err != nil {
			return err
		}
	}
	if v.Scale != 0 {
		return ValidScale("scale", v.Scale)
	}
	return nil
}

// SessionDisplay is what a session of workspace w launched by viewer v
// gets: the workspace's fixed locale and time zone win over the
// viewer's, and the scale is the viewer's, at most the workspace's
// MaxScale, rounded to hundredths. An empty locale or time zone leaves
// the agent's default (en-US, UTC).
func SessionDisplay(w *Workspace, v Viewer) (locale, timeZone string, scale float64) {
	locale, timeZone = v.Locale, v.TimeZone
	if w.Locale != "" {
		locale = w.Locale
	}
	if w.TimeZone != "" {
		timeZone = w.TimeZone
	}
	maxScale := w.MaxScale
	if maxScale == 0 {
		maxScale = DefaultMaxScale
	}
	scale = max(MinScale, min(v.Scale, maxScale))
	return locale, timeZone, math.Round(scale*100) / 100
}
