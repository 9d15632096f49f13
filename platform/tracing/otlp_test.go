package tracing

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collector is a local OTLP/HTTP endpoint decoding requests with the
// collector's own generated type (not the exporter's encoder).
type collector struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	res   []string // service.name of each ResourceSpans
	ctype string
	fail  bool
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil || r.URL.Path != "/v1/traces" || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	c.ctype = r.Header.Get("Content-Type")
	for _, rs := range req.ResourceSpans {
		for _, kv := range rs.Resource.Attributes {
			if kv.Key == "service.name" {
				c.res = append(c.res, kv.Value.GetStringValue())
			}
		}
		for _, ss := range rs.ScopeSpans {
			c.spans = append(c.spans, ss.Spans...)
		}
	}
}

// Spans exported over OTLP/HTTP arrive as the collector reads them: one
// trace, the child's parent, kinds, the OTLP status codes, attributes of
// every type, events, and the service's resource.
func TestSpansReachAnOTLPHTTPCollector(t *testing.T) {
	c := &collector{}
	srv := httptest.NewServer(c)
	defer srv.Close()
	tr, err := New(Config{Endpoint: srv.URL + "/v1/traces", SampleRatio: 1}, "svc-test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := tr.Tracer("test").Start(context.Background(), "parent", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("s", "v"), attribute.Int("i", 42), attribute.Bool("b", true), attribute.Float64("f", 1.5),
			attribute.StringSlice("ss", []string{"x", "y"})))
	_, child := tr.Tracer("test").Start(ctx, "child", trace.WithSpanKind(trace.SpanKindProducer))
	child.AddEvent("happened", trace.WithAttributes(attribute.Int("n", 7)))
	child.SetStatus(codes.Error, "it broke")
	child.End()
	parent.SetStatus(codes.Ok, "")
	parent.End()
	if err := tr.Shutdown(context.Background()); err != nil { // flushes the batch
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctype != "application/x-protobuf" || len(c.res) != 1 || c.res[0] != "svc-test" || len(c.spans) != 2 {
		t.Fatalf("content type %q, services %v, %d spans", c.ctype, c.res, len(c.spans))
	}
	byName := map[string]*tracepb.Span{}
	for _, s := range c.spans {
		byName[s.Name] = s
	}
	p, ch := byName["parent"], byName["child"]
	if p == nil || ch == nil {
		t.Fatalf("spans %v", c.spans)
	}
	want := parent.SpanContext()
	if hex.EncodeToString(p.TraceId) != want.TraceID().String() || hex.EncodeToString(p.SpanId) != want.SpanID().String() ||
		hex.EncodeToString(ch.TraceId) != want.TraceID().String() || hex.EncodeToString(ch.ParentSpanId) != want.SpanID().String() || len(p.ParentSpanId) != 0 {
		t.Errorf("ids: parent %x/%x, child %x parent %x; want trace %s span %s", p.TraceId, p.SpanId, ch.TraceId, ch.ParentSpanId, want.TraceID(), want.SpanID())
	}
	if p.Kind != tracepb.Span_SPAN_KIND_SERVER || ch.Kind != tracepb.Span_SPAN_KIND_PRODUCER {
		t.Errorf("kinds %v %v", p.Kind, ch.Kind)
	}
	if p.Status.GetCode() != tracepb.Status_STATUS_CODE_OK || ch.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || ch.Status.GetMessage() != "it broke" {
		t.Errorf("status %v, %v", p.Status, ch.Status)
	}
	if p.StartTimeUnixNano == 0 || p.EndTimeUnixNano < p.StartTimeUnixNano || p.Flags&1 != 1 {
		t.Errorf("times %d..%d, flags %x", p.StartTimeUnixNano, p.EndTimeUnixNano, p.Flags)
	}
	attrs := map[string]string{}
	for _, kv := range p.Attributes {
		attrs[kv.Key] = kv.Value.String()
	}
	for k, v := range map[string]string{"s": `string_value:"v"`, "i": `int_value:42`, "b": `bool_value:true`, "f": `double_value:1.5`,
		"ss": `array_value:{values:{string_value:"x"} values:{string_value:"y"}}`} {
		if got := attrs[k]; normalize(got) != normalize(v) {
			t.Errorf("attribute %s = %s, want %s", k, got, v)
		}
	}
	if len(ch.Events) != 1 || ch.Events[0].Name != "happened" || ch.Events[0].Attributes[0].Value.GetIntValue() != 7 {
		t.Errorf("events %v", ch.Events)
	}
}

// normalize drops the spaces prototext varies on purpose between runs.
func normalize(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' {
			out = append(out, s[i])
		}
	}
	return string(out)
}

// A collector that refuses the export makes ExportSpans fail with its status.
func TestAnExportTheCollectorRefusesIsAnError(t *testing.T) {
	c := &collector{fail: true}
	srv := httptest.NewServer(c)
	defer srv.Close()
	rec := recordOne(t)
	err := newOTLPExporter(srv.URL+"/v1/traces").ExportSpans(context.Background(), rec)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("export to a refusing collector: %v", err)
	}
	srv.Close()
	if err := newOTLPExporter(srv.URL+"/v1/traces").ExportSpans(context.Background(), rec); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("export to a closed port: %v", err)
	}
}

// recordOne returns one ended span, recorded in memory.
func recordOne(t *testing.T) []sdktrace.ReadOnlySpan {
	rec := tracetest.NewSpanRecorder()
	tr, err := New(Config{SampleRatio: 1}, "svc-test", sdktrace.WithSpanProcessor(rec))
	if err != nil {
		t.Fatal(err)
	}
	_, s := tr.Tracer("test").Start(context.Background(), "one")
	s.End()
	return rec.Ended()
}
