package ingest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ProducerConfig bounds the Kafka producer.
type ProducerConfig struct {
	Linger             time.Duration
	DeliveryTimeout    time.Duration
	MaxBufferedBytes   int64
	MaxBufferedRecords int64
	EnsureTopics       bool
}

// RegisterFlags defines the producer's flags.
func (c *ProducerConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.Linger, "kafka-linger", 2*time.Millisecond, "how long the producer waits to fill a batch; small, because every HTTP answer waits for its records' ack")
	fs.DurationVar(&c.DeliveryTimeout, "kafka-delivery-timeout", 10*time.Second, "how long a record may wait for Kafka's ack before its request is answered 503")
	fs.Int64Var(&c.MaxBufferedBytes, "kafka-max-buffered-bytes", 256<<20, "bytes of records waiting for acks; a request that would exceed it is answered 503 instead of blocking")
	fs.Int64Var(&c.MaxBufferedRecords, "kafka-max-buffered-records", 100000, "records waiting for acks; a request that would exceed it is answered 503 instead of blocking")
	fs.BoolVar(&c.EnsureTopics, "kafka-ensure-topics", true, "create the event and DLQ topics at start when missing")
}

// Validate names a bad producer setting.
func (c *ProducerConfig) Validate() error {
	switch {
	case c.Linger < 0:
		return fmt.Errorf("kafka-linger: must not be negative, got %s", c.Linger)
	case c.DeliveryTimeout < time.Second:
		return fmt.Errorf("kafka-delivery-timeout: must be at least 1s, got %s", c.DeliveryTimeout)
	case c.MaxBufferedBytes < 1<<20:
		return fmt.Errorf("kafka-max-buffered-bytes: must be at least 1 MiB, got %d", c.MaxBufferedBytes)
	case c.MaxBufferedRecords < 1000:
		return fmt.Errorf("kafka-max-buffered-records: must be at least 1000, got %d", c.MaxBufferedRecords)
	}
	return nil
}

// ProducerOpts are the franz-go options of the gateway's client. Defaults
// kept on purpose: idempotent producer, acks=all, unlimited retries within
// the delivery timeout, the sticky key-hash partitioner (murmur2, as the Java
// client, so every copy of one key lands on one partition).
func (c *ProducerConfig) ProducerOpts() []kgo.Opt {
	return []kgo.Opt{
		// Every HTTP answer waits for its records' acks, so lingering adds
		// straight to request latency; a couple of milliseconds still lets
		// concurrent requests share produce requests (franz-go's default is 10ms).
		kgo.ProducerLinger(c.Linger),
		// lz4: cheap on CPU (the gateway has 2 cores to share with JSON
		// validation) while shrinking the bench's events 4.5-fold. Measured
		// against none, snappy and zstd (docs/benchmarks.md, "Projection,
		// sixth pass"): none and snappy save the producer ~1 CPU-s per
		// million events but not the pipeline (none: 5x the broker's disk);
		// zstd costs the producer ~4 more for 42 % fewer bytes.
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		// Records still unacknowledged after this fail, so a request never
		// hangs on an unavailable cluster: it gets 503 + Retry-After.
		kgo.RecordDeliveryTimeout(c.DeliveryTimeout),
		// franz-go blocks Produce when its buffer is full. Admission is
		// decided before producing (Producer.acquire, same byte and record
		// counts), so these caps are only a backstop, twice ours so they
		// never bind first; TryProduce is used anyway so nothing can block.
		kgo.MaxBufferedBytes(int(2 * c.MaxBufferedBytes)),
		kgo.MaxBufferedRecords(int(2 * c.MaxBufferedRecords)),
	}
}

// ErrBusy means the producer's buffer is full: answer 503, produce nothing.
var ErrBusy = errors.New("producer buffer full")

// Producer sends records and waits for their acks, with admission control on
// buffered bytes.
type Producer struct {
	cl       *kgo.Client
	timeout  time.Duration
	max      int64
	maxRecs  int64
	buffered atomic.Int64
	records  atomic.Int64
	latency  func(time.Duration)
}

// NewProducer wraps cl; observe receives each request's produce latency.
func NewProducer(cl *kgo.Client, cfg ProducerConfig, observe func(time.Duration)) *Producer {
	if observe == nil {
		observe = func(time.Duration) {}
	}
	return &Producer{cl: cl, timeout: cfg.DeliveryTimeout, max: cfg.MaxBufferedBytes, maxRecs: cfg.MaxBufferedRecords, latency: observe}
}

// Buffered is the number of bytes produced and not yet acknowledged.
func (p *Producer) Buffered() int64 { return p.buffered.Load() }

// acquire reserves n bytes and recs records, or nothing. A request alone
// is always admitted when nothing is buffered, however large.
func (p *Producer) acquire(n, recs int64) bool {
	if !reserve(&p.buffered, n, p.max) {
		return false
	}
	if !reserve(&p.records, recs, p.maxRecs) {
		p.buffered.Add(-n)
		return false
	}
	return true
}

func reserve(c *atomic.Int64, n, limit int64) bool {
	for {
		cur := c.Load()
		if cur+n > limit && cur > 0 {
			return false
		}
		if c.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// Ack is the outcome of one record.
type Ack struct {
	Partition int32
	Offset    int64
	Err       error
}

// ProduceAll produces recs concurrently and waits until each one is
// acknowledged or failed, at most the delivery timeout: franz-go enforces
// its record timeout only between requests and never on a request in flight
// (idempotence), so the wait has its own bound; a record still pending then
// counts as failed (it may yet be stored: a retry is answered duplicate or
// stored twice, which the read models dedup — never a 2xx for it). It returns ErrBusy,
// having produced nothing, when the records do not fit in the buffer.
func (p *Producer) ProduceAll(ctx context.Context, recs []*kgo.Record) ([]Ack, error) {
	var total int64
	sizes := make([]int64, len(recs))
	for i, r := range recs {
		sizes[i] = recordSize(r)
		total += sizes[i]
	}
	if !p.acquire(total, int64(len(recs))) {
		return nil, ErrBusy
	}
	start := time.Now()
	acks := make([]Ack, len(recs))
	finished := make([]bool, len(recs))
	var mu sync.Mutex
	pending := len(recs)
	done := make(chan struct{})
	// The records outlive the client's request if need be (a client that
	// hangs up does not cancel what is already on its way), but not the
	// delivery timeout.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	defer cancel()
	for i, r := range recs {
		p.cl.TryProduce(pctx, r, func(r *kgo.Record, err error) {
			p.buffered.Add(-sizes[i])
			p.records.Add(-1)
			mu.Lock()
			acks[i] = Ack{Partition: r.Partition, Offset: r.Offset, Err: err}
			finished[i] = true
			pending--
			if pending == 0 {
				close(done)
			}
			mu.Unlock()
		})
	}
	select {
	case <-done:
	case <-pctx.Done(): // the delivery timeout: pctx is cancelled by nothing else
		mu.Lock()
		for i := range acks {
			if !finished[i] {
				acks[i].Err = fmt.Errorf("no ack within %s: %w", p.timeout, context.DeadlineExceeded)
			}
		}
		mu.Unlock()
	}
	p.latency(time.Since(start))
	mu.Lock()
	out := make([]Ack, len(acks))
	copy(out, acks)
	for i := range out {
		if !finished[i] && out[i].Err == nil {
			out[i].Err = context.DeadlineExceeded
		}
	}
	mu.Unlock()
	return out, nil
}

// recordSize is what franz-go counts against MaxBufferedBytes.
func recordSize(r *kgo.Record) int64 {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return int64(n)
}
