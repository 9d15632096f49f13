package e2e

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is a local OTLP/HTTP traces endpoint (protobuf, as the
// exporter sends by default) that keeps every span it is sent.
type otlpReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []receivedSpan
}

type receivedSpan struct {
	service, name, traceID, spanID, parentID string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.export))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *otlpReceiver) endpoint() string { return r.srv.URL + "/v1/traces" }

func (r *otlpReceiver) export(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	var msg collectortrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &msg)
	}
	if req.URL.Path != "/v1/traces" || err != nil {
		http.Error(w, fmt.Sprintf("bad export to %s: %v", req.URL.Path, err), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range msg.ResourceSpans {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				r.spans = append(r.spans, receivedSpan{service: service, name: s.Name, traceID: hex.EncodeToString(s.TraceId),
					spanID: hex.EncodeToString(s.SpanId), parentID: hex.EncodeToString(s.ParentSpanId)})
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(nil)
}

// trace returns the spans of traceID as "service: name" lines, sorted.
func (r *otlpReceiver) trace(traceID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.spans {
		if s.traceID == traceID {
			out = append(out, s.service+": "+s.name)
		}
	}
	sort.Strings(out)
	return out
}

// One event sent with a W3C traceparent yields one trace, exported over
// OTLP by three processes: the gateway's request and publish spans, the
// projector's receive and write spans of both read models (carried in the
// Kafka record headers), and the query service's span of a lookup sent in
// the same trace.
func TestTraceFromRequestToReadModels(t *testing.T) {
	recv := newOTLPReceiver(t)
	s := startStackWith(t, stackOptions{commonArgs: []string{"-tracing-otlp-endpoint", recv.endpoint()}})
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	traceparent := "00-" + traceID + "-b7ad6b7169203331-01"

	req, _ := http.NewRequest(http.MethodPost, s.gatewayURL+"/v1/events", strings.NewReader(`{"id":"traced-1","type":"order.placed","source":"e2e"}`))
	req.Header.Set("Authorization", "Bearer "+s.keyA)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", traceparent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ans ingestAnswer
	err = json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || ans.Accepted != 1 { // produced, not a duplicate
		t.Fatalf("ingest: %d %+v %v", resp.StatusCode, ans, err)
	}
	eventually(t, time.Minute, "event stored", func() string {
		req, _ := http.NewRequest(http.MethodGet, s.queryURL+"/v1/events/"+url.PathEscape("traced-1"), nil)
		req.Header.Set("Authorization", "Bearer "+s.keyA)
		req.Header.Set("traceparent", traceparent)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Sprintf("lookup answered %d", resp.StatusCode)
		}
		return ""
	})
	want := []string{
		"pulsestream-gateway: POST /v1/events",
		"pulsestream-gateway: " + s.topic + " publish",
		"pulsestream-projector: " + s.topic + " receive",
		"pulsestream-projector: postgres write",
		"pulsestream-projector: clickhouse write",
		"pulsestream-query: GET /v1/events/:id",
	}
	// The exporters send in batches every few seconds.
	eventually(t, time.Minute, "spans of every process in one trace", func() string {
		got := strings.Join(recv.trace(traceID), "\n")
		for _, w := range want {
			if !strings.Contains(got, w) {
				return fmt.Sprintf("no span %q in trace %s; have:\n%s", w, traceID, got)
			}
		}
		return ""
	})
}
