package e2e

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/tenancy"
)

// TestRetentionRemovesExpiredEventsAndReplaysDoNotRestoreThem: events 20
// and 15 days old are accepted while the tenant keeps 3650 days; once its
// retention is cut to 10 days the projector (retention-interval 1s) removes
// exactly those two from both read models, and replaying each read model from
// the topic (--drop) brings neither back.
func TestRetentionRemovesExpiredEventsAndReplaysDoNotRestoreThem(t *testing.T) {
	s := startStackWith(t, stackOptions{projArgs: []string{"-retention-interval", "1s"}, noQuery: true})
	now := time.Now().UTC()
	s.ingest(s.keyA, []map[string]any{
		{"id": "old20", "type": "t", "time": now.AddDate(0, 0, -20).Format(time.RFC3339Nano)},
		{"id": "old15", "type": "t", "time": now.AddDate(0, 0, -15).Format(time.RFC3339Nano)},
		{"id": "keep", "type": "t", "time": now.Add(-time.Hour).Format(time.RFC3339Nano)},
	})
	s.ingest(s.keyB, []map[string]any{{"id": "old20", "type": "t", "time": now.AddDate(0, 0, -20).Format(time.RFC3339Nano)}})
	s.expectReadModels(s.tenantA, map[string]bool{"old20": true, "old15": true, "keep": true})
	s.expectReadModels(s.tenantB, map[string]bool{"old20": true})

	days := 10
	if _, err := tenancy.NewAdmin(tenancy.NewPGStore(s.pool)).UpdateTenant(context.Background(), "cli:e2e", s.tenantA,
		tenancy.TenantSettings{RetentionDays: &days}); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"keep": true}
	eventually(t, 2*time.Minute, "expired events gone from both read models", func() string {
		pg, ch, _ := s.readModelIDs(s.tenantA)
		if !maps.Equal(pg, want) || !maps.Equal(ch, want) {
			return fmt.Sprintf("PostgreSQL %v, ClickHouse %v", pg, ch)
		}
		return ""
	})
	if pg, ch, _ := s.readModelIDs(s.tenantB); !pg["old20"] || !ch["old20"] {
		t.Fatalf("tenant B (30 days) lost its 20-day-old event: PostgreSQL %v, ClickHouse %v", pg, ch)
	}

	s.stopProjector()
	s.replay("postgres")
	s.replay("clickhouse")
	for tenant, want := range map[string]map[string]bool{s.tenantA: want, s.tenantB: {"old20": true}} {
		if pg, ch, _ := s.readModelIDs(tenant); !maps.Equal(pg, want) || !maps.Equal(ch, want) {
			t.Fatalf("after the replays, %s: PostgreSQL %v, ClickHouse %v; want %v", tenant, pg, ch, want)
		}
	}
}
