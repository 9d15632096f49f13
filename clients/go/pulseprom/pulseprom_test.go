package pulseprom_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	pulsestream "github.com/pulsestream/pulsestream/clients/go"
	"github.com/pulsestream/pulsestream/clients/go/pulseprom"
)

func TestCollectorCountsRequestsAndOutcomes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"results": []map[string]any{
			{"index": 0, "id": "a", "status": "accepted"}, {"index": 1, "id": "b", "status": "rejected", "code": "invalid_schema"}}})
	}))
	defer srv.Close()
	col := pulseprom.New()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(col)
	c, err := pulsestream.New(pulsestream.Config{Endpoint: srv.URL, APIKey: "k", Metrics: col})
	if err != nil {
		t.Fatal(err)
	}
	col.Watch(c)
	_ = c.Enqueue(context.Background(), pulsestream.Event{ID: "a", Type: "t"})
	_ = c.Enqueue(context.Background(), pulsestream.Event{ID: "b", Type: "t"})
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP pulsestream_client_events_total Events by final outcome.
# TYPE pulsestream_client_events_total counter
pulsestream_client_events_total{outcome="accepted"} 1
pulsestream_client_events_total{outcome="rejected"} 1
# HELP pulsestream_client_requests_total HTTP attempts by answer status (0: transport error or timeout).
# TYPE pulsestream_client_requests_total counter
pulsestream_client_requests_total{status="200"} 1
# HELP pulsestream_client_pending_events Events enqueued without an outcome yet.
# TYPE pulsestream_client_pending_events gauge
pulsestream_client_pending_events 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "pulsestream_client_events_total",
		"pulsestream_client_requests_total", "pulsestream_client_pending_events"); err != nil {
		t.Fatal(err)
	}
}
