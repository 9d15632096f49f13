package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/services/query/internal/api"
	"github.com/pulsestream/pulsestream/services/query/internal/querytest"
	"github.com/pulsestream/pulsestream/services/query/internal/store"
)

// TestHostileParametersGetA4xxNeverA5xx sends malformed and hostile
// requests to the API over the real read models: each one is answered 2xx
// or 4xx, never 5xx (which would mean the input reached a store that choked).
func TestHostileParametersGetA4xxNeverA5xx(t *testing.T) {
	pool := querytest.Postgres(t)
	ch := querytest.ClickHouse(t)
	tenant := querytest.Tenant(t)
	querytest.InsertPG(t, pool, genRows(tenant, 20, time.Minute))
	base := serve(t, api.Deps{Events: store.NewPostgres(pool), Stats: store.NewClickHouse(ch), Auth: querytest.Auth{"k": tenant}})
	paths := []string{
		"/v1/events?type=%FF", "/v1/events?type=a%00b", "/v1/events?source=%00", "/v1/events?subject=" + strings.Repeat("x", 5000),
		"/v1/events?type=" + strings.Repeat("a,", 60) + "a", "/v1/events?limit=-1", "/v1/events?limit=99999999999999999999",
		"/v1/events?from=0001-01-01T00:00:00Z", "/v1/events?from=9999-12-31T23:59:59.999999999Z", "/v1/events?to=-0001-01-01T00:00:00Z",
		"/v1/events?from=2026-11-26T00:00:00%2B99:99",
		"/v1/events?data=" + strings.Repeat("%7B%22a%22:", 200) + "1" + strings.Repeat("%7D", 200),
		"/v1/events?data=%7B%22a%22:%22%5Cu0000%22%7D", "/v1/events?data=%7B%22a%5Cu0000%22:1%7D", "/v1/events?data=%7B%22a%22:1e999999%7D",
		"/v1/events?data=%7B%22a%22:%22%5Cud800%22%7D", "/v1/events?data=null", "/v1/events?data=%22x%22",
		"/v1/events?data.a.b.c.d.e.f.g.h.i.j.k=1", "/v1/events?data.%FF=1", "/v1/events?data.a=%FF",
		"/v1/events?cursor=%FF", "/v1/events?cursor=" + strings.Repeat("A", 5000), "/v1/events?cursor=a&cursor=b",
		"/v1/events?order=ASC", "/v1/events?=x", "/v1/events?%00=1",
		"/v1/events/%00", "/v1/events/%FF%FF", "/v1/events/" + strings.Repeat("%F0%9F%98%80", 300), "/v1/events/a%2F..%2F..%2Fetc",
		"/v1/events/%00/status", "/v1/events/%FF/status",
		"/v1/stats?from=1969-12-31T23:59:59Z&to=1970-01-01T00:00:01Z", "/v1/stats?from=0001-01-01T00:00:00Z&to=9999-01-01T00:00:00Z&interval=day",
		"/v1/stats?type=%00", "/v1/stats?interval=", "/v1/stats?top=1e3", "/v1/stats?group_by=type&source=%FF",
		"/v1/stats?from=2026-11-26T00:00:00Z&to=2026-11-26T00:00:00Z",
	}
	for _, p := range paths {
		req, _ := http.NewRequest(http.MethodGet, base+p, nil)
		req.Header.Set("Authorization", "Bearer k")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
}
