package pulsestream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"

	pulsestream "github.com/pulsestream/pulsestream/clients/go"
)

// gateway stands in for the PulseStream gateway in the examples: it accepts
// every event, except those of type "bad", which it rejects as the real one
// rejects an invalid event.
func gateway() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			body, _ = gzip.NewReader(r.Body)
		}
		var events []struct{ ID, Type string }
		_ = json.NewDecoder(body).Decode(&events)
		type result struct {
			Index   int    `json:"index"`
			ID      string `json:"id"`
			Status  string `json:"status"`
			Code    string `json:"code,omitempty"`
			Message string `json:"message,omitempty"`
		}
		results := make([]result, len(events))
		status := http.StatusOK
		for i, e := range events {
			results[i] = result{Index: i, ID: e.ID, Status: "accepted"}
			if e.Type == "bad" {
				results[i] = result{Index: i, ID: e.ID, Status: "rejected", Code: "invalid_schema", Message: "type \"bad\" is not allowed here"}
				status = http.StatusMultiStatus
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"results": results})
	}))
}

// Send events and see what became of each through a callback.
func Example() {
	gw := gateway()
	defer gw.Close()

	var mu sync.Mutex
	var lines []string
	c, err := pulsestream.New(pulsestream.Config{
		Endpoint: gw.URL, // e.g. "http://127.0.0.1:8080"
		APIKey:   "ps_live_...",
		OnOutcome: func(o pulsestream.Outcome) {
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, strings.TrimSpace(fmt.Sprintf("%s %s %s", o.ID, o.Status, o.Code)))
		},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_ = c.Enqueue(ctx, pulsestream.Event{ID: "order-1", Type: "order.placed", Subject: "customer-7", Data: map[string]any{"total": 42}})
	_ = c.Enqueue(ctx, pulsestream.Event{ID: "order-2", Type: "bad"})
	if err := c.Close(ctx); err != nil { // sends what is buffered, waits for every outcome
		panic(err)
	}
	sort.Strings(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// order-1 accepted
	// order-2 rejected invalid_schema
}

// Outcomes can arrive on a channel instead; events without an id get a
// generated, time-sortable one (a ULID) that every retry reuses.
func ExampleConfig_outcomes() {
	gw := gateway()
	defer gw.Close()

	outcomes := make(chan pulsestream.Outcome, 100)
	c, err := pulsestream.New(pulsestream.Config{Endpoint: gw.URL, APIKey: "ps_live_...", Outcomes: outcomes})
	if err != nil {
		panic(err)
	}
	for i := range 3 {
		_ = c.Enqueue(context.Background(), pulsestream.Event{Type: "page.viewed", Data: map[string]int{"n": i}, Meta: i})
	}
	_ = c.Close(context.Background())
	close(outcomes)
	n := 0
	for o := range outcomes {
		if o.Status == pulsestream.Accepted && len(o.ID) == 26 {
			n++
		}
	}
	fmt.Println(n, "accepted with generated ids")
	// Output: 3 accepted with generated ids
}

// Fail fast instead of waiting when the buffer is full, and flush at a
// point of your choosing.
func ExampleClient_Flush() {
	gw := gateway()
	defer gw.Close()

	var accepted sync.WaitGroup
	c, _ := pulsestream.New(pulsestream.Config{Endpoint: gw.URL, APIKey: "ps_live_...",
		OnFull: pulsestream.FailFast, BufferEvents: 1000, Linger: time.Hour,
		OnOutcome: func(pulsestream.Outcome) { accepted.Done() }})
	defer c.Close(context.Background())
	for i := range 10 {
		accepted.Add(1)
		if err := c.Enqueue(context.Background(), pulsestream.Event{Type: "tick", Data: i}); err != nil {
			accepted.Done() // ErrBufferFull: not queued, no outcome will come
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Flush(ctx); err != nil { // does not wait for the hour of Linger
		panic(err)
	}
	accepted.Wait()
	fmt.Println(c.Stats().Pending, "pending")
	// Output: 0 pending
}

// Send events that are JSON already (a CloudEvent per line of a file, say),
// with a stable id for those that have none.
func ExampleClient_EnqueueRaw() {
	gw := gateway()
	defer gw.Close()

	c, _ := pulsestream.New(pulsestream.Config{Endpoint: gw.URL, APIKey: "ps_live_...",
		OnOutcome: func(o pulsestream.Outcome) { fmt.Println(o.ID, o.Status) }})
	id, err := c.EnqueueRaw(context.Background(), pulsestream.RawEvent{
		JSON:      []byte(`{"type":"user.signed_up","data":{"plan":"pro"}}`),
		DefaultID: "signups.ndjson:1", // the same on every run, so a re-run is answered "duplicate"
	})
	fmt.Println(id, err)
	_ = c.Close(context.Background())
	// Output:
	// signups.ndjson:1 <nil>
	// signups.ndjson:1 accepted
}
