package portal

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

// wantTypes is what each kind of shipped file must be served as. A file
// of another kind fails TestServesEveryFile until it is added here.
var wantTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.Host = "airlock.example:8443"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// staticFiles lists the embedded files as URL paths.
func staticFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, strings.TrimPrefix(p, "static"))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no embedded files")
	}
	return out
}

func TestServesEveryFile(t *testing.T) {
	h := Handler()
	for _, p := range staticFiles(t) {
		t.Run(p, func(t *testing.T) {
			want, ok := wantTypes[path.Ext(p)]
			if !ok {
				t.Fatalf("%s: no expected Content-Type for %q files; add one to wantTypes", p, path.Ext(p))
			}
			file, err := static.ReadFile("static" + p)
			if err != nil {
				t.Fatal(err)
			}
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				r := get(t, h, method, p, nil)
				if r.StatusCode != http.StatusOK {
					t.Fatalf("%s %s: status %d", method, p, r.StatusCode)
				}
				if got := r.Header.Get("Content-Type"); got != want {
					t.Errorf("%s %s: Content-Type %q, want %q", method, p, got, want)
				}
				checkCommonHeaders(t, r)
				if r.Header.Get("ETag") == "" || r.Header.Get("Cache-Control") != "no-cache" {
					t.Errorf("%s %s: ETag %q, Cache-Control %q; want an ETag and no-cache", method, p,
						r.Header.Get("ETag"), r.Header.Get("Cache-Control"))
				}
				b := body(t, r)
				if method == http.MethodGet && b != string(file) {
					t.Errorf("GET %s: body differs from the embedded file", p)
				}
				if method == http.MethodHead && b != "" {
					t.Errorf("HEAD %s: has a body", p)
				}
			}
		})
	}
}

func checkCommonHeaders(t *testing.T, r *http.Response) {
	t.Helper()
	csp := r.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'",
		"connect-src 'self' wss://airlock.example:8443", "object-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-") {
		t.Errorf("Content-Security-Policy %q allows something unsafe", csp)
	}
}

func TestIndex(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/", "/index.html"} {
		r := get(t, h, http.MethodGet, p, nil)
		if r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != wantTypes[".html"] {
			t.Fatalf("GET %s: %d %q", p, r.StatusCode, r.Header.Get("Content-Type"))
		}
		checkCommonHeaders(t, r)
		b := body(t, r)
		for _, want := range []string{`id="login-user"`, `id="login-password"`, `id="login-submit"`, `id="screen"`,
			`<script type="module" src="/js/main.js"></script>`, `<link rel="stylesheet" href="/css/app.css">`} {
			if !strings.Contains(b, want) {
				t.Errorf("GET %s: the page lacks %s", p, want)
			}
		}
	}
}

func TestRevalidation(t *testing.T) {
	h := Handler()
	r := get(t, h, http.MethodGet, "/js/main.js", nil)
	etag := r.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 10 {
		t.Fatalf("ETag %q is not a strong validator", etag)
	}
	r = get(t, h, http.MethodGet, "/js/main.js", map[string]string{"If-None-Match": etag})
	if r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the current ETag: status %d, want 304", r.StatusCode)
	}
	r = get(t, h, http.MethodGet, "/js/main.js", map[string]string{"If-None-Match": `"stale"`})
	if r.StatusCode != http.StatusOK {
		t.Errorf("If-None-Match with an old ETag: status %d, want 200", r.StatusCode)
	}
	if other := get(t, h, http.MethodGet, "/css/app.css", nil).Header.Get("ETag"); other == etag {
		t.Errorf("two different files share the ETag %s", etag)
	}
}

func TestRefusals(t *testing.T) {
	h := Handler()
	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/api", http.StatusNotFound},
		{http.MethodGet, "/api/", http.StatusNotFound},
		{http.MethodGet, "/api/v1/me", http.StatusNotFound},
		{http.MethodPost, "/api/v1/auth/login", http.StatusNotFound},
		{http.MethodGet, "/api/v1/signal?token=x", http.StatusNotFound},
		{http.MethodGet, "/nope", http.StatusNotFound},
		{http.MethodGet, "/js/", http.StatusNotFound},
		{http.MethodGet, "/js/missing.js", http.StatusNotFound},
		{http.MethodGet, "/static/index.html", http.StatusNotFound},
		{http.MethodGet, "/session/abc", http.StatusNotFound},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/js/main.js", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := get(t, h, tt.method, tt.path, nil)
			if r.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", r.StatusCode, tt.status)
			}
			if b := body(t, r); strings.Contains(b, "<html") {
				t.Errorf("answered with the app page")
			}
		})
	}
}

// TestMountedBesideAPI mounts the portal as internal/infra does: "/api/"
// goes to the api, everything else to the portal.
func TestMountedBesideAPI(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "api")
	}))
	mux.Handle("/api/v1/signal", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "signal")
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.Handle("/", Handler())
	tests := []struct {
		path, want string
	}{
		{"/api/v1/me", "api"},
		{"/api/v1/nothing", "api"},
		{"/api/v1/signal", "signal"},
		{"/healthz", "ok\n"},
		{"/", "<!doctype html>"},
		{"/js/main.js", "import"},
	}
	for _, tt := range tests {
		r := get(t, mux, http.MethodGet, tt.path, nil)
		if b := body(t, r); !strings.Contains(b, tt.want) {
			t.Errorf("GET %s: %d %.60q, want %q", tt.path, r.StatusCode, b, tt.want)
		}
	}
}

func TestContentSecurityPolicyHost(t *testing.T) {
	tests := []struct {
		host string
		wss  bool
	}{
		{"airlock.example", true},
		{"airlock.example:8443", true},
		{"127.0.0.1:8443", true},
		{"[::1]:8443", true},
		{"[::1]", true},
		{"", false},
		{"evil; script-src *", false},
		{"a.example:8443; connect-src *", false},
		{"a.example:", false},
		{"a.example:99999999", false},
		{"[::1]x", false},
		{"[]", false},
		{"a b", false},
	}
	for _, tt := range tests {
		csp := contentSecurityPolicy(tt.host)
		has := strings.Contains(csp, " wss://")
		if has != tt.wss {
			t.Errorf("host %q: wss source present %v, want %v (%s)", tt.host, has, tt.wss, csp)
		}
		if tt.wss && !strings.Contains(csp, "connect-src 'self' wss://"+tt.host+";") {
			t.Errorf("host %q: connect-src does not name it: %s", tt.host, csp)
		}
		if strings.Count(csp, "connect-src") != 1 || strings.Contains(csp, "*") {
			t.Errorf("host %q changed the policy: %s", tt.host, csp)
		}
	}
}

// TestSignInFormInert: until the script takes the sign-in form over, it
// cannot be submitted (its button is disabled, which also stops Enter),
// and were it submitted it would post, never put the password in a URL.
func TestSignInFormInert(t *testing.T) {
	page := body(t, get(t, Handler(), http.MethodGet, "/", nil))
	form := regexp.MustCompile(`<form id="login-form"[^>]*>`).FindString(page)
	if !strings.Contains(form, `method="post"`) {
		t.Errorf("sign-in form %q does not post", form)
	}
	button := regexp.MustCompile(`<button id="login-submit"[^>]*>`).FindString(page)
	if !regexp.MustCompile(`\sdisabled[\s>]`).MatchString(button) {
		t.Errorf("sign-in button %q is not disabled until the script runs", button)
	}
}
