package chsink

import (
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

func ev(id string, off int64, typ string, minute int) record.Item {
	return record.Item{Kind: record.KindEvent, TenantID: "t", ExternalID: id, Offset: off,
		Event: &schemas.Event{Version: 1, TenantID: "t", ID: id, Type: typ, Time: time.Date(2026, 1, 1, 0, minute, 0, 0, time.UTC)}}
}

func ts(id string, off int64) record.Item {
	return record.Item{Kind: record.KindTombstone, TenantID: "t", ExternalID: id, Offset: off,
		Tombstone: &schemas.Tombstone{Version: 1, TenantID: "t", ID: id, DeletedAt: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}}
}

// sum of signs per (type, minute) = the rollup's contribution of the batch.
func signs(rows []Row) map[string]int {
	out := map[string]int{}
	for _, r := range rows {
		out[r.Type+"@"+r.EventTime.Format("15:04")] += int(r.Sign)
	}
	return out
}

func TestPlanKeepsTheFirstCopyAndCountsEachKeyOnce(t *testing.T) {
	items := []record.Item{ev("a", 1, "x", 1), ev("a", 5, "y", 2), ev("b", 2, "x", 1), ev("b", 3, "x", 1)}
	rows, dups := Plan(items, nil)
	if len(rows) != 2 || dups != 2 {
		t.Fatalf("rows %d dups %d", len(rows), dups)
	}
	if got := signs(rows); got["x@00:01"] != 2 || len(got) != 1 {
		t.Fatalf("signs %v: the later copy of a (type y) must not count", got)
	}
	if rows[0].Version <= EventVersion(5) {
		t.Fatal("the first copy must carry the higher version")
	}
}

func TestPlanSkipsKeysAlreadyStored(t *testing.T) {
	stored := map[key]state{{"t", "a"}: {exists: true, typ: "x", time: time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)}}
	rows, dups := Plan([]record.Item{ev("a", 9, "x", 1)}, stored)
	if len(rows) != 0 || dups != 1 {
		t.Fatalf("a replayed copy must add nothing: rows %v dups %d", rows, dups)
	}
}

func TestPlanTombstoneDecrementsTheDeletedEventsMinute(t *testing.T) {
	stored := map[key]state{{"t", "a"}: {exists: true, typ: "x", time: time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)}}
	rows, _ := Plan([]record.Item{ts("a", 10), ts("a", 11), ev("a", 12, "x", 1)}, stored)
	if len(rows) != 1 || rows[0].IsDeleted != 1 || rows[0].Sign != -1 || signs(rows)["x@00:01"] != -1 {
		t.Fatalf("rows %+v", rows)
	}
	if rows[0].Version <= EventVersion(0) {
		t.Fatal("a tombstone must beat every event copy")
	}
}

func TestPlanTombstoneOfUnseenKeyBlocksLaterCopiesAndCountsNothing(t *testing.T) {
	rows, dups := Plan([]record.Item{ts("a", 1), ev("a", 2, "x", 1)}, nil)
	if len(rows) != 1 || rows[0].Sign != 0 || rows[0].IsDeleted != 1 || dups != 1 {
		t.Fatalf("rows %+v dups %d", rows, dups)
	}
}

func TestPlanEventThenTombstoneInOneBatchNetsZero(t *testing.T) {
	rows, _ := Plan([]record.Item{ev("a", 1, "x", 1), ts("a", 2)}, nil)
	if len(rows) != 2 || signs(rows)["x@00:01"] != 0 {
		t.Fatalf("rows %+v", rows)
	}
}
