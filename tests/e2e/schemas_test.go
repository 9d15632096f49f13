package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/tenancy/eventschemas"
)

const orderV1 = `{"type":"object","required":["order_id","amount","currency"],"properties":{"order_id":{"type":"string"},
	"amount":{"type":"integer"},"currency":{"enum":["EUR","USD"]},"customer":{"type":"object","properties":{"id":{"type":"string"}}}}}`

// orderV2 takes amounts sent as strings too (compatible with v1).
var orderV2 = strings.Replace(orderV1, `"amount":{"type":"integer"}`, `"amount":{"type":["integer","string"]}`, 1)

type replayAnswer struct {
	Selected, Accepted, Duplicate, Rejected int
}

func (s *stack) replayQuarantine(key, body string) replayAnswer {
	s.t.Helper()
	var r replayAnswer
	if code := s.call(key, http.MethodPost, s.gatewayURL+"/v1/quarantine/replay", "application/json", body, &r); code != http.StatusOK {
		s.t.Fatalf("POST /v1/quarantine/replay %s: %d", body, code)
	}
	return r
}

// A tenant enforcing a schema sends valid, violating and unknown-type
// events; after the schema is fixed a replay ingests exactly the quarantined
// events that now pass: PostgreSQL and ClickHouse hold the valid and the
// replayed events, each once, also after a second replay, and another tenant
// sending the same events (no schemas) has all of them. Erasing a subject
// empties its quarantined events.
func TestSchemaFixAndReplayStoreExactlyTheEventsThatNowPassOnce(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()
	reg := eventschemas.NewRegistry(s.pool)
	enforce := "enforce"
	const reloads = `pulsestream_gateway_schema_reloads_total{kind="tenant",result="ok"}`
	base, _ := metricValue(s.gatewayURL, reloads)
	if _, err := reg.AddVersion(ctx, "cli:e2e", s.tenantA, "order.created", []byte(orderV1), false); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.UpdateSettings(ctx, "cli:e2e", s.tenantA, eventschemas.SettingsPatch{Mode: &enforce}); err != nil {
		t.Fatal(err)
	}

	// One notification per transaction (PostgreSQL folds equal payloads).
	waitMetric(t, s.gateway, s.gatewayURL, reloads, func(v float64) bool { return v >= base+2 })

	var events []map[string]any
	valid, fixable, all := map[string]bool{}, map[string]bool{}, map[string]bool{}
	const eveEvents = 20
	for i := range 300 {
		id := fmt.Sprintf("ev-%03d", i)
		all[id] = true
		e := map[string]any{"id": id, "type": "order.created", "subject": "alice",
			"data": map[string]any{"order_id": id, "amount": i, "currency": "EUR", "customer": map[string]any{"id": "c"}}}
		switch {
		case i < 100:
			valid[id] = true
		case i < 200: // the amount as a string: v2 fixes it
			e["data"].(map[string]any)["amount"] = fmt.Sprint(i)
			fixable[id] = true
		case i < 250: // an unknown currency: no version fixes it
			e["data"].(map[string]any)["currency"] = "XXX"
			if i < 200+eveEvents {
				e["subject"] = "eve"
			}
		default: // no schema for this type
			e["type"] = "user.signed_up"
		}
		events = append(events, e)
	}
	body := jsonArray(events)
	var a ingestAnswer
	if code := s.call(s.keyA, http.MethodPost, s.gatewayURL+"/v1/events", "application/json", body, &a); code != http.StatusMultiStatus || a.Accepted != 100 || a.Rejected != 200 {
		t.Fatalf("tenant A: %d accepted %d rejected %d", code, a.Accepted, a.Rejected)
	}
	if code := s.call(s.keyB, http.MethodPost, s.gatewayURL+"/v1/events", "application/json", body, &a); code != http.StatusOK || a.Accepted != 300 {
		t.Fatalf("tenant B (no schemas): %d accepted %d", code, a.Accepted)
	}
	eventually(t, time.Minute, "200 events quarantined", func() string {
		if n := s.pgCount(`SELECT count(*) FROM quarantine WHERE tenant_id = $1`, s.tenantA); n != 200 {
			return fmt.Sprintf("%d rows", n)
		}
		return ""
	})
	if n := s.pgCount(`SELECT count(*) FROM quarantine WHERE tenant_id = $1`, s.tenantB); n != 0 {
		t.Fatalf("tenant B has %d quarantined events", n)
	}

	if _, err := reg.AddVersion(ctx, "cli:e2e", s.tenantA, "order.created", []byte(orderV2), false); err != nil {
		t.Fatal(err)
	}
	// The gateway learns of v2 by NOTIFY; a replay before that rejects
	// again, harmlessly, so replay until the fixable ones are in.
	accepted := 0
	eventually(t, 30*time.Second, "the fixable events replayed", func() string {
		r := s.replayQuarantine(s.keyA, `{"filter":{"type":"order.created"}}`)
		accepted += r.Accepted
		if r.Duplicate != 0 || accepted > len(fixable) {
			t.Fatalf("replay: %+v (accepted so far %d)", r, accepted)
		}
		if accepted != len(fixable) {
			return fmt.Sprintf("%d accepted", accepted)
		}
		return ""
	})
	want := map[string]bool{}
	for id := range valid {
		want[id] = true
	}
	for id := range fixable {
		want[id] = true
	}
	s.expectReadModels(s.tenantA, want)

	second := s.replayQuarantine(s.keyA, `{"filter":{}}`)
	if second.Selected != 100 || second.Accepted != 0 || second.Duplicate != 0 || second.Rejected != 100 {
		t.Fatalf("second replay: %+v", second)
	}
	s.expectReadModels(s.tenantA, want)
	s.expectReadModels(s.tenantB, all)
	if n := s.pgCount(`SELECT count(*) FROM quarantine WHERE tenant_id = $1 AND state = 'replayed'`, s.tenantA); n != int64(len(fixable)) {
		t.Fatalf("%d entries replayed, want %d", n, len(fixable))
	}

	var req erasureAnswer
	if code := s.call(s.keyA, http.MethodPost, s.gatewayURL+"/v1/erasures", "application/json", `{"subject":"eve"}`, &req); code != http.StatusAccepted {
		t.Fatalf("POST /v1/erasures: %d", code)
	}
	eventually(t, 2*time.Minute, "the erasure done", func() string {
		var got erasureAnswer
		s.call(s.keyA, http.MethodGet, s.gatewayURL+req.StatusURL, "", "", &got)
		if got.State != "done" {
			return "state " + got.State
		}
		return ""
	})
	if n := s.pgCount(`SELECT count(*) FROM quarantine WHERE tenant_id = $1 AND subject = 'eve'`, s.tenantA); n != 0 {
		t.Fatalf("%d quarantined events of the erased subject remain", n)
	}
	if n := s.pgCount(`SELECT count(*) FROM quarantine WHERE tenant_id = $1`, s.tenantA); n != 200-eveEvents {
		t.Fatalf("%d quarantined events remain, want %d", n, 200-eveEvents)
	}
}
