package pgsink_test

import (
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/internal/pgsink"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

func records(tb testing.TB, n int) []*kgo.Record {
	out := make([]*kgo.Record, n)
	for i := range out {
		id := fmt.Sprintf("evt-%07d", i)
		r := schemas.EventRecord("t", &schemas.Event{Version: 1, TenantID: "tenant-bench", IngestID: "01JDZ8Q6W3K7", ReceivedAt: time.Now().UTC(),
			ContentHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", ID: id, Type: "order.created", Source: "shop", Subject: "cart-1",
			Time: time.Now().UTC(), DataContentType: "application/json", Data: json.RawMessage(`{"amount":42,"currency":"EUR","items":[1,2,3]}`)})
		r.Offset = int64(i)
		out[i] = r
	}
	return out
}

// BenchmarkBatchBuild is the projector's batch build for PostgreSQL: 1,000
// records decoded into items and encoded as the binary COPY stream (what
// Write sends).
func BenchmarkBatchBuild(b *testing.B) {
	recs := records(b, 1000)
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
		rows, err := pgsink.NewRows(items)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/event")
}
