package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

func TestTombstoneHidesTheEventFromBothReadModelsAndRefusesLaterCopies(t *testing.T) {
	h := newHarness(t, 3)
	var recs []*kgo.Record
	exp := newExpected()
	for i := range 10 {
		at := baseTime.Add(time.Duration(i) * time.Minute)
		recs = append(recs, h.eventRecord(h.event(fmt.Sprintf("e%d", i), "order.created", at)))
		if i >= 2 {
			exp.add("order.created", at, 1)
		}
	}
	// e9 is created and erased in the same batch; the others in later batches.
	h.produce(append(recs, h.tombstoneRecord("e9"))...)
	exp.add("order.created", baseTime.Add(9*time.Minute), -1)
	h.holdMerges()
	h.start()
	waitFor(t, 60*time.Second, "lag 0", func() bool { return h.lag("postgres") == 0 && h.lag("clickhouse") == 0 })

	// Erase e0, e1 (stored earlier) and "ghost" (never seen), then re-send all three.
	h.produce(h.tombstoneRecord("e0"), h.tombstoneRecord("e1"), h.tombstoneRecord("ghost"), h.tombstoneRecord("e0"),
		h.eventRecord(h.event("e0", "order.created", baseTime)), h.eventRecord(h.event("ghost", "order.created", baseTime)))
	waitFor(t, 60*time.Second, "lag 0", func() bool { return h.lag("postgres") == 0 && h.lag("clickhouse") == 0 })

	pg := h.pgCounts()
	equalCounts(t, "postgres", pg, exp)
	equalCounts(t, "clickhouse rollup", h.chRollup(), exp)
	ch := h.chFinal()
	equalCounts(t, "clickhouse events FINAL", ch, exp)
	if pg.deleted != 4 || ch.deleted != 4 {
		t.Fatalf("deleted rows: postgres %d, clickhouse %d, want 4 (e0, e1, e9, ghost)", pg.deleted, ch.deleted)
	}
	h.requireNoRawExcess()
	// The erased row keeps only its identity, hash, position and deletion time.
	var (
		hash              *string
		typ, data, ingest *string
		part              int32
		off               int64
		deletedAt         *time.Time
	)
	err := h.pool.QueryRow(context.Background(), `SELECT content_hash, type, data::text, ingest_id, kafka_partition, kafka_offset, deleted_at
		FROM events WHERE tenant_id = $1 AND external_id = 'e0'`, h.tenant).Scan(&hash, &typ, &data, &ingest, &part, &off, &deletedAt)
	if err != nil {
		t.Fatal(err)
	}
	if hash == nil || *hash != "hash-e0-order.created" || typ != nil || data != nil || ingest != nil || deletedAt == nil || off != 0 {
		t.Fatalf("erased row: hash %v type %v data %v ingest %v offset %d deleted_at %v", hash, typ, data, ingest, off, deletedAt)
	}
	var ghostHash *string
	if err := h.pool.QueryRow(context.Background(), `SELECT content_hash, deleted_at FROM events WHERE tenant_id = $1 AND external_id = 'ghost'`, h.tenant).Scan(&ghostHash, &deletedAt); err != nil {
		t.Fatalf("the tombstone of an unseen id must leave a deleted row: %v", err)
	}
	if ghostHash != nil || deletedAt == nil {
		t.Fatalf("ghost row: hash %v deleted_at %v", ghostHash, deletedAt)
	}
}

