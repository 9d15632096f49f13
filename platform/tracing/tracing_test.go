package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestOffIsAbsent(t *testing.T) {
	tr, err := New(Config{SampleRatio: 1}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() || tr.Middleware() != nil || tr.KafkaOpts("g") != nil || tr.Tracer("x") != nil {
		t.Fatal("tracing off must install no middleware, no hooks and no tracer")
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var nilTracing *Tracing
	if nilTracing.Enabled() || nilTracing.Middleware() != nil {
		t.Fatal("nil Tracing must be off")
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{{Endpoint: "collector:4318", SampleRatio: 1}, {Endpoint: "ftp://x/v1/traces", SampleRatio: 1}, {SampleRatio: 1.5}, {SampleRatio: -0.1}} {
		if c.Validate() == nil {
			t.Errorf("%+v: want an error", c)
		}
	}
	for _, c := range []Config{{SampleRatio: 1}, {Endpoint: "http://127.0.0.1:4318/v1/traces", SampleRatio: 0.5}} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// A request's traceparent is continued by the server span, the Kafka
// publish span, and, through the record headers, the consumer's receive
// span: one trace id from HTTP to the consumer.
func TestTraceCrossesHTTPAndKafka(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tr, err := New(Config{SampleRatio: 1}, "test", sdktrace.WithSpanProcessor(rec))
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	prod, err := kgo.NewClient(append(tr.KafkaOpts(""), kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic("events"))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(tr.Middleware())
	r.POST("/v1/events", func(c *gin.Context) {
		if err := prod.ProduceSync(c.Request.Context(), &kgo.Record{Value: []byte("{}")}).FirstErr(); err != nil {
			c.Status(http.StatusServiceUnavailable)
			return
		}
		c.Status(http.StatusOK)
	})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req := httptest.NewRequest(http.MethodPost, "/v1/events", nil)
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}

	cons, err := kgo.NewClient(append(tr.KafkaOpts("g"), kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cons.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fs := cons.PollRecords(ctx, 1)
	recs := fs.Records()
	if len(recs) != 1 {
		t.Fatalf("consumed %d records: %v", len(recs), fs.Errors())
	}
	if got := trace.SpanContextFromContext(recs[0].Context).TraceID().String(); got != traceID {
		t.Fatalf("consumed record's trace id %q, want %q", got, traceID)
	}
	cons.Close() // ends the receive span
	kinds := map[trace.SpanKind]string{}
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID().String() != traceID {
			t.Errorf("span %q has trace id %s, want %s", s.Name(), s.SpanContext().TraceID(), traceID)
		}
		kinds[s.SpanKind()] = s.Name()
	}
	for _, k := range []trace.SpanKind{trace.SpanKindServer, trace.SpanKindProducer, trace.SpanKindConsumer} {
		if kinds[k] == "" {
			t.Errorf("no %s span among %v", k, kinds)
		}
	}
}
