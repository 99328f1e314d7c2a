package agent

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// The browser settings the server gives the agent (see the api's
// browserEnv).
const (
	EnvPolicy   = "AIRLOCK_CHROMIUM_POLICY" // the session's whole Chromium managed policy, a JSON object; unset: Airlock's defaults
	EnvLocale   = "AIRLOCK_LOCALE"          // the session's language, a BCP 47 tag; unset: DefaultLocale
	EnvTimeZone = "AIRLOCK_TIMEZONE"        // the session's IANA time zone; unset: DefaultTimeZone
)

// Defaults of a session whose viewer and workspace named no language or
// time zone.
const (
	DefaultLocale   = "en-US"
	DefaultTimeZone = "UTC"
)

// PolicyDir is where the agent writes Chromium's managed policy: the
// image links /etc/chromium/policies/managed/airlock.json to
// PolicyDir/policy.json, since the root file system is read-only and
// /tmp is the session's tmpfs.
const PolicyDir = "/tmp/airlock"

// ChromiumPolicy checks an AIRLOCK_CHROMIUM_POLICY value (a JSON object
// of policies, at most airlock.MaxChromiumPolicySize bytes); unset is
// Airlock's default policy.
func ChromiumPolicy(v string) (map[string]any, error) {
	if v == "" {
		return airlock.DefaultChromiumPolicy(), nil
	}
	p, err := airlock.ParseChromiumPolicy([]byte(v))
	if err != nil {
		return nil, fmt.Errorf("%s: %s", EnvPolicy, airlock.ErrorMessage(err))
	}
	return p, nil
}

// Locale checks an AIRLOCK_LOCALE value; unset is DefaultLocale.
func Locale(v string) (string, error) {
	if v == "" {
		return DefaultLocale, nil
	}
	l, err := airlock.ValidLocale(v)
	if err != nil {
		return "", fmt.Errorf("%s: %s", EnvLocale, airlock.ErrorMessage(err))
	}
	return l, nil
}

// TimeZone checks an AIRLOCK_TIMEZONE value; unset is DefaultTimeZone.
func TimeZone(v string) (string, error) {
	if v == "" {
		return DefaultTimeZone, nil
	}
	if err := airlock.ValidTimeZone(v); err != nil {
		return "", fmt.Errorf("%s: %s", EnvTimeZone, airlock.ErrorMessage(err))
	}
	return v, nil
}

// sessionPolicy is the policy Chromium gets: the server's (or the
// defaults), with the session's languages first in Accept-Language and
// navigator.languages (ForcedLanguages): Chromium's default list comes
// from its UI language, which has no region ("ja", not "ja-JP").
func sessionPolicy(cfg DesktopConfig) map[string]any {
	p := maps.Clone(cfg.Policy)
	if p == nil {
		p = airlock.DefaultChromiumPolicy()
	}
	if langs := acceptLanguages(cfg.Locale); len(langs) > 0 {
		p["ForcedLanguages"] = langs
	}
	return p
}

// acceptLanguages is the language list of locale: the tag without its
// extensions, then its bare language ("de-CH", "de").
func acceptLanguages(locale string) []string {
	if locale == "" {
		return nil
	}
	tag := baseTag(locale)
	out := []string{tag}
	if lang, _, ok := strings.Cut(tag, "-"); ok {
		out = append(out, lang)
	}
	return out
}

// baseTag is locale up to its first extension or private-use subtag.
func baseTag(locale string) string {
	parts := strings.Split(locale, "-")
	for i := 1; i < len(parts); i++ {
		if len(parts[i]) == 1 {
			return strings.Join(parts[:i], "-")
		}
	}
	return locale
}

// writePolicy writes Chromium's managed policy to dir/policy.json, whole
// or not at all (a rename), readable by Chromium.
func writePolicy(dir string, cfg DesktopConfig) error {
	b, err := json.Marshal(sessionPolicy(cfg))
	if err != nil {
		return fmt.Errorf("chromium policy: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("chromium policy: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".policy-*.json")
	if err != nil {
		return fmt.Errorf("chromium policy: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("chromium policy: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("chromium policy: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("chromium policy: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, "policy.json")); err != nil {
		return fmt.Errorf("chromium policy: %w", err)
	}
	return nil
}

// localeArgs sets Chromium's UI language (its .pak files have one for the
// common languages; another falls back to English).
func localeArgs(locale string) []string {
	if locale == "" {
		return nil
	}
	return []string{"--lang=" + baseTag(locale)}
}

// localeEnv is the language and time zone of Chromium's environment:
// on Linux its UI language comes from LANGUAGE (gettext's list, "ja_JP:ja"),
// and its time zone (Intl, Date) from TZ. LANG stays C.UTF-8: no glibc
// locale is installed, and Chromium needs none.
func localeEnv(locale, timeZone string) []string {
	var env []string
	if locale != "" {
		env = append(env, "LANGUAGE="+gettextLanguages(locale))
	}
	if timeZone != "" {
		env = append(env, "TZ="+timeZone)
	}
	return env
}

// gettextLanguages turns a BCP 47 tag into gettext's LANGUAGE list:
// language_REGION then language. A Chinese script without a region names
// the region Chromium's UI uses for it (Hant: zh_TW, Hans: zh_CN).
func gettextLanguages(locale string) string {
	parts := strings.Split(baseTag(locale), "-")
	lang, region, script := parts[0], "", ""
	for _, p := range parts[1:] {
		switch {
		case len(p) == 4 && script == "" && region == "":
			script = p
		case (len(p) == 2 || len(p) == 3) && region == "":
			region = p
		}
	}
	if lang == "zh" && region == "" {
		switch script {
		case "Hant":
			region = "TW"
		case "Hans":
			region = "CN"
		}
	}
	if region == "" {
		return lang
	}
	return lang + "_" + region + ":" + lang
}
