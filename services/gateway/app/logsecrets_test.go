package app

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/pulsestream/pulsestream/platform/testenv"
)

// TestLogsHoldNoKeyPasswordOrEventBody runs a real gateway at debug level
// with Redis unreachable (so every request logs warnings), sends good, bad
// and hostile requests carrying the key in every place a client might put
// it (except the request id, which the gateway echoes and logs by design),
// and searches the whole log for the key, its secret, the PostgreSQL
// password and the event bodies.
func TestLogsHoldNoKeyPasswordOrEventBody(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadRedis := ln.Addr().String()
	ln.Close()
	var logs testenv.LogBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := startRealGateway(t, logger, func(c *Config) { c.Redis.Addr = deadRedis })
	secret := e.key[strings.LastIndexByte(e.key, '_')+1:]
	const body = "card-4111-1111-1111-1111"
	wrongKey := e.key[:strings.LastIndexByte(e.key, '_')+1] + strings.Repeat("A", len(secret))

	send := func(key, where, payload string) int {
		req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/events?api_key="+key, strings.NewReader(payload))
		req.Header.Set("Content-Type", "application/json")
		switch where {
		case "bearer":
			req.Header.Set("Authorization", "Bearer "+key)
		case "x-api-key":
			req.Header.Set("X-API-Key", key)
		case "basic":
			req.SetBasicAuth("user", key)
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
		} {
			statuses[send(c.key, c.where, c.payload)]++
		}
	}
	out := logs.String()
	if strings.Count(out, "\n") < 50 || !strings.Contains(out, "marker lookup failed") {
		t.Fatalf("the gateway logged too little to prove anything (%d lines); statuses %v", strings.Count(out, "\n"), statuses)
	}
	for what, s := range map[string]string{"the API key": e.key, "the key's secret": secret, "the wrong key's secret": wrongKey[len(wrongKey)-len(secret):],
		"an event body": body, "the PostgreSQL password": ":pulsestream@"} {
		if i := strings.Index(out, s); i >= 0 {
			t.Errorf("%s is in the log: …%s…", what, out[max(i-200, 0):min(i+100, len(out))])
		}
	}
	t.Logf("%d log lines, %d bytes searched; answers %v", strings.Count(out, "\n"), len(out), statuses)
}
