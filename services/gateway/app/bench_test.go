package app

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkIngestBatch1000 is one whole request of 1,000 ~300-byte events
// through HTTP, auth, validation, dedup lookup, produce to kfake and the
// answer. ns/op and allocs/op are per event (b.N counts events).
func BenchmarkIngestBatch1000(b *testing.B) {
	g, _ := unitGateway(b, nil)
	round := 0
	mk := func() []byte {
		round++
		evs := make([]string, 1000)
		for i := range evs {
			evs[i] = fmt.Sprintf(`{"specversion":"1.0","id":"r%d-%d","type":"com.example.order.created","source":"/shop/eu","subject":"order-%d","time":"2026-11-26T10:00:00.123Z","datacontenttype":"application/json","data":{"order_id":%d,"customer":"cust-%d","amount":123.45,"currency":"EUR","items":[{"sku":"A-1","qty":2},{"sku":"B-2","qty":1}],"note":"deliver to back door"}}`, round, i, i, i, i%97)
		}
		return []byte("[" + strings.Join(evs, ",") + "]")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 1000 {
		b.StopTimer()
		body := mk()
		b.StartTimer()
		if a := g.post(b, keyA, "application/json", body); a.status != 200 || a.body.Accepted != 1000 {
			b.Fatalf("%d %s", a.status, truncate(a.raw))
		}
	}
}
