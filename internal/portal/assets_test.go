package portal

import (
	"path"
	"regexp"
	"strings"
	"testing"
)

// The portal must load nothing from another origin. The rule is strict
// and simple: no embedded file contains an absolute http(s) URL anywhere,
// comments included, except XML namespace names (identifiers that are
// never fetched). Every src/href in the page, every url() in CSS and
// every JS import must name a file the portal serves.

var namespaceNames = []string{"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}

var absURL = regexp.MustCompile(`(?i)\bhttps?://[^\s"'<>)]*`)

func TestNoExternalURLs(t *testing.T) {
	for _, p := range staticFiles(t) {
		b, err := static.ReadFile("static" + p)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range absURL.FindAllString(string(b), -1) {
			ok := false
			for _, ns := range namespaceNames {
				ok = ok || (u == ns && path.Ext(p) == ".svg")
			}
			if !ok {
				t.Errorf("%s references %s: the portal must serve everything itself", p, u)
			}
		}
	}
}

var (
	htmlRef   = regexp.MustCompile(`(?i)\s(?:src|href|action|poster)\s*=\s*"([^"]*)"`)
	cssURL    = regexp.MustCompile(`(?i)url\(\s*['"]?([^'")]*)`)
	cssImport = regexp.MustCompile(`(?i)@import`)
	jsImport  = regexp.MustCompile(`(?m)^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]`)
)

func TestOnlyLocalReferences(t *testing.T) {
	files := map[string]bool{}
	imports := 0
	for _, p := range staticFiles(t) {
		files[p] = true
	}
	for p := range files {
		b, err := static.ReadFile("static" + p)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		switch path.Ext(p) {
		case ".html":
			refs := htmlRef.FindAllStringSubmatch(s, -1)
			if len(refs) == 0 {
				t.Errorf("%s: found no src/href at all; is the pattern broken?", p)
			}
			for _, m := range refs {
				ref := m[1]
				switch {
				case strings.HasPrefix(ref, "#"):
				case strings.HasPrefix(ref, "/") && !strings.HasPrefix(ref, "//"):
					if !files[ref] {
						t.Errorf("%s: %q is not an embedded file", p, ref)
					}
				default:
					t.Errorf("%s: reference %q must be a local absolute path (/…) or a fragment (#…)", p, ref)
				}
			}
			if strings.Contains(strings.ToLower(s), "<script>") || regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>[^<]+</script>`).MatchString(s) {
				t.Errorf("%s: has an inline script; the CSP forbids it", p)
			}
			if regexp.MustCompile(`(?i)<style|\sstyle\s*=|\son[a-z]+\s*=`).MatchString(s) {
				t.Errorf("%s: has an inline style or event handler attribute; the CSP forbids it", p)
			}
		case ".css":
			if cssImport.MatchString(s) {
				t.Errorf("%s: uses @import; keep one stylesheet", p)
			}
			for _, m := range cssURL.FindAllStringSubmatch(s, -1) {
				if !files[m[1]] {
					t.Errorf("%s: url(%s) is not an embedded file", p, m[1])
				}
			}
		case ".js":
			imports += len(jsImport.FindAllStringSubmatch(s, -1))
			for _, m := range jsImport.FindAllStringSubmatch(s, -1) {
				spec := m[1] + m[2] + m[3]
				if !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
					t.Errorf("%s: import %q must be relative", p, spec)
					continue
				}
				if target := path.Join(path.Dir(p), spec); !files[target] {
					t.Errorf("%s: import %q resolves to %s, which is not embedded", p, spec, target)
				}
			}
		}
	}
	if imports == 0 {
		t.Error("found no JS imports at all; is the pattern broken?")
	}
}
