// Package ui is the web dashboard: one page, its style sheet and its JavaScript modules,
// embedded in the binary, served with no build step and nothing loaded from the network.
// The page drives the public API only (see docs/dashboard.md).
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	name  string
	body  []byte
	etag  string
	ctype string
}

// assets are the embedded files by their path under /ui/, read once.
var assets = func() map[string]*asset {
	out := map[string]*asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		name := strings.TrimPrefix(p, "static/")
		ctype := mime.TypeByExtension(path.Ext(name))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		out[name] = &asset{name: name, body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ctype}
		return nil
	})
	if err != nil {
		panic("ui: reading the embedded assets: " + err.Error())
	}
	return out
}()

// securityPolicy keeps the page to its own origin: no inline script, no remote resource.
const securityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// Index serves the dashboard's page, for GET / (and HEAD).
func Index() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serve(w, r, assets["index.html"])
	})
}

// Assets serves the page's scripts, style sheet and icon under /ui/; any other path below
// it is a 404.
func Assets() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := assets[strings.TrimPrefix(r.URL.Path, "/ui/")]
		if a == nil || a.name == "index.html" {
			http.NotFound(w, r)
			return
		}
		serve(w, r, a)
	})
}

// serve writes a with validators, so a browser revalidates rather than keeping a copy from
// an older release.
func serve(w http.ResponseWriter, r *http.Request, a *asset) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if a.name == "index.html" {
		h.Set("Content-Security-Policy", securityPolicy)
	}
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}
