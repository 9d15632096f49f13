package app

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkIngestBatch1000 is one whole request of 1,000 ~300-byte events
// through HTTP, auth, validation, dedup lookup, produce to kfake and the
// answer. ns/op and allocs/op are per event (b.N counts events).
func BenchmarkIngestBatch1000(b *testing.B) {
	g, _ := unitGateway(b, nil)
	now := benchTime()
	round := 0
	mk := func() []byte {
		round++
		evs := make([]string, 1000)
		for i := range evs {
			evs[i] = fmt.Sprintf(`{"specversion":"1.0","id":"r%d-%d","type":"com.example.order.created","source":"/shop/eu","subject":"order-%d","time":"%s","datacontenttype":"application/json","data":{"order_id":%d,"customer":"cust-%d","amount":123.45,"currency":"EUR","items":[{"sku":"A-1","qty":2},{"sku":"B-2","qty":1}],"note":"deliver to back door"}}`, round, i, i, now, i, i%97)
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

// BenchmarkIngestSingle is one single-event request through the router
// (auth, decode, dedup lookup, produce to kfake, marker save, the answer),
// without a network: ns/op and allocs/op are per request.
func BenchmarkIngestSingle(b *testing.B) {
	g, _ := unitGateway(b, nil)
	h := g.app.Handler()
	now := benchTime()
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n++
		body := fmt.Sprintf(`{"specversion":"1.0","id":"s-%d","type":"com.example.order.created","source":"/shop/eu","subject":"order-%d","time":"%s","datacontenttype":"application/json","data":{"order_id":%d,"customer":"cust-17","amount":123.45,"currency":"EUR","items":[{"sku":"A-1","qty":2},{"sku":"B-2","qty":1}],"note":"deliver to back door"}}`, n, n, now, n)
		req := httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+keyA)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// benchTime is the events' time: now, so that no tenant's retention refuses
// them as too old.
func benchTime() string { return time.Now().UTC().Format(time.RFC3339Nano) }
