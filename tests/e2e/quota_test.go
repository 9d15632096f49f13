package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pulsestream/pulsestream/tenancy"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// post sends NDJSON lines to a gateway and returns the status, headers and
// answer.
func (s *stack) post(url, key string, lines ...string) (int, http.Header, ingestAnswer) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/events", strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var a ingestAnswer
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &a); err != nil {
		s.t.Fatalf("answer %d %s: %v", resp.StatusCode, raw, err)
	}
	return resp.StatusCode, resp.Header, a
}

func events(ids ...string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = fmt.Sprintf(`{"id":%q,"type":"t"}`, id)
	}
	return out
}

// TestHardQuotaAcrossTwoGatewaysCountsOnlyAcceptedEvents: a tenant with a
// hard quota of 5 sends through two gateway binaries; repeats of accepted
// events (duplicates) and rejected events take nothing, the sixth new event
// is refused per event (207) and a request of only new events then gets 429
// quota_exceeded with the quota headers; the admin usage reads 5 and the
// read models hold exactly the 5 accepted events.
func TestHardQuotaAcrossTwoGatewaysCountsOnlyAcceptedEvents(t *testing.T) {
	s := startStack(t)
	gw2, _ := s.spawnGateway()
	quota := int64(5)
	admin := tenancy.NewAdmin(tenancy.NewPGStore(s.pool))
	if _, err := admin.UpdateTenant(context.Background(), "cli:e2e", s.tenantA, tenancy.TenantSettings{MonthlyQuota: &quota}); err != nil {
		t.Fatal(err)
	}

	code, h, a := s.post(s.gatewayURL, s.keyA, events("q1", "q2", "q3")...)
	if code != 200 || a.Accepted != 3 || h.Get("Quota-Limit") != "5" || h.Get("Quota-Used") != "3" {
		t.Fatalf("first 3 on gateway 1: %d %+v, headers %v", code, a, h)
	}
	code, _, a = s.post(gw2, s.keyA, append(events("q1", "q2", "q3"), `{"id":"bad"}`)...) // duplicates and a reject
	if code != 207 || a.Duplicate != 3 || a.Rejected != 1 {
		t.Fatalf("repeats on gateway 2: %d %+v", code, a)
	}
	code, h, a = s.post(gw2, s.keyA, events("q4", "q5", "q6")...)
	if code != 207 || a.Accepted != 2 || a.Results[2].Code != "quota_exceeded" || h.Get("Quota-Used") != "5" || h.Get("Quota-Exceeded") != "true" {
		t.Fatalf("q4..q6 on gateway 2: %d %+v, headers %v", code, a, h)
	}
	_, reset := tenancy.QuotaMonth(time.Now())
	// Retry-After is the whole seconds (rounded up) from the gateway's "now"
	// to the reset, and that now lies between sending and the answer: so it
	// is at least the time from the answer to the reset and at most that
	// from the sending plus the rounding (however long the round trip took).
	sent := time.Now()
	code, h, a = s.post(s.gatewayURL, s.keyA, events("q7")...)
	answered := time.Now()
	retry, _ := strconv.Atoi(h.Get("Retry-After"))
	if code != 429 || a.Rejected != 1 || a.Results[0].Code != "quota_exceeded" || h.Get("Quota-Reset") != reset.Format(time.RFC3339) ||
		retry <= 0 || time.Duration(retry)*time.Second > reset.Sub(sent)+time.Second || time.Duration(retry)*time.Second < reset.Sub(answered) {
		t.Fatalf("q7 on gateway 1: %d %+v, headers %v (sent %s before the reset, answered %s before)", code, a, h, reset.Sub(sent), reset.Sub(answered))
	}
	if code, _, a = s.post(s.gatewayURL, s.keyA, events("q5")...); code != 200 || a.Duplicate != 1 {
		t.Fatalf("a duplicate past the quota: %d %+v", code, a)
	}

	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	u, err := admin.WithUsage(tenancy.NewRedisUsage(rdb, s.redisPrefix)).Usage(context.Background(), s.tenantA, "")
	if err != nil || u.Events != 5 || u.MonthlyQuota != 5 || u.QuotaPolicy != tenancy.QuotaHard {
		t.Fatalf("usage %+v, %v; want 5 of 5 (hard)", u, err)
	}
	s.expectReadModels(s.tenantA, map[string]bool{"q1": true, "q2": true, "q3": true, "q4": true, "q5": true})
}
