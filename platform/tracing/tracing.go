// Package tracing is PulseStream's OpenTelemetry tracing: W3C trace context
// (traceparent, tracestate) accepted on HTTP requests, carried in Kafka
// record headers, and spans exported over OTLP/HTTP. It is off by default.
//
// Off means absent, not idle: Middleware and KafkaOpts return nothing, so no
// middleware runs, no client hook is installed and no span is created on
// any hot path; the only cost is the nil checks of the callers.
//
// Libraries: the OpenTelemetry Go SDK with an OTLP/HTTP exporter of our own
// over the OTLP protobuf types (otlp.go says why not the SDK's); franz-go's
// plugin/kotel carries the context across Kafka through the client's hooks
// (producer: a "publish" span injected into the record headers; consumer:
// a "receive" span extracted from them, in kgo.Record.Context); otelgin
// starts the server span of each HTTP request from its headers.
package tracing

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Config is the tracing settings every service shares.
type Config struct {
	// Endpoint is the OTLP/HTTP traces endpoint; empty turns tracing off.
	Endpoint string
	// SampleRatio is the share of new traces recorded; a request that
	// arrives with a sampled parent is always recorded (parent-based).
	SampleRatio float64
}

// RegisterFlags defines tracing-otlp-endpoint and tracing-sample-ratio.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Endpoint, "tracing-otlp-endpoint", "", "OTLP/HTTP traces URL (e.g. http://otel-collector:4318/v1/traces); empty: tracing off, nothing is traced")
	fs.Float64Var(&c.SampleRatio, "tracing-sample-ratio", 1, "share (0..1) of traces started here that are recorded; requests with a sampled traceparent are always recorded")
}

// Validate names a bad tracing setting.
func (c *Config) Validate() error {
	var errs []error
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("tracing-otlp-endpoint: want an http:// or https:// URL, got %q", c.Endpoint))
		}
	}
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		errs = append(errs, fmt.Errorf("tracing-sample-ratio: must be within 0..1, got %g", c.SampleRatio))
	}
	return errors.Join(errs...)
}

// Tracing is one process's tracer provider; the zero value (and nil) is off.
type Tracing struct {
	provider    *sdktrace.TracerProvider
	propagators propagation.TextMapPropagator
	service     string
}

// New returns the tracing of service: off when cfg.Endpoint is empty and
// no span processor is given in opts (tests give one, e.g. a
// tracetest.SpanRecorder).
func New(cfg Config, service string, opts ...sdktrace.TracerProviderOption) (*Tracing, error) {
	if cfg.Endpoint == "" && len(opts) == 0 {
		return &Tracing{}, nil
	}
	base := []sdktrace.TracerProviderOption{
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))),
	}
	if cfg.Endpoint != "" {
		base = append(base, sdktrace.WithBatcher(newOTLPExporter(cfg.Endpoint)))
	}
	return &Tracing{
		provider:    sdktrace.NewTracerProvider(append(base, opts...)...),
		propagators: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		service:     service,
	}, nil
}

// Enabled reports whether spans are recorded.
func (t *Tracing) Enabled() bool { return t != nil && t.provider != nil }

// Tracer returns the named tracer, or nil when tracing is off (callers
// check for nil and then do nothing).
func (t *Tracing) Tracer(name string) trace.Tracer {
	if !t.Enabled() {
		return nil
	}
	return t.provider.Tracer(name)
}

// Middleware returns the gin middleware that continues the caller's trace
// (traceparent) in a server span per request, or nil when tracing is off.
func (t *Tracing) Middleware() gin.HandlerFunc {
	if !t.Enabled() {
		return nil
	}
	return otelgin.Middleware(t.service, otelgin.WithTracerProvider(t.provider), otelgin.WithPropagators(t.propagators))
}

// KafkaOpts returns the franz-go options that carry trace context in record
// headers (kotel's hooks), or nil when tracing is off. consumerGroup names
// the group in consumer spans ("" for a producer).
func (t *Tracing) KafkaOpts(consumerGroup string) []kgo.Opt {
	if !t.Enabled() {
		return nil
	}
	topts := []kotel.TracerOpt{kotel.TracerProvider(t.provider), kotel.TracerPropagator(t.propagators)}
	if consumerGroup != "" {
		topts = append(topts, kotel.ConsumerGroup(consumerGroup))
	}
	k := kotel.NewKotel(kotel.WithTracer(kotel.NewTracer(topts...)))
	return []kgo.Opt{kgo.WithHooks(k.Hooks()...)}
}

// Shutdown exports the spans still buffered and stops the provider.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

// ShutdownLogged is Shutdown within 5 s at a process's end, logging spans
// it could not export.
func ShutdownLogged(t *Tracing, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.Shutdown(ctx); err != nil {
		logger.Warn("tracing: spans not exported", "err", err)
	}
}
