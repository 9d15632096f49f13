package api_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/services/query/internal/api"
	"github.com/pulsestream/pulsestream/services/query/internal/querytest"
	"github.com/pulsestream/pulsestream/services/query/internal/store"
)

// GET /v1/outcomes sums the gateways' per-minute rows of the caller's
// tenant into buckets, never another tenant's; GET /v1/lag gives the read
// models' lag as the source reports it and the caller's tenant's DLQ depth.
func TestOutcomesPerBucketOfTheCallersTenant(t *testing.T) {
	pool := querytest.Postgres(t)
	a, b := querytest.Tenant(t), querytest.Tenant(t)
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	rows := []struct {
		tenant  string
		minute  time.Duration
		outcome string
		n       int64
	}{
		{a, 0, "accepted", 10}, {a, 0, "rejected", 2}, {a, time.Minute, "accepted", 5}, {a, time.Minute, "rate_limited", 300},
		{a, 59 * time.Minute, "duplicate", 4}, {a, 61 * time.Minute, "accepted", 1}, {a, 61 * time.Minute, "request_refused", 3},
		{a, 3 * time.Hour, "accepted", 1000}, // outside the range asked
		{b, 0, "accepted", 777},
	}
	for _, r := range rows {
		if _, err := pool.Exec(context.Background(), `INSERT INTO ingest_outcomes VALUES ($1, $2, $3, $4)`, r.tenant, t0.Add(r.minute), r.outcome, r.n); err != nil {
			t.Fatal(err)
		}
	}
	secs := 12.5
	asOf := time.Date(2026, 11, 28, 8, 0, 1, 250_000_000, time.UTC)
	base := serve(t, api.Deps{Outcomes: store.NewPostgres(pool), Auth: querytest.Auth{"key-a": a},
		Lag: func(_ context.Context, tenant string) (api.LagAnswer, error) {
			depth := map[string]int{a: 3, b: 7}[tenant]
			return api.LagAnswer{AsOf: asOf, ReadModels: []api.ReadModelLag{{ReadModel: "postgres", Seconds: &secs}, {ReadModel: "clickhouse"}}, DLQDepth: &depth}, nil
		}})
	q := url.Values{"from": {t0.Format(time.RFC3339)}, "to": {t0.Add(2 * time.Hour).Format(time.RFC3339)}}

	var perMinute api.OutcomesAnswer
	if st, d, _ := call(t, base, "key-a", "/v1/outcomes", q, &perMinute); st != http.StatusOK {
		t.Fatalf("outcomes: %d %+v", st, d)
	}
	want := []store.OutcomeBucket{
		{Start: t0, Accepted: 10, Rejected: 2}, {Start: t0.Add(time.Minute), Accepted: 5, RateLimited: 300},
		{Start: t0.Add(59 * time.Minute), Duplicate: 4}, {Start: t0.Add(61 * time.Minute), Accepted: 1, RequestsRefused: 3},
	}
	if perMinute.Interval != "minute" || !equalBuckets(perMinute.Buckets, want) {
		t.Fatalf("per minute: %s %+v, want %+v", perMinute.Interval, perMinute.Buckets, want)
	}
	var perHour api.OutcomesAnswer
	q.Set("interval", "hour")
	if st, d, _ := call(t, base, "key-a", "/v1/outcomes", q, &perHour); st != http.StatusOK {
		t.Fatalf("outcomes: %d %+v", st, d)
	}
	want = []store.OutcomeBucket{{Start: t0, Accepted: 15, Duplicate: 4, Rejected: 2, RateLimited: 300}, {Start: t0.Add(time.Hour), Accepted: 1, RequestsRefused: 3}}
	if !equalBuckets(perHour.Buckets, want) {
		t.Fatalf("per hour: %+v, want %+v", perHour.Buckets, want)
	}
	q.Set("interval", "week")
	if st, d, _ := call(t, base, "key-a", "/v1/outcomes", q, nil); st != http.StatusBadRequest || d.Code != api.CodeInvalidParameter || d.Parameter != "interval" {
		t.Errorf("interval=week: %d %+v, want 400 invalid_parameter on interval", st, d)
	}
	var lag struct {
		AsOf       string             `json:"as_of"` // as sent: RFC 3339, UTC
		ReadModels []api.ReadModelLag `json:"read_models"`
		DLQDepth   *int               `json:"dlq_depth"`
	}
	if st, d, _ := call(t, base, "key-a", "/v1/lag", nil, &lag); st != http.StatusOK {
		t.Fatalf("lag: %d %+v", st, d)
	}
	if len(lag.ReadModels) != 2 || lag.ReadModels[0].Seconds == nil || *lag.ReadModels[0].Seconds != secs || lag.ReadModels[1].Seconds != nil {
		t.Errorf("lag %+v", lag.ReadModels)
	}
	if lag.DLQDepth == nil || *lag.DLQDepth != 3 {
		t.Errorf("lag dlq_depth %v, want 3: the DLQ depth of the caller's tenant, not another's (7)", lag.DLQDepth)
	}
	if lag.AsOf != "2026-11-28T08:00:01.25Z" {
		t.Errorf("lag as_of %q, want the time the lag was measured, 2026-11-28T08:00:01.25Z", lag.AsOf)
	}
	if st, _, _ := call(t, base, "no-such-key", "/v1/lag", nil, nil); st != http.StatusUnauthorized {
		t.Errorf("lag without a key: %d, want 401", st)
	}
}

func equalBuckets(got, want []store.OutcomeBucket) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.Start.Equal(w.Start) {
			return false
		}
		g.Start, w.Start = time.Time{}, time.Time{}
		if g != w {
			return false
		}
	}
	return true
}
