package app_test

import (
	"testing"
	"time"
)

func TestPostgresKeepsFirstCopyOfEachKeyUnderDuplicates(t *testing.T) {
	h := newHarness(t, 3)
	recs, exp := h.dupLog(2000, 0.1)
	h.produce(recs...)
	h.start("--projector-sinks", "postgres")
	waitFor(t, 60*time.Second, "postgres lag 0", func() bool { return h.lag("postgres") == 0 })
	equalCounts(t, "postgres", h.pgCounts(), exp)
	if n := h.pgTotal(); n != 1800 {
		t.Fatalf("postgres rows %d, want 1800", n)
	}
}

func TestClickHouseCountsAreExactUnderDuplicatesAndEqualPostgres(t *testing.T) {
	h := newHarness(t, 3)
	recs, exp := h.dupLog(2000, 0.1)
	h.produce(recs...)
	h.start()
	waitFor(t, 90*time.Second, "both sinks at lag 0", func() bool { return h.lag("postgres") == 0 && h.lag("clickhouse") == 0 })
	equalCounts(t, "postgres", h.pgCounts(), exp)
	equalCounts(t, "clickhouse rollup", h.chRollup(), exp)
	equalCounts(t, "clickhouse events FINAL", h.chFinal(), exp)
	if n := h.chRowCount(); n != 1800 {
		t.Fatalf("clickhouse stored %d rows, want 1800 (duplicates must not be inserted)", n)
	}
}
