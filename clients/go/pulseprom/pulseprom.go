// Package pulseprom exposes a pulsestream.Client's metrics to Prometheus:
// Collector is both the client's Metrics hooks and a prometheus.Collector
// (github.com/prometheus/client_golang). Register it with your registry and
// pass it as Config.Metrics; Watch adds the client's queue gauges.
package pulseprom

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pulsestream "github.com/pulsestream/pulsestream/clients/go"
)

// Collector counts requests, retries and outcomes of one client.
type Collector struct {
	requests   *prometheus.CounterVec
	duration   prometheus.Histogram
	wireBytes  prometheus.Counter
	retries    prometheus.Counter
	retryDelay prometheus.Histogram
	outcomes   *prometheus.CounterVec
	full       prometheus.Counter
	buffered   prometheus.GaugeFunc
	pending    prometheus.GaugeFunc
	client     atomic.Pointer[pulsestream.Client]
}

// New returns a collector whose metrics are named pulsestream_client_*.
func New() *Collector {
	c := &Collector{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pulsestream_client_requests_total",
			Help: "HTTP attempts by answer status (0: transport error or timeout)."}, []string{"status"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "pulsestream_client_request_duration_seconds",
			Help: "Time of one HTTP attempt, answer read.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		wireBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "pulsestream_client_request_bytes_total",
			Help: "Request bodies as sent (compressed when gzip is on)."}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "pulsestream_client_retries_total",
			Help: "Decisions to send events again."}),
		retryDelay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "pulsestream_client_retry_delay_seconds",
			Help: "Wait before a retry (backoff, or the gateway's Retry-After).", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pulsestream_client_events_total",
			Help: "Events by final outcome."}, []string{"outcome"}),
		full: prometheus.NewCounter(prometheus.CounterOpts{Name: "pulsestream_client_buffer_full_total",
			Help: "Events refused by Enqueue because the buffer was full (FailFast)."}),
	}
	c.buffered = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pulsestream_client_buffered_events",
		Help: "Events in the buffer, not yet in a batch."}, func() float64 { return c.stat(func(s pulsestream.Stats) int { return s.Buffered }) })
	c.pending = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pulsestream_client_pending_events",
		Help: "Events enqueued without an outcome yet."}, func() float64 { return c.stat(func(s pulsestream.Stats) int { return s.Pending }) })
	return c
}

// Watch makes the queue gauges report client (built with this collector as
// its Metrics).
func (c *Collector) Watch(client *pulsestream.Client) { c.client.Store(client) }

func (c *Collector) stat(f func(pulsestream.Stats) int) float64 {
	if cl := c.client.Load(); cl != nil {
		return float64(f(cl.Stats()))
	}
	return 0
}

func (c *Collector) all() []prometheus.Collector {
	return []prometheus.Collector{c.requests, c.duration, c.wireBytes, c.retries, c.retryDelay, c.outcomes, c.full, c.buffered, c.pending}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.all() {
		m.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.all() {
		m.Collect(ch)
	}
}

// Request implements pulsestream.Metrics.
func (c *Collector) Request(r pulsestream.RequestInfo) {
	c.requests.WithLabelValues(strconv.Itoa(r.StatusCode)).Inc()
	c.duration.Observe(r.Duration.Seconds())
	c.wireBytes.Add(float64(r.WireBytes))
}

// Retry implements pulsestream.Metrics.
func (c *Collector) Retry(_ int, delay time.Duration, _ error) {
	c.retries.Inc()
	c.retryDelay.Observe(delay.Seconds())
}

// Outcome implements pulsestream.Metrics.
func (c *Collector) Outcome(s pulsestream.Status) { c.outcomes.WithLabelValues(string(s)).Inc() }

// BufferFull implements pulsestream.Metrics.
func (c *Collector) BufferFull() { c.full.Inc() }
