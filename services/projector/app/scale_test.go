package app_test

import (
	"testing"
	"time"
)

// TestHundredThousandRecordsWithTenPercentDuplicatesGiveExactCountsInBothStores
// is the acceptance run: 100,000 records, 10% of them copies of earlier keys
// with other attributes, must give exactly 90,000 rows in PostgreSQL and the
// same exact totals, per-type and per-minute counts in ClickHouse.
func TestHundredThousandRecordsWithTenPercentDuplicatesGiveExactCountsInBothStores(t *testing.T) {
	if testing.Short() {
		t.Skip("100k records: not in -short")
	}
	h := newHarness(t, 6)
	recs, exp := h.dupLog(100000, 0.1)
	if exp.total != 90000 {
		t.Fatalf("log has %d unique keys", exp.total)
	}
	start := time.Now()
	h.produce(recs...)
	t.Logf("produced %d records in %s", len(recs), time.Since(start).Round(time.Millisecond))

	start = time.Now()
	h.start("--projector-batch-size", "10000")
	var pgDone, chDone time.Duration
	waitFor(t, 3*time.Minute, "both sinks at lag 0", func() bool {
		if pgDone == 0 && h.lag("postgres") == 0 {
			pgDone = time.Since(start)
		}
		if chDone == 0 && h.lag("clickhouse") == 0 {
			chDone = time.Since(start)
		}
		return pgDone > 0 && chDone > 0
	})
	t.Logf("postgres caught up in %s (%.0f records/s), clickhouse in %s (%.0f records/s) [both sinks in one process, sharing 2 cores]",
		pgDone.Round(time.Millisecond), float64(len(recs))/pgDone.Seconds(), chDone.Round(time.Millisecond), float64(len(recs))/chDone.Seconds())

	if n := h.pgTotal(); n != 90000 {
		t.Fatalf("postgres rows %d, want 90000", n)
	}
	pg := h.pgCounts()
	equalCounts(t, "postgres", pg, exp)
	equalCounts(t, "clickhouse rollup", h.chRollup(), exp)
	equalCounts(t, "clickhouse events FINAL", h.chFinal(), exp)
	if n := h.chRowCount(); n != 90000 {
		t.Fatalf("clickhouse stored %d rows, want 90000", n)
	}
}