func TestPoisonRecordsGoToTheDLQWithTheirErrorAndLaterRecordsAreProjected(t *testing.T) {
	h := newHarness(t, 1) // one partition: "later" is well defined
	good := func(id string) *kgo.Record { return h.eventRecord(h.event(id, "order.created", baseTime)) }
	notJSON := good("bad-json")
	notJSON.Value = []byte("{this is not json")
	future := good("bad-version")
	for i := range future.Headers {
		if future.Headers[i].Key == schemas.HeaderVersion {
			future.Headers[i].Value = []byte("99")
		}
	}
	// PostgreSQL refuses \u0000 in jsonb (SQLSTATE 22P05): a store rejection.
	// ClickHouse does not store data, so it accepts this one.
	nul := h.event("nul-data", "order.created", baseTime)
	nul.Data = []byte(`{"text":"a\u0000b"}`)
	h.produce(good("g1"), notJSON, future, h.eventRecord(nul), good("g2"), good("g3"))
	addr := h.start()
	waitFor(t, 60*time.Second, "lag 0", func() bool { return h.lag("postgres") == 0 && h.lag("clickhouse") == 0 })
	waitFor(t, 10*time.Second, "metrics", func() bool {
		m := metrics(addr)
		return strings.Contains(m, `pulsestream_projector_dlq_records_total{sink="postgres"} 3`) &&
			strings.Contains(m, `pulsestream_projector_dlq_records_total{sink="clickhouse"} 2`) &&
			strings.Contains(m, `pulsestream_projector_records_consumed_total{sink="postgres"} 6`) &&
			strings.Contains(m, `pulsestream_projector_rows_written_total{sink="clickhouse"} 4`) &&
			strings.Contains(m, `pulsestream_projector_consumer_lag{partition="0",sink="postgres"} 0`) &&
			strings.Contains(m, `pulsestream_projector_batch_duration_seconds_count{sink="postgres"}`)
	})

	if n := h.pgTotal(); n != 3 {
		t.Fatalf("postgres rows %d, want g1 g2 g3", n)
	}
	if c := h.chFinal(); c.total != 4 {
		t.Fatalf("clickhouse rows %d, want g1 g2 g3 nul-data", c.total)
	}
	// DLQ: postgres reports 3, clickhouse 2.
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.brokers), kgo.ConsumeTopics(h.dlq), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	type key struct{ sink, id string }
	// Every record of the DLQ, up to its end offsets: a multiset, so a
	// record written twice shows.
	got, copies := map[key]map[string]string{}, map[key]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := h.adm.ListEndOffsets(ctx, h.dlq)
	if err != nil || ends.Error() != nil {
		t.Fatalf("DLQ end offsets: %v %v", err, ends.Error())
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	for read := int64(0); read < total && ctx.Err() == nil; {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			read++
			hs := map[string]string{}
			for _, hd := range r.Headers {
				hs[hd.Key] = string(hd.Value)
			}
			_, id, _ := schemas.SplitKey(r.Key)
			k := key{hs[schemas.HeaderDLQSink], id}
			got[k] = hs
			copies[k]++
		})
	}
	want := map[key]int64{{"postgres", "bad-json"}: 1, {"postgres", "bad-version"}: 2, {"postgres", "nul-data"}: 3, {"clickhouse", "bad-json"}: 1, {"clickhouse", "bad-version"}: 2}
	if total != int64(len(want)) || len(copies) != len(want) {
		t.Fatalf("DLQ holds %d records %v, want one each of %v", total, copies, want)
	}
	for k, n := range copies {
		if n != 1 {
			t.Fatalf("DLQ holds %d copies of %v", n, k)
		}
	}
	for k, off := range want {
		hs, ok := got[k]
		if !ok {
			t.Fatalf("DLQ lacks %v; has %v", k, got)
		}
		if hs[schemas.HeaderDLQTopic] != h.topic || hs[schemas.HeaderDLQPartition] != "0" || hs[schemas.HeaderDLQOffset] != strconv.FormatInt(off, 10) || hs[schemas.HeaderDLQError] == "" {
			t.Fatalf("DLQ record %v headers %v", k, hs)
		}
		t.Logf("%s/%s: %s", k.sink, k.id, hs[schemas.HeaderDLQError])
	}
}

func TestPostgresOutageSkipsNothingFailsReadinessAndDrainsAfterwards(t *testing.T) {
	h := newHarness(t, 3)
	u, err := url.Parse(h.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	px := testenv.NewCutProxy(t, u.Host)
	u.Host = px.Addr()

	first, exp := h.dupLog(6000, 0.1)
	h.produce(first[:3000]...)
	addr := h.start("--projector-sinks", "postgres", "--postgres-url", u.String(), "--projector-batch-size", "250",
		"--projector-store-timeout", "2s", "--postgres-dial-timeout", "1s")
	waitFor(t, 30*time.Second, "first rows", func() bool { return h.pgTotal() > 0 })

	px.Cut()
	h.produce(first[3000:]...) // arrives while PostgreSQL is unreachable
	// The outage lasts until readiness reports it, however long a loaded
	// machine takes (store timeout, then the next check).
	waitFor(t, 60*time.Second, "/readyz reporting postgres down during the outage", func() bool {
		code, body := readyz(addr)
		return code == 503 && strings.Contains(body, "postgres")
	})
	if lag := h.lag("postgres"); lag <= 0 {
		t.Fatalf("lag during the outage is %d: records were committed without being written", lag)
	}
	px.Restore()
	waitFor(t, 60*time.Second, "lag drains after the outage", func() bool { return h.lag("postgres") == 0 })
	waitFor(t, 15*time.Second, "/readyz ready again", func() bool { code, _ := readyz(addr); return code == 200 })
	if n := h.pgTotal(); n != exp.total {
		t.Fatalf("postgres rows %d, want %d", n, exp.total)
	}
	equalCounts(t, "postgres", h.pgCounts(), exp)
}

func metrics(addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestClickHouseOutageSkipsNothingFailsReadinessAndKeepsCountsExact(t *testing.T) {
	h := newHarness(t, 3)
	px := testenv.NewCutProxy(t, h.chAddr)
	recs, exp := h.dupLog(6000, 0.1)
	h.produce(recs[:3000]...)
	h.holdMerges()
	addr := h.start("--projector-sinks", "clickhouse", "--clickhouse-addr", px.Addr(), "--projector-batch-size", "250",
		"--projector-store-timeout", "2s")
	waitFor(t, 30*time.Second, "first rows", func() bool { return h.chRowCount() > 0 })

	px.Cut()
	h.produce(recs[3000:]...)
	// The outage lasts until readiness reports it, however long a loaded
	// machine takes (store timeout, then the next check).
	waitFor(t, 60*time.Second, "/readyz reporting clickhouse down during the outage", func() bool {
		code, body := readyz(addr)
		return code == 503 && strings.Contains(body, "clickhouse")
	})
	if lag := h.lag("clickhouse"); lag <= 0 {
		t.Fatalf("lag during the outage is %d: records were committed without being written", lag)
	}
	px.Restore()
	waitFor(t, 60*time.Second, "lag drains after the outage", func() bool { return h.lag("clickhouse") == 0 })
	equalCounts(t, "clickhouse rollup", h.chRollup(), exp)
	equalCounts(t, "clickhouse events FINAL", h.chFinal(), exp)
	if n := h.chRowCount(); n != exp.total {
		t.Fatalf("clickhouse stored %d rows, want %d", n, exp.total)
	}
	h.requireNoRawExcess()
}
