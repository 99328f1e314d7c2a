package portal

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"path"
	"sync"
)

//go:embed static
var static embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	// etag is a strong validator from the content, so it changes exactly
	// when a new binary changes the file.
	etag string
}

// contentTypes are the types of the files the portal ships. A file with
// another extension fails the package's tests rather than being served
// with a guessed type.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

// embedded maps URL paths ("/js/main.js") to the embedded files; it is
// built once.
var embedded = sync.OnceValue(func() map[string]asset {
	files := map[string]asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(body)
		files[p[len("static"):]] = asset{body: body, contentType: ct,
			etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		// Unreachable: the files are compiled in.
		panic(fmt.Sprintf("portal: read embedded files: %v", err))
	}
	return files
})
