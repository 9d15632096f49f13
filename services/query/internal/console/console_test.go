package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServesThePageAndMountsTheAPIs(t *testing.T) {
	api := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name+" "+r.URL.Path) })
	}
	h, err := Handler(Deps{Query: api("query"), Admin: api("admin")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/", "<title>PulseStream console</title>"},
		{"GET", "/overview", "<title>PulseStream console</title>"},
		{"GET", "/app.js", "sessionStorage"},
		{"GET", "/app.css", ":root"},
		{"GET", "/api/query/v1/events", "query /v1/events"},
		{"POST", "/api/admin/v1/admin/tenants", "admin /v1/admin/tenants"},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("%s %s: %d %.80q, want %q", tc.method, tc.path, w.Code, w.Body.String(), tc.want)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", w.Code)
	}
}
