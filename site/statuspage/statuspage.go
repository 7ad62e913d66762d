// Package statuspage is the status page of the admin API: GET / serves a
// page whose script polls GET /v1/cluster/status (the JSON of `aya status
// --json`) and renders it. The page is plain HTML, CSS and JavaScript
// embedded in the binary, with no build step and nothing from elsewhere;
// it only reads, so it needs no token.
//
// The page polls, once a second, rather than keeping a server-sent event
// stream: the status endpoint already exists and is the one `aya status`
// reads, so the page has no second data model and the node no new code
// path; a poll holds no connection, goroutine or FSM subscription per open
// tab, survives the admin server's write timeout and a node restart
// without any resumption logic, and a lost answer costs one second. The
// price, one status JSON per second per open page, is small next to the
// cluster's own traffic, and a hidden tab does not poll.
//
// Every answer carries a Content-Security-Policy that allows only the
// page's own files (no inline script or style, no frames, no forms) and
// requires Trusted Types, so the script cannot write markup from strings
// even by mistake: it builds elements and sets their text.
package statuspage

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/aya-gslb/aya/internal/admin"
)

// Paths of the page and of its files (index.html is served at PathPage
// only). Its links are relative, so the page also works behind a proxy
// that mounts the admin API under a prefix.
const (
	PathPage   = "/"
	PathAssets = "/status/"
)

// CSP is the Content-Security-Policy of every answer of the Handler.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

//go:embed assets
var assets embed.FS

// contentTypes by extension: the system's MIME tables are not consulted,
// so that a machine without them serves the same headers.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

type file struct {
	data  []byte
	ctype string
	etag  string
}

// Handler serves the page at GET PathPage and its files under GET
// PathAssets; any other file is 404.
func Handler() http.Handler {
	files := map[string]file{}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		files[strings.TrimPrefix(p, "assets/")] = file{data: data, ctype: contentTypes[path.Ext(p)],
			etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic("statuspage: embedded files: " + err.Error()) // cannot happen: they are compiled in
	}
	serve := func(w http.ResponseWriter, r *http.Request, name string) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		f, ok := files[name]
		if !ok || name == "index.html" && r.URL.Path != PathPage || f.ctype == "" {
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Type", f.ctype)
		// Revalidate every time: a new binary serves new files at the same
		// names, and the ETag makes an unchanged one cost a 304.
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathPage+"{$}", func(w http.ResponseWriter, r *http.Request) { serve(w, r, "index.html") })
	mux.HandleFunc("GET "+PathAssets+"{name...}", func(w http.ResponseWriter, r *http.Request) {
		serve(w, r, r.PathValue("name"))
	})
	return mux
}

// Routes mount the Handler on the admin API; they are reads, open without
// the token.
func Routes() []admin.Route {
	h := Handler()
	return []admin.Route{
		{Pattern: "GET " + PathPage + "{$}", Handler: h},
		{Pattern: "GET " + PathAssets, Handler: h},
	}
}
