package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/tenancy"
)

// TestTimePolicyStoresTheDocumentedTimes: through the real binaries, an
// event with a sentat is stored (in both read models) at time + (received_at
// − sentat); one dated beyond the tolerance is stored at received_at and its
// result says time_clamped; with future_policy reject it is refused
// (time_in_future), and one older than the tenant's retention is refused
// (event_too_old). Refused events reach no read model.
func TestTimePolicyStoresTheDocumentedTimes(t *testing.T) {
	s := startStack(t)
	policy := tenancy.FutureReject
	if _, err := tenancy.NewAdmin(tenancy.NewPGStore(s.pool)).UpdateTenant(context.Background(), "cli:e2e", s.tenantB,
		tenancy.TenantSettings{FuturePolicy: &policy}); err != nil {
		t.Fatal(err)
	}
	// The producer's clock is 90 minutes and a half second behind.
	sent := time.Now().UTC().Add(-90*time.Minute - 500*time.Millisecond)
	evTime := sent.Add(-10 * time.Minute)
	body := strings.Join([]string{
		fmt.Sprintf(`{"id":"skewed","type":"t","time":%q,"sentat":%q}`, evTime.Format(time.RFC3339Nano), sent.Format(time.RFC3339Nano)),
		`{"id":"future","type":"t","time":"2099-01-01T00:00:00Z"}`,
	}, "\n")
	var a ingestAnswer
	if code := s.call(s.keyA, http.MethodPost, s.gatewayURL+"/v1/events", "application/x-ndjson", body, &a); code != http.StatusOK || a.Accepted != 2 {
		t.Fatalf("tenant A: %d %+v", code, a)
	}
	if w := a.Results[1].Warnings; len(w) != 1 || w[0].Code != "time_clamped" || a.Results[0].Warnings != nil {
		t.Fatalf("warnings %v and %v, want none and [time_clamped]", a.Results[0].Warnings, a.Results[1].Warnings)
	}

	body = strings.Join([]string{`{"id":"future","type":"t","time":"2099-01-01T00:00:00Z"}`, `{"id":"ancient","type":"t","time":"2000-01-01T00:00:00Z"}`,
		`{"id":"fine","type":"t"}`}, "\n")
	a = ingestAnswer{}
	if code := s.call(s.keyB, http.MethodPost, s.gatewayURL+"/v1/events", "application/x-ndjson", body, &a); code != http.StatusMultiStatus || a.Accepted != 1 {
		t.Fatalf("tenant B: %d %+v", code, a)
	}
	for i, want := range []string{"time_in_future", "event_too_old"} {
		if a.Results[i].Status != "rejected" || a.Results[i].Code != want {
			t.Fatalf("tenant B event %d: %+v, want rejected %s", i, a.Results[i], want)
		}
	}

	s.expectReadModels(s.tenantA, map[string]bool{"skewed": true, "future": true})
	s.expectReadModels(s.tenantB, map[string]bool{"fine": true})
	for id, offset := range map[string]time.Duration{"skewed": evTime.Sub(sent), "future": 0} {
		var pgTime, pgRecv time.Time
		if err := s.pool.QueryRow(context.Background(), `SELECT event_time, received_at FROM events WHERE tenant_id = $1 AND external_id = $2`,
			s.tenantA, id).Scan(&pgTime, &pgRecv); err != nil {
			t.Fatal(err)
		}
		pgOff := pgTime.Sub(pgRecv)
		var chTime, chRecv time.Time
		if err := s.ch.QueryRow(context.Background(), `SELECT event_time, received_at FROM events FINAL WHERE tenant_id = ? AND external_id = ?`,
			s.tenantA, id).Scan(&chTime, &chRecv); err != nil {
			t.Fatal(err)
		}
		chOff := chTime.Sub(chRecv)
		if pgOff != offset || chOff != offset {
			t.Fatalf("%s: time − received_at is %s in PostgreSQL and %s in ClickHouse, want %s", id, pgOff, chOff, offset)
		}
	}
}
