package chsink

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

// BenchmarkBatchBuild is the ClickHouse batch build: 1,000 records decoded
// and planned into events rows (10% of them copies of earlier keys), given
// the stored state the existence query returns (none here).
func BenchmarkBatchBuild(b *testing.B) {
	now := time.Now().UTC()
	recs := make([]*kgo.Record, 1000)
	for i := range recs {
		id := fmt.Sprintf("evt-%07d", i-i/10*(i%10/9)) // every 10th record repeats an earlier id
		r := schemas.EventRecord("t", &schemas.Event{Version: 1, TenantID: "tenant-bench", IngestID: "01JDZ8Q6W3K7", ReceivedAt: now,
			ContentHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", ID: id, Type: "order.created", Source: "shop",
			Subject: "cart-1", Time: now, DataContentType: "application/json", Data: json.RawMessage(`{"amount":42,"currency":"EUR","items":[1,2,3]}`)})
		r.Offset = int64(i)
		recs[i] = r
	}
	items := make([]record.Item, 0, len(recs))
	b.ReportAllocs()
	for b.Loop() {
		items = items[:0]
		for _, r := range recs {
			it, err := record.Decode(r)
			if err != nil {
				b.Fatal(err)
			}
			items = append(items, it)
		}
		if rows, _ := Plan(items, nil); len(rows) == 0 {
			b.Fatal("no rows")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/event")
}
