package load

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/tools/loadgen/internal/gen"
)

func TestNonLoopbackTargetsAreRefused(t *testing.T) {
	ctx := context.Background()
	for _, ok := range []string{"127.0.0.1:19092", "http://127.0.0.1:8080", "http://[::1]:80", "localhost:5432"} {
		if err := CheckLoopback(ctx, ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"192.0.2.10:9092", "http://10.1.2.3:8080", "http://[2001:db8::1]:80"} {
		if err := CheckLoopback(ctx, bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if _, err := RunHTTP(ctx, HTTPConfig{URL: "http://192.0.2.10:8080", Keys: map[string]string{"a": "k"}, Gen: gen.Config{Tenants: []string{"a"}},
		Concurrency: 1, Batch: 1, Duration: time.Second}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("RunHTTP against a non-loopback gateway: %v", err)
	}
}

// fakeGateway answers like the gateway: every first id accepted, every
// repeat duplicate; it records what it saw.
type fakeGateway struct {
	mu       sync.Mutex
	seen     map[string]int
	events   int
	gzipped  int
	requests int
}

func (f *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	raw, _ := io.ReadAll(body)
	var evs []map[string]any
	if len(raw) > 0 && raw[0] == '[' {
		if err := json.Unmarshal(raw, &evs); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
	} else {
		var ev map[string]any
		if err := json.Unmarshal(raw, &ev); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		evs = append(evs, ev)
	}
	f.mu.Lock()
	f.requests++
	if r.Header.Get("Content-Encoding") == "gzip" {
		f.gzipped++
	}
	var results []string
	for i, ev := range evs {
		id := fmt.Sprint(ev["id"])
		status := "accepted"
		if f.seen[id] > 0 {
			status = "duplicate"
		}
		f.seen[id]++
		f.events++
		results = append(results, fmt.Sprintf(`{"index":%d,"id":%q,"status":%q}`, i, id, status))
	}
	f.mu.Unlock()
	fmt.Fprintf(w, `{"results":[%s]}`, strings.Join(results, ","))
}

func TestHTTPRunIsBoundedByCountAndCountsEveryAnswer(t *testing.T) {
	for _, c := range []struct {
		batch int
		gzip  bool
	}{{1, false}, {100, true}} {
		t.Run(fmt.Sprintf("batch%d-gzip%v", c.batch, c.gzip), func(t *testing.T) {
			f := &fakeGateway{seen: map[string]int{}}
			srv := httptest.NewServer(f)
			defer srv.Close()
			res, err := RunHTTP(context.Background(), HTTPConfig{URL: srv.URL, Keys: map[string]string{"a": "ka", "b": "kb"},
				Gen: gen.Config{Prefix: "t", Tenants: []string{"a", "b"}, DataBytes: 300, Base: time.Now()}, Concurrency: 4, Batch: c.batch,
				Gzip: c.gzip, DupRatio: 0.1, Duration: 20 * time.Second, MaxEvents: 4000, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if res.Events != 4000 || int(res.Events) != f.events {
				t.Fatalf("sent %d events, gateway saw %d, want 4000", res.Events, f.events)
			}
			if res.Accepted+res.Duplicate != res.Events || res.Failed != 0 {
				t.Fatalf("accepted %d + duplicate %d != %d (failed %d, errors %v)", res.Accepted, res.Duplicate, res.Events, res.Failed, res.Errors)
			}
			if int(res.Accepted) != len(f.seen) || res.Duplicate != res.Repeats {
				t.Fatalf("accepted %d, distinct ids %d; duplicates %d, repeats sent %d", res.Accepted, len(f.seen), res.Duplicate, res.Repeats)
			}
			if r := float64(res.Repeats) / float64(res.Events); r < 0.05 || r > 0.15 {
				t.Fatalf("repeat ratio %.3f, want about 0.1", r)
			}
			if c.gzip != (f.gzipped == f.requests) || len(res.Latencies) != int(res.Requests) {
				t.Fatalf("gzip %v: %d of %d requests gzipped; %d latencies", c.gzip, f.gzipped, f.requests, len(res.Latencies))
			}
		})
	}
}

func TestOpenLoopOffersTheConfiguredRate(t *testing.T) {
	f := &fakeGateway{seen: map[string]int{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	res, err := RunHTTP(context.Background(), HTTPConfig{URL: srv.URL, Keys: map[string]string{"a": "ka"},
		Gen: gen.Config{Prefix: "t", Tenants: []string{"a"}, DataBytes: 100, Base: time.Now()}, Concurrency: 8, Batch: 10,
		Rate: 2000, Duration: time.Second, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	// 2,000 events/s for one second in requests of 10: about 200 requests.
	if sent := res.Events + res.Missed; sent < 1500 || sent > 2100 {
		t.Fatalf("offered %d events (sent %d, missed %d), want about 2000", sent, res.Events, res.Missed)
	}
}
