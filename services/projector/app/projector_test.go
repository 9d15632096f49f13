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
