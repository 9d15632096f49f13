package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pulsestream/pulsestream/platform/apierror"
)

func init() { gin.SetMode(gin.ReleaseMode) }

type env struct {
	engine  *gin.Engine
	metrics *Metrics
	logs    *bytes.Buffer
}

func newEnv(t *testing.T) env {
	t.Helper()
	m := NewMetrics(prometheus.NewRegistry(), "test")
	logs := &bytes.Buffer{}
	r := New(Options{
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
		Metrics: m,
		Ops:     http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ops")) }),
		Secret:  func(id string) bool { return strings.Contains(id, "secret") },
	})
	r.GET("/ok", func(c *gin.Context) { c.String(http.StatusOK, c.GetString(ContextRequestID)) })
	r.GET("/panic", func(*gin.Context) { panic("boom") })
	r.GET("/anon", Unauthenticated)
	return env{engine: r, metrics: m, logs: logs}
}

func (e env) do(method, path string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	e.engine.ServeHTTP(w, req)
	return w
}

func code(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var b apierror.Body
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	return b.Error.Code
}

func TestErrorAnswersUseTheAPIErrorShape(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/nowhere", 404, "not_found"},
		{"POST", "/ok", 405, "method_not_allowed"},
		{"GET", "/panic", 500, "internal"},
		{"GET", "/anon", 401, "unauthenticated"},
	} {
		w := e.do(tc.method, tc.path)
		if w.Code != tc.status || code(t, w) != tc.code {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, w.Code, w.Body, tc.status, tc.code)
		}
	}
	if !strings.Contains(e.logs.String(), "panic in handler") || !strings.Contains(e.logs.String(), "boom") {
		t.Errorf("panic not logged: %s", e.logs)
	}
}

func TestRequestIDIsKeptWhenSaneAndReplacedOtherwise(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"sane", "abc-123", true},
		{"absent", "", false},
		{"with a space", "a b", false},
		{"too long", strings.Repeat("r", 129), false},
		{"flagged as secret", "my-secret-id", false},
	} {
		w := e.do("GET", "/ok", HeaderRequestID, tc.sent)
		got := w.Header().Get(HeaderRequestID)
		if w.Body.String() != got {
			t.Errorf("%s: handler saw %q, response carries %q", tc.name, w.Body, got)
		}
		if kept := got == tc.sent; kept != tc.kept || len(got) == 0 || (!tc.kept && len(got) != 26) {
			t.Errorf("%s: sent %q, answered %q (want kept=%v, else a ULID)", tc.name, tc.sent, got, tc.kept)
		}
	}
}

func TestMetricsCountRequestsByRouteAndOpsEndpointsAreServed(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/livez", "/readyz", "/metrics"} {
		if w := e.do("GET", p); w.Code != 200 || w.Body.String() != "ops" {
			t.Errorf("%s: %d %s", p, w.Code, w.Body)
		}
	}
	e.do("GET", "/ok")
	e.do("GET", "/ok")
	e.do("GET", "/nowhere")
	for _, tc := range []struct {
		route, status string
		want          float64
	}{{"/ok", "200", 2}, {"unmatched", "404", 1}, {"/livez", "200", 1}} {
		got := testutil.ToFloat64(e.metrics.requests.WithLabelValues(tc.route, "GET", tc.status))
		if got != tc.want {
			t.Errorf("requests{route=%s,status=%s} = %v, want %v", tc.route, tc.status, got, tc.want)
		}
	}
	if n := testutil.CollectAndCount(e.metrics.duration); n != 5 {
		t.Errorf("%d duration series, want 5 (/livez /readyz /metrics /ok unmatched)", n)
	}
}
