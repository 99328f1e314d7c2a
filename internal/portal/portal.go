// Package portal is Airlock's web portal: the pages a user signs in to,
// picks a workspace in, launches and ends sessions from, and the viewer
// that shows a session's remote screen over WebRTC and forwards keyboard,
// pointer and clipboard (docs/viewer-protocol.md).
//
// The portal is plain HTML, CSS and JavaScript modules embedded in the
// binary: no build step, no framework and nothing fetched from another
// origin. It talks only to the api under /api/v1 on its own origin, so it
// is mounted at "/" on the same mux and never answers for /api/ itself.
//
// Every answer carries a strict Content-Security-Policy (no inline script
// or style, connections only to this origin; the gateway in front sets
// the headers every answer shares) and an ETag derived from the
// file's content with Cache-Control: no-cache, so a browser revalidates
// and picks up new files as soon as the binary changes.
package portal

import (
	"bytes"
	"net/http"
	"strings"
	"time"
)

// Handler serves the portal's files. Mount it at "/" beside the api's
// "/api/"; it answers 404 for /api and anything under it, so it cannot
// hide a missing API route behind a page.
func Handler() http.Handler { return handler{files: embedded()} }

type handler struct{ files map[string]asset }

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if isAPIPath(p) {
		http.NotFound(w, r)
		return
	}
	setSecurityHeaders(w.Header(), r.Host)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if p == "/" {
		p = "/index.html"
	}
	// The app routes in the URL fragment (#/session/ID), which never
	// reaches the server: any other path is a missing file.
	a, ok := h.files[p]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("ETag", a.etag)
	hdr.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// isAPIPath reports whether p belongs to the api rather than the portal.
func isAPIPath(p string) bool {
	return p == "/api" || strings.HasPrefix(p, "/api/")
}
