package app

import (
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/tenancy/tenancytest"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// TestLogsHoldNoKeyPasswordOrEventBody runs a real gateway at debug level
// with Redis unreachable (so every request logs warnings), sends good, bad
// and hostile requests carrying the key in every place a client might put
// it (the request id too: the gateway logs request ids, so one holding a key
// must be replaced), and searches the whole log for the key, its secret, the
// password of the PostgreSQL URL in use and the event bodies.
func TestLogsHoldNoKeyPasswordOrEventBody(t *testing.T) {
	deadRedis := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	var logs testenv.LogBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := startRealGateway(t, logger, tenancy.TenantSettings{}, func(c *Config) { c.Redis.Addr = deadRedis })
	const body = "card-4111-1111-1111-1111"
	wrongKey := tenancytest.WrongSecret(e.key)

	send := func(key, where, payload string) int {
		req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/events", strings.NewReader(payload))
		req.Header.Set("Content-Type", "application/json")
		tenancytest.PutKey(req, key, "query") // besides where: the query string is never read
		for _, w := range strings.Split(where, "+") {
			tenancytest.PutKey(req, key, w)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	statuses := map[int]int{}
	for i := 0; i < 50; i++ {
		ev := fmt.Sprintf(`{"specversion":"1.0","id":"log-%d","type":"t","source":"/s","data":{"card":%q}}`, i, body)
		for _, c := range []struct{ key, where, payload string }{
			{e.key, "bearer", ev},                                                   // accepted (Redis down: warnings)
			{e.key, "x-api-key", "[" + ev + "," + ev + "]"},                         // duplicate in request
			{e.key, "bearer", `{"id":` + ev},                                        // malformed JSON around the body
			{e.key, "bearer", `{"specversion":"1.0","id":"` + body + `","type":1}`}, // invalid schema
			{wrongKey, "bearer", ev},                                                // wrong secret, valid prefix
			{e.key, "basic", ev},                                                    // key in an unsupported scheme
			{"", "none", ev},                                                        // key only in the query string
			{e.key, "bearer+request-id", ev},                                        // key in the request id (replaced; request ids are logged)
		} {
			statuses[send(c.key, c.where, c.payload)]++
		}
	}
	out := logs.String()
	if strings.Count(out, "\n") < 50 || !strings.Contains(out, "marker lookup failed") {
		t.Fatalf("the gateway logged too little to prove anything (%d lines); statuses %v", strings.Count(out, "\n"), statuses)
	}
	secrets := testenv.PostgresPasswordForms(t, testenv.PostgresURL(t))
	maps.Copy(secrets, map[string]string{"the API key": e.key, "the key's secret": tenancytest.Secret(e.key),
		"the wrong key's secret": tenancytest.Secret(wrongKey), "an event body": body})
	testenv.RequireAbsent(t, out, secrets)
	t.Logf("%d log lines, %d bytes searched; answers %v", strings.Count(out, "\n"), len(out), statuses)
}
