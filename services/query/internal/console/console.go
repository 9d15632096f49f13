// Package console serves PulseStream's web console: a single page (HTML,
// CSS and JavaScript written for it, no framework and no third-party code,
// so nothing needs the internet or a build step) embedded in the query
// binary with go:embed, and, on the same origin, the APIs it calls:
//
//	/api/query/  the tenant read API (query-scope key)
//	/api/admin/  the admin API and the DLQ API (the operator's admin key)
//
// The page keeps the API key the user signs in with in sessionStorage only
// (gone when the browser session ends) and sends it as a bearer token; the
// server never sets a cookie. Because the admin API is reachable here, the
// console's listener is private like admin-addr (default loopback).
package console

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed web
var web embed.FS

// Deps are the handlers the console puts on its origin.
type Deps struct {
	Query http.Handler // the query service's public API (/v1/...)
	Admin http.Handler // the admin listener's handler (/v1/admin/...)
}

// Handler serves the page and the APIs under /api/query/ and /api/admin/.
func Handler(d Deps) (http.Handler, error) {
	assets, err := fs.Sub(web, "web")
	if err != nil {
		return nil, fmt.Errorf("console assets: %w", err)
	}
	files := http.FileServer(http.FS(assets))
	mux := http.NewServeMux()
	mux.Handle("/api/query/", http.StripPrefix("/api/query", d.Query))
	mux.Handle("/api/admin/", http.StripPrefix("/api/admin", d.Admin))
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secureHeaders(w.Header())
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !strings.Contains(r.URL.Path[1:], "/") && !strings.Contains(r.URL.Path, ".") {
			r.URL.Path = "/" // every page is index.html; the page routes by its hash
		}
		files.ServeHTTP(w, r)
	}))
	return mux, nil
}

// secureHeaders: only the console's own files run (no inline script, no
// other origin), it cannot be framed, and no referrer leaves the page.
func secureHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}
