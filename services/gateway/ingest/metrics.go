package ingest

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the ingest path's Prometheus metrics.
type Metrics struct {
	Events         *prometheus.CounterVec // outcome, reason
	ProduceLatency prometheus.Histogram
	RateLimit      *prometheus.CounterVec // decision
	RedisErrors    *prometheus.CounterVec // op
}

// NewMetrics registers the metrics on reg; buffered reports the producer's
// unacknowledged bytes for the gauge (nil: no gauge).
func NewMetrics(reg prometheus.Registerer, buffered func() float64) *Metrics {
	f := promauto.With(reg)
	if buffered != nil {
		f.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "pulsestream_gateway_producer_buffered_bytes",
			Help: "Bytes of records produced and not yet acknowledged by Kafka (admission is refused at kafka-max-buffered-bytes).",
		}, buffered)
	}
	return &Metrics{
		Events: f.NewCounterVec(prometheus.CounterOpts{
			Name: "pulsestream_gateway_events_total",
			Help: "Events by outcome (accepted, duplicate, rejected) and reason (the rejection code; empty otherwise).",
		}, []string{"outcome", "reason"}),
		ProduceLatency: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "pulsestream_gateway_produce_latency_seconds",
			Help:    "Time from producing a request's records to the last ack or failure.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		RateLimit: f.NewCounterVec(prometheus.CounterOpts{
			Name: "pulsestream_gateway_rate_limit_decisions_total",
			Help: "Rate-limit decisions: allowed, limited, or error (Redis unavailable; fail-open lets the request through).",
		}, []string{"decision"}),
		RedisErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "pulsestream_gateway_redis_errors_total",
			Help: "Redis operations that failed or were skipped (redis-cooldown after a failure), by operation (rate_limit, marker_lookup, marker_save).",
		}, []string{"op"}),
	}
}
