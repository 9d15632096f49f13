package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsestream/pulsestream/platform/apierror"
	"github.com/pulsestream/pulsestream/platform/httpapi"
	"github.com/pulsestream/pulsestream/services/query/internal/api"
	"github.com/pulsestream/pulsestream/services/query/internal/cursor"
)

func init() { gin.SetMode(gin.ReleaseMode) }

var testKey = []byte("0123456789abcdef0123456789abcdef-test-only")

func newCodec(tb testing.TB) *cursor.Codec {
	c, err := cursor.NewCodec(testKey)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// serve starts the API over d (defaults filled in) and returns its URL.
func serve(tb testing.TB, d api.Deps) string {
	tb.Helper()
	if d.Cursors == nil {
		d.Cursors = newCodec(tb)
	}
	if d.QueryTimeout == 0 {
		// A test not about the query timeout must not see query_timeout
		// when the shared ClickHouse engine is slow on a loaded machine
		// (the production 5 s); tests of the timeout set a short one.
		d.QueryTimeout = time.Minute
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.NewTextHandler(testWriter{tb}, nil))
	}
	if d.Metrics == nil {
		d.Metrics = httpapi.NewMetrics(prometheus.NewRegistry(), "query")
	}
	srv := httptest.NewServer(api.New(d).Handler())
	tb.Cleanup(srv.Close)
	return srv.URL
}

// call GETs base+path with key and decodes a 200 answer into out (when not
// nil); it returns the status and, for errors, the error body.
func call(tb testing.TB, base, key, path string, q url.Values, out any) (int, apierror.Detail, http.Header) {
	tb.Helper()
	u := base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var e apierror.Body
		if err := json.Unmarshal(body, &e); err != nil {
			tb.Fatalf("GET %s: %d with a body that is not the error shape: %s", u, resp.StatusCode, body)
		}
		return resp.StatusCode, e.Error, resp.Header
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			tb.Fatalf("GET %s: decode %s: %v", u, body, err)
		}
	}
	return resp.StatusCode, apierror.Detail{}, resp.Header
}

// testWriter sends log lines to the test log.
type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(string(p))
	return len(p), nil
}
