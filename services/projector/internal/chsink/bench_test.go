package chsink

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

// benchRecords are n event records of 4 tenants (every 10th record repeats
// an earlier id).
func benchRecords(n int) []*kgo.Record {
	now := time.Now().UTC()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		id := fmt.Sprintf("evt-%07d", i-i/10*(i%10/9))
		r := schemas.EventRecord("t", &schemas.Event{Version: 1, TenantID: fmt.Sprintf("tenant-bench-%d", i%4), IngestID: "01JDZ8Q6W3K7", ReceivedAt: now,
			ContentHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", ID: id, Type: "order.created", Source: "shop",
			Subject: "cart-1", Time: now, DataContentType: "application/json", Data: json.RawMessage(`{"amount":42,"currency":"EUR","items":[1,2,3]}`)})
		r.Offset = int64(i)
		recs[i] = r
	}
	return recs
}

func decodeAll(tb testing.TB, recs []*kgo.Record, items []record.Item) []record.Item {
	items = items[:0]
	for _, r := range recs {
		it, err := record.Decode(r)
		if err != nil {
			tb.Fatal(err)
		}
		items = append(items, it)
	}
	return items
}

// BenchmarkBatchBuild is the ClickHouse batch build: 1,000 records decoded
// and planned into events rows (10% of them copies of earlier keys), given
// the stored state the existence query returns (none here).
func BenchmarkBatchBuild(b *testing.B) {
	recs := benchRecords(1000)
	items := make([]record.Item, 0, len(recs))
	b.ReportAllocs()
	for b.Loop() {
		items = decodeAll(b, recs, items)
		if rows, _ := Plan(items, nil); len(rows) == 0 {
			b.Fatal("no rows")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/event")
}

// eventsColumnTypes are the types of the events columns the sink writes
// (migrations/clickhouse 00001, 00010 and 00030).
var eventsColumnTypes = map[string]column.Type{
	"tenant_id": "LowCardinality(String)", "external_id": "String", "type": "LowCardinality(String)", "source": "LowCardinality(String)",
	"subject": "String", "event_time": "DateTime64(3, 'UTC')", "received_at": "DateTime64(3, 'UTC')", "kafka_partition": "Int32",
	"kafka_offset": "Int64", "version": "UInt64", "is_deleted": "UInt8", "rollup_sign": "Int8", "data": "String",
}

// BenchmarkWriteWithoutEngine is the sink's own work for one batch of
// 10,000 decoded records, everything of Write but the engine's two requests:
// index the keys, build the existence query, plan the rows (no key stored)
// and fill the driver's block of the events columns (what Send encodes).
func BenchmarkWriteWithoutEngine(b *testing.B) {
	items := decodeAll(b, benchRecords(10000), nil)
	b.ReportAllocs()
	for b.Loop() {
		bk := indexKeys(items)
		if q := lookupQuery(bk.keys); len(q) == 0 {
			b.Fatal("no query")
		}
		rows, _ := plan(items, bk.slot, make([]state, len(bk.keys)))
		blk := proto.NewBlock()
		for _, c := range insertColumns {
			if err := blk.AddColumn(c.name, eventsColumnTypes[c.name]); err != nil {
				b.Fatal(err)
			}
		}
		for i, c := range insertColumns {
			if _, err := blk.Columns[i].Append(c.values(rows)); err != nil {
				b.Fatal(err)
			}
		}
		if blk.Rows() != len(rows) {
			b.Fatalf("block rows %d, want %d", blk.Rows(), len(rows))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/event")
}

// BenchmarkKnownKeys is what the set of stored keys (known.go) costs the
// projector for one batch of 10,000 decoded records against a set already
// holding 1,000,000 keys: hash, probe and add every key (toAsk, none
// stored). Each round's keys are another tenant's, so they are new to the
// set. BenchmarkLookupQuery is the query
// text it saves building for those keys.
func BenchmarkKnownKeys(b *testing.B) {
	items := decodeAll(b, benchRecords(10000), nil)
	bk := indexKeys(items)
	s := &Sink{KnownMax: DefaultKnownMax}
	s.known.valid, s.known.hashes = true, map[uint64]struct{}{}
	for i := range 1_000_000 {
		s.known.hashes[keyHash(key{"tenant-other", fmt.Sprintf("old-%d", i)})] = struct{}{}
	}
	tenants := map[string][]string{} // a batch's tenant -> its name in each round
	for _, k := range bk.keys {
		tenants[k.tenant] = nil
	}
	names := make([]string, len(bk.keys))
	round := 0
	b.ReportAllocs()
	for b.Loop() {
		round++
		for t := range tenants {
			tenants[t] = append(tenants[t], fmt.Sprintf("%s-round-%d", t, round))
		}
		for i := range bk.keys {
			if names[i] == "" {
				names[i] = bk.keys[i].tenant
			}
			bk.keys[i].tenant = tenants[names[i]][round-1]
		}
		ask, err := s.toAsk(b.Context(), bk)
		if err != nil || len(ask) != 0 {
			b.Fatalf("asked %d keys, %v", len(ask), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/event")
}

// BenchmarkLookupQuery builds the existence query of a batch of 10,000
// records' keys.
func BenchmarkLookupQuery(b *testing.B) {
	bk := indexKeys(decodeAll(b, benchRecords(10000), nil))
	b.ReportAllocs()
	for b.Loop() {
		if q := lookupQuery(bk.keys); len(q) == 0 {
			b.Fatal("no query")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(bk.keys)), "ns/key")
}
