package consumer

import (
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Tracing of batch writes (only when Config.Tracer is set; otherwise none of
// this runs). kotel's consumer hook (Config.TraceOpts) has put each record's
// trace context, taken from its headers, into kgo.Record.Context; every
// record of a sampled trace gets a span "<sink> write" in that trace,
// covering the durable write of the batch that carried it. So one trace
// shows request → publish → receive → projected write for an event.

// startWriteSpans starts the write spans of recs' sampled traces.
func (c *Consumer) startWriteSpans(recs []*kgo.Record) []trace.Span {
	var spans []trace.Span
	for _, r := range recs {
		if r.Context == nil || !trace.SpanContextFromContext(r.Context).IsSampled() {
			continue
		}
		_, s := c.cfg.Tracer.Start(r.Context, c.name+" write", trace.WithAttributes(
			attribute.String("pulsestream.sink", c.name),
			attribute.Int("pulsestream.batch.records", len(recs)),
			attribute.Int("messaging.kafka.destination.partition", int(r.Partition)),
			attribute.Int64("messaging.kafka.message.offset", r.Offset),
		))
		spans = append(spans, s)
	}
	return spans
}

// endWriteSpans ends spans with the batch's outcome.
func endWriteSpans(spans []trace.Span, err error) {
	for _, s := range spans {
		if err != nil {
			s.SetStatus(codes.Error, err.Error())
		}
		s.End()
	}
}
