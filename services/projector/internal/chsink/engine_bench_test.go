package chsink

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pulsestream/pulsestream/migrations/migratetest"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// BenchmarkDrainIntoEngine is the sink's drain through a private ClickHouse
// engine (so its CPU is this benchmark's alone): one iteration is Write of a
// batch of 10,000 records (4 tenants) whose keys are new to the table, into
// the migrated schema with one meter view as the query service creates it.
// It reports events/s, the engine's CPU seconds per million records and this
// process's (the sink's). For A/B runs of the insert deduplication
// (migration 00080, resend.go) against the code before it; -benchtime=Nx.
func BenchmarkDrainIntoEngine(b *testing.B) {
	if !testenv.Integration() {
		b.Skip("integration benchmark: source scripts/env.sh")
	}
	ch := testenv.StartClickHouse(b)
	var rb [5]byte
	_, _ = rand.Read(rb[:])
	db := "benchdrain_" + hex.EncodeToString(rb[:])
	root, err := clickhouse.Open(&clickhouse.Options{Addr: []string{ch.Addr}, Protocol: clickhouse.HTTP})
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	if err := root.Exec(b.Context(), "CREATE DATABASE "+db); err != nil {
		b.Fatal(err)
	}
	migratetest.ClickHouse(b, ch.Addr, db)
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{ch.Addr}, Protocol: clickhouse.HTTP, Auth: clickhouse.Auth{Database: db}})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec(b.Context(), `CREATE MATERIALIZED VIEW meter_mv_bench TO meter_values AS
		SELECT tenant_id, 'bench' AS version, event_time, external_id, rollup_sign AS sign, projected_at,
			type AS g0, JSONExtract(data, 'amount', 'Nullable(Float64)') AS num
		FROM events WHERE rollup_sign != 0`); err != nil {
		b.Fatal(err)
	}
	s := New(conn)
	items := decodeAll(b, benchRecords(10000), nil)
	events, distinct := 0, 0
	engine0, self0 := ch.CPUSeconds(), processCPU(b)
	start := time.Now()
	for round := 0; b.Loop(); round++ {
		for i := range items {
			items[i].TenantID = fmt.Sprintf("tenant-bench-%d-r%d", i%4, round)
			items[i].Offset = int64(round*len(items) + i)
		}
		if _, err := s.Write(b.Context(), items); err != nil {
			b.Fatal(err)
		}
		events += len(items)
		distinct += len(indexKeys(items).keys)
	}
	elapsed := time.Since(start)
	engine, self := ch.CPUSeconds()-engine0, processCPU(b)-self0
	var stored int64
	if err := conn.QueryRow(b.Context(), "SELECT sum(events) FROM events_per_minute").Scan(&stored); err != nil {
		b.Fatal(err)
	}
	if stored != int64(distinct) {
		b.Fatalf("the rollup counts %d events, want %d", stored, distinct)
	}
	b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
	b.ReportMetric(engine/float64(events)*1e6, "engine-cpu-s/M")
	b.ReportMetric(self/float64(events)*1e6, "sink-cpu-s/M")
	b.ReportMetric(0, "ns/op")
}

// processCPU is this process's user+system CPU seconds.
func processCPU(tb testing.TB) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
