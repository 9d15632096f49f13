package app_test

import (
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/platform/tenancy"
	"github.com/pulsestream/pulsestream/platform/tenancy/tenancytest"
	"github.com/pulsestream/pulsestream/platform/testenv"
	"github.com/pulsestream/pulsestream/services/query/app"
	"github.com/pulsestream/pulsestream/services/query/internal/querytest"
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
	secret := key.Key[strings.LastIndexByte(key.Key, '_')+1:]
	wrongKey := key.Key[:strings.LastIndexByte(key.Key, '_')+1] + strings.Repeat("a", len(secret))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadRedis := ln.Addr().String()
	ln.Close()
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
		switch where {
		case "bearer":
			req.Header.Set("Authorization", "Bearer "+k)
		case "x-api-key":
			req.Header.Set("X-API-Key", k)
		case "basic":
			req.SetBasicAuth("user", k)
		case "query":
			req.URL.RawQuery += "&api_key=" + k
		}
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
			{key.Key, "query", "/v1/events/e1?x=1"},
		} {
			statuses[send(c.key, c.where, c.path)]++
		}
	}
	stop()
	out := logs.String()
	if strings.Count(out, "\n") < 10 {
		t.Fatalf("the service logged too little to prove anything (%d lines); answers %v", strings.Count(out, "\n"), statuses)
	}
	for what, s := range map[string]string{"the API key": key.Key, "the key's secret": secret,
		"the wrong key's secret": wrongKey[len(wrongKey)-len(secret):], "event content": content,
		"the PostgreSQL password": ":pulsestream@"} {
		if i := strings.Index(out, s); i >= 0 {
			t.Errorf("%s is in the log: …%s…", what, out[max(i-200, 0):min(i+100, len(out))])
		}
	}
	t.Logf("%d log lines, %d bytes searched; answers %v", strings.Count(out, "\n"), len(out), statuses)
}
