package app_test

import (
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/services/query/app"
	"github.com/pulsestream/pulsestream/services/query/internal/querytest"
	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/tenancy/tenancytest"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// TestLogsHoldNoKeyPasswordOrEventContent runs the query service at debug
// level with Redis unreachable (so every status request logs a warning),
// sends good, refused and malformed requests carrying the key in every place
// a client might put it and event content in ids and filters, and searches
// the whole log for the key, its secret, the PostgreSQL password and the
// event content.
func TestLogsHoldNoKeyPasswordOrEventContent(t *testing.T) {
	pool := querytest.Postgres(t)
	querytest.ClickHouse(t)
	tenant := querytest.Tenant(t)
	key := tenancytest.New(t, pool, tenant, tenancy.TenantSettings{}).Key(tenancy.ScopeQuery)
	const content = "card-4111-1111-1111-1111"
	querytest.InsertPG(t, pool, []querytest.Row{{Tenant: tenant, ID: "e1", Type: "t", Time: time.Now(), Data: map[string]any{"card": content}, Offset: 1}})
	wrongKey := tenancytest.WrongSecret(key.Key)

	deadRedis := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	var logs testenv.LogBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(parse(t, "-redis-addr", deadRedis, "-log-level", "debug"), logger, observe.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, a)
	base := "http://" + a.PublicAddr()
	send := func(k, where, path string) int {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		tenancytest.PutKey(req, k, where)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	statuses := map[int]int{}
	data := url.QueryEscape(`{"card":"` + content + `"}`)
	for range 5 {
		for _, c := range []struct{ key, where, path string }{
			{key.Key, "bearer", "/v1/events/e1"},
			{key.Key, "x-api-key", "/v1/events/e1/status"}, // Redis down: a warning
			{key.Key, "bearer", "/v1/events/" + content + "/status"},
			{key.Key, "bearer", "/v1/events?data=" + data},
			{key.Key, "bearer", "/v1/events?data=" + data + "&cursor=" + content}, // malformed cursor
			{key.Key, "bearer", "/v1/stats?interval=" + content},                  // refused parameter
			{wrongKey, "bearer", "/v1/events/e1"},
			{key.Key, "basic", "/v1/events/e1"},
			{key.Key, "query", "/v1/events/e1"},
		} {
			statuses[send(c.key, c.where, c.path)]++
		}
	}
	stop()
	out := logs.String()
	if strings.Count(out, "\n") < 10 {
		t.Fatalf("the service logged too little to prove anything (%d lines); answers %v", strings.Count(out, "\n"), statuses)
	}
	secrets := testenv.PostgresPasswordForms(t, testenv.PostgresURL(t))
	maps.Copy(secrets, map[string]string{"the API key": key.Key, "the key's secret": tenancytest.Secret(key.Key),
		"the wrong key's secret": tenancytest.Secret(wrongKey), "event content": content})
	testenv.RequireAbsent(t, out, secrets)
	t.Logf("%d log lines, %d bytes searched; answers %v", strings.Count(out, "\n"), len(out), statuses)
}
