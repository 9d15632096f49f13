package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// TestPostgresSIGKILLedAndRestartedLosesNothingAndCountsStayExact crashes a
// private PostgreSQL (postmaster and backends SIGKILLed, crash recovery on
// restart) while the projector writes to it: readiness fails naming
// postgres, the projector recovers without a restart, and the read model
// ends with exactly the first copy of every key.
func TestPostgresSIGKILLedAndRestartedLosesNothingAndCountsStayExact(t *testing.T) {
	pg := testenv.StartPostgres(t)
	t.Setenv("PULSESTREAM_POSTGRES_URL", pg.URL) // the harness migrates its schema there
	h := newHarness(t, 3)
	recs, exp := h.dupLog(20000, 0.1)
	h.produce(recs[:10000]...)
	addr := h.start("--projector-sinks", "postgres", "--projector-batch-size", "500",
		"--projector-store-timeout", "2s", "--postgres-dial-timeout", "1s")
	waitFor(t, 60*time.Second, "first rows", func() bool { return h.pgTotal() > 0 })

	pg.Kill()
	crashedAt := h.lag("postgres")
	h.produce(recs[10000:]...) // arrives while PostgreSQL is down
	waitFor(t, 20*time.Second, "readiness failing on postgres", func() bool {
		code, body := readyz(addr)
		return code == 503 && strings.Contains(body, "postgres")
	})
	pg.Start()
	h.pool.Reset() // the test's own pool: drop the connections the crash broke
	waitFor(t, 2*time.Minute, "postgres sink at lag 0 after the restart", func() bool { return h.lag("postgres") == 0 })
	waitFor(t, 20*time.Second, "readiness back", func() bool { code, _ := readyz(addr); return code == 200 })

	stored := h.pgTotal()
	if stored != exp.total {
		t.Errorf("postgres rows %d, want %d", stored, exp.total)
	}
	equalCounts(t, "postgres", h.pgCounts(), exp)
	t.Logf("lag when PostgreSQL was killed: %d records", crashedAt)
	fmt.Printf("faults: 1 injected, %d events acknowledged, %d stored, %d lost, %d doubled\n",
		exp.total, stored, max(exp.total-stored, 0), max(stored-exp.total, 0))
}
