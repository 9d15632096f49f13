package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// TestClickHouseEngineSIGKILLedAndRestartedKeepsCountsExact crashes a private
// ClickHouse engine while the projector writes to it: readiness fails naming
// clickhouse, the projector recovers without a restart, and the exact counts
// (events FINAL and the per-minute rollup) hold every key once.
func TestClickHouseEngineSIGKILLedAndRestartedKeepsCountsExact(t *testing.T) {
	ch := testenv.StartClickHouse(t)
	t.Setenv("PULSESTREAM_CLICKHOUSE_ADDR", ch.Addr) // the harness migrates its database there
	h := newHarness(t, 3)
	recs, exp := h.dupLog(20000, 0.1)
	h.produce(recs[:10000]...)
	h.holdMerges()
	addr := h.start("--projector-sinks", "clickhouse", "--projector-batch-size", "1000",
		"--projector-store-timeout", "3s")
	waitFor(t, 60*time.Second, "first rows", func() bool { return h.chRowCount() > 0 })

	ch.Kill()
	crashedAt := h.lag("clickhouse")
	h.produce(recs[10000:]...) // arrives while the engine is down
	waitFor(t, 20*time.Second, "readiness failing on clickhouse", func() bool {
		code, body := readyz(addr)
		return code == 503 && strings.Contains(body, "clickhouse")
	})
	ch.Start()
	waitFor(t, 2*time.Minute, "clickhouse sink at lag 0 after the restart", func() bool { return h.lag("clickhouse") == 0 })
	waitFor(t, 30*time.Second, "readiness back", func() bool { code, _ := readyz(addr); return code == 200 })

	final, rollup := h.chFinal(), h.chRollup()
	equalCounts(t, "clickhouse events FINAL", final, exp)
	equalCounts(t, "clickhouse rollup", rollup, exp)
	raw, excess := h.chRowCount(), h.chRawExcess()
	t.Logf("lag when the engine was killed: %d records; raw rows %d (FINAL %d)", crashedAt, raw, final.total)
	fmt.Printf("faults: 1 injected, %d events acknowledged, %d stored, %d lost, %d doubled\n",
		exp.total, final.total, max(exp.total-final.total, 0), max(rollup.total-exp.total, 0)+len(excess))
	if raw != exp.total {
		t.Errorf("clickhouse holds %d raw rows, want %d", raw, exp.total)
	}
	h.requireNoRawExcess()
}
