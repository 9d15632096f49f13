package pulsestream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// cannedGateway accepts everything with as little work as it can (it counts
// events by their "specversion" member and answers from a cache), so that
// BenchmarkEnqueueToOutcome measures the client: its ceiling, not the gateway's.
func cannedGateway(b *testing.B) *httptest.Server {
	var mu sync.Mutex
	answers := map[int][]byte{}
	marker := []byte(`{"specversion"`)
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				b.Error(err)
				return
			}
			body = zr
		}
		raw, _ := io.ReadAll(body)
		n := bytes.Count(raw, marker)
		mu.Lock()
		ans, ok := answers[n]
		if !ok {
			var sb strings.Builder
			sb.WriteString(`{"accepted":` + strconv.Itoa(n) + `,"duplicate":0,"rejected":0,"results":[`)
			for i := range n {
				if i > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, `{"index":%d,"id":"x","status":"accepted","ingest_id":"01JDZ6B3X8Y4K1M2N3P4Q5R6S7","partition":1,"offset":%d}`, i, i)
			}
			sb.WriteString("]}")
			ans = []byte(sb.String())
			answers[n] = ans
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(ans)
	}))
}

// BenchmarkEnqueueToOutcome: events of ~300 bytes of data from enqueue to
// outcome, 1,000 per request, 8 in flight, against the canned gateway on
// loopback. events/s is the client's ceiling in one process on this machine
// (the canned server shares it).
func BenchmarkEnqueueToOutcome(b *testing.B) {
	for _, gz := range []bool{false, true} {
		b.Run(fmt.Sprintf("gzip=%t", gz), func(b *testing.B) {
			srv := cannedGateway(b)
			defer srv.Close()
			var failed sync.Once
			c, err := New(Config{Endpoint: srv.URL, APIKey: "k", BatchMaxEvents: 1000, MaxInFlight: 8, BufferEvents: 50000, DisableGzip: !gz,
				OnOutcome: func(o Outcome) {
					if o.Status != Accepted {
						failed.Do(func() { b.Errorf("outcome %+v", o) })
					}
				}})
			if err != nil {
				b.Fatal(err)
			}
			data := json.RawMessage(`{"page":"/products/` + strings.Repeat("x", 240) + `","ms":123}`)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := c.Enqueue(context.Background(), Event{ID: "bench-" + strconv.Itoa(i), Type: "page.viewed", Source: "bench",
					Subject: "user-" + strconv.Itoa(i%1000), Data: data}); err != nil {
					b.Fatal(err)
				}
			}
			if err := c.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
