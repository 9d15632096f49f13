package ingest

import (
	"slices"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/gateway/decode"
	"github.com/pulsestream/pulsestream/tenancy"
)

func TestTimePolicy(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clamp := tenancy.Tenant{RetentionDays: 30, FutureToleranceSeconds: 86400, FuturePolicy: tenancy.FutureClamp}
	reject := clamp
	reject.FuturePolicy = tenancy.FutureReject
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name     string
		tenant   tenancy.Tenant
		time     string // "" = not sent (received_at)
		sentat   any    // nil = no extension
		wantTime string // "" = unchanged
		code     string
		warnings []string
	}{
		{name: "no time", tenant: clamp},
		{name: "time within bounds", tenant: clamp, time: "2026-11-27T11:00:00Z"},
		{name: "sentat without time changes nothing", tenant: clamp, sentat: "2026-11-27T13:00:00Z"},
		{name: "producer clock 1h behind", tenant: clamp, time: "2026-11-27T10:00:00Z", sentat: "2026-11-27T11:00:00Z", wantTime: "2026-11-27T11:00:00Z"},
		{name: "producer clock 2h ahead", tenant: clamp, time: "2026-11-27T13:59:30.5Z", sentat: "2026-11-27T14:00:00Z", wantTime: "2026-11-27T11:59:30.5Z"},
		{name: "corrected into bounds: no clamp", tenant: reject, time: "2030-01-01T00:00:00Z", sentat: "2030-01-01T00:00:01Z", wantTime: "2026-11-27T11:59:59Z"},
		{name: "exactly at the tolerance", tenant: reject, time: "2026-11-28T12:00:00Z"},
		{name: "future beyond tolerance clamped", tenant: clamp, time: "2099-01-01T00:00:00Z", wantTime: "2026-11-27T12:00:00Z", warnings: []string{WarnTimeClamped}},
		{name: "future beyond tolerance rejected", tenant: reject, time: "2026-11-28T12:00:01Z", code: CodeTimeInFuture},
		{name: "skew corrected into the future", tenant: clamp, time: "2026-11-27T12:00:00Z", sentat: "2026-11-25T11:00:00Z", wantTime: "2026-11-27T12:00:00Z", warnings: []string{WarnTimeClamped}},
		{name: "older than retention", tenant: clamp, time: "2026-10-28T11:59:59Z", code: CodeEventTooOld},
		{name: "exactly at retention", tenant: clamp, time: "2026-10-28T12:00:00Z"},
		{name: "corrected beyond retention", tenant: clamp, time: "2026-11-01T00:00:00Z", sentat: "2026-12-02T00:00:00Z", code: CodeEventTooOld},
		{name: "sentat not a time", tenant: clamp, time: "2026-11-27T11:00:00Z", sentat: "yesterday", code: CodeInvalidSentAt},
		{name: "sentat not a string", tenant: clamp, time: "2026-11-27T11:00:00Z", sentat: true, code: CodeInvalidSentAt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := decode.Item{ID: "a", Event: schemas.Event{ID: "a", Type: "t", Time: now}}
			if tc.time != "" {
				it.Event.Time, it.TimeSet = at(tc.time), true
			}
			sent := it.Event.Time
			if tc.sentat != nil {
				it.Event.Extensions = map[string]any{SentAtExtension: tc.sentat}
			}
			items := []decode.Item{it}
			results := []Result{{ID: "a"}}
			keep, times := timePolicy(tc.tenant, items, []int{0}, results, now)
			if tc.code != "" {
				if len(keep) != 0 || results[0].Status != StatusRejected || results[0].Code != tc.code {
					t.Fatalf("kept %v, result %+v; want rejected %s", keep, results[0], tc.code)
				}
				return
			}
			var codes []string
			for _, w := range results[0].Warnings {
				codes = append(codes, w.Code)
			}
			if len(keep) != 1 || results[0].Status != "" || !slices.Equal(codes, tc.warnings) {
				t.Fatalf("kept %v, result %+v; want kept with warnings %v", keep, results[0], tc.warnings)
			}
			if !items[0].Event.Time.Equal(sent) {
				t.Fatal("timePolicy changed the event before the content hash")
			}
			setTimes(items, times)
			want := sent
			if tc.wantTime != "" {
				want = at(tc.wantTime)
			}
			if got := items[0].Event.Time; !got.Equal(want) {
				t.Fatalf("time %s, want %s", got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
			}
		})
	}
}

// TestTimePolicyAllocatesNothingForOrdinaryEvents: events without sentat and
// within bounds (the common case) cost no allocation.
func TestTimePolicyAllocatesNothingForOrdinaryEvents(t *testing.T) {
	now := time.Now()
	tn := tenancy.Tenant{RetentionDays: 30, FutureToleranceSeconds: 86400, FuturePolicy: tenancy.FutureClamp}
	items := make([]decode.Item, 100)
	for i := range items {
		items[i] = decode.Item{Event: schemas.Event{Time: now.Add(-time.Minute)}, TimeSet: i%2 == 0}
	}
	results := make([]Result, len(items))
	cand := make([]int, len(items))
	allocs := testing.AllocsPerRun(100, func() {
		for i := range cand {
			cand[i] = i
		}
		if _, times := timePolicy(tn, items, cand, results, now); times != nil {
			t.Fatal("times changed")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per request, want 0", allocs)
	}
}
