// Package consumer runs one read model's Kafka consumer group: poll, decode,
// write a batch to the sink, and only then commit the offsets. It follows
// franz-go's group_committing and dlq examples: auto-commit off,
// kgo.BlockRebalanceOnPoll, PollRecords, write, CommitRecords, AllowRebalance,
// so an offset is never committed past a row that is not durable and a
// rebalance never takes a partition in the middle of a batch.
//
// Errors are split in two. A record that can never be applied (undecodable,
// unknown version, or refused by the store for a reason that retrying cannot
// fix: Sink.Permanent) goes to the dead-letter topic with the error, source
// topic, partition and offset in headers, and the partition moves on. Every
// other error (store down, timeout) is retried with capped exponential
// backoff (cenkalti/backoff/v5, the well-kept library the team uses for
// retries) without skipping anything; meanwhile Healthy reports the store as
// down so /readyz fails.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

// Sink is one read model.
type Sink interface {
	// Name is the sink's label in metrics, logs and DLQ headers.
	Name() string
	// Write applies items (in log order within each partition) durably and
	// idempotently: writing the same items again changes nothing.
	Write(ctx context.Context, items []record.Item) (Stats, error)
	// Permanent reports whether err is the store refusing the data itself
	// (retrying cannot help), as opposed to the store being unavailable.
	Permanent(err error) bool
}

// Reassignable is a Sink that remembers something about the keys of its
// partitions between batches (chsink's set of stored keys). Reassigned is
// called before the first write after this member's partitions changed
// (assigned, revoked or lost): what another member wrote meanwhile is not
// in that memory. A wrapping sink forwards it (retention.Filter).
type Reassignable interface {
	Reassigned()
}

// Stats is what one Write did.
type Stats struct {
	Rows       int // rows inserted or changed
	Duplicates int // items that changed nothing (key already stored / already deleted)
}

// Config tunes one consumer.
type Config struct {
	Group        string
	Topic        string
	DLQTopic     string
	BatchSize    int
	Linger       time.Duration
	WriteTimeout time.Duration
	BackoffMin   time.Duration
	BackoffMax   time.Duration
	// Parallelism is how many partitions of one batch are written at once.
	Parallelism int
	// SessionTimeout is how long the group waits for a silent member (a
	// killed process) before giving its partitions to another.
	SessionTimeout time.Duration
	// Decoder decodes the records, shared with the process's other sinks
	// (nil: this consumer decodes alone).
	Decoder *record.Shared
	// Tracer and TraceOpts trace batch writes (trace.go); both nil when
	// tracing is off.
	Tracer    trace.Tracer
	TraceOpts []kgo.Opt
}

// Metrics are the projector's counters, shared by every sink (label "sink").
type Metrics struct {
	consumed   *prometheus.CounterVec
	rows       *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	dlq        *prometheus.CounterVec
	decoded    *prometheus.CounterVec
	retries    *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	lag        *prometheus.GaugeVec
}

// NewMetrics registers the projector metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		consumed:   f.NewCounterVec(prometheus.CounterOpts{Name: "pulsestream_projector_records_consumed_total", Help: "Kafka records handled (written, skipped as duplicate, or sent to the DLQ)."}, []string{"sink"}),
		rows:       f.NewCounterVec(prometheus.CounterOpts{Name: "pulsestream_projector_rows_written_total", Help: "Rows inserted or changed in the read model."}, []string{"sink"}),
		duplicates: f.NewCounterVec(prometheus.CounterOpts{Name: "pulsestream_projector_duplicates_skipped_total", Help: "Records that changed nothing because their key was already stored (first write wins) or already deleted."}, []string{"sink"}),
		dlq:        f.NewCounterVec(prometheus.CounterOpts{Name: "pulsestream_projector_dlq_records_total", Help: "Records sent to the dead-letter topic."}, []string{"sink"}),
		decoded:    f.NewCounterVec(prometheus.CounterOpts{Name: "pulsestream_projector_records_decoded_total", Help: "Records this sink decoded itself; the rest of its records it took decoded from another sink of the process."}, []string{"sink"}),
		retries:    f.NewCounterVec(prometheus.CounterOpts{Name: "pulsestream_projector_write_retries_total", Help: "Batch writes retried after a transient store error."}, []string{"sink"}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{Name: "pulsestream_projector_batch_duration_seconds", Help: "Time to write one batch durably (retries included).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"sink"}),
		lag: f.NewGaugeVec(prometheus.GaugeOpts{Name: "pulsestream_projector_consumer_lag", Help: "Records between the group's committed offset and the partition end (kadm)."}, []string{"sink", "partition"}),
	}
}

// Consumer drives one sink from one consumer group.
type Consumer struct {
	cfg    Config
	cl     *kgo.Client
	dlq    *kgo.Client
	sink   Sink
	logger *slog.Logger
	m      *Metrics
	name   string
	rb     *Rebalances

	mu      sync.Mutex
	lastErr error // last transient write error; nil once a write succeeds

	seenChanges uint64 // rb.changes when the sink was last told (handle)

	// stop condition (replay): stop once every partition's committed offset
	// reached until[p].
	until     map[int32]int64
	committed map[int32]int64
}

// Rebalances carries franz-go's "a rebalance is waiting for this member"
// signal (kgo.OnPartitionsCallbackBlocked) to the consumer. A batch that
// cannot be written (store down) is then abandoned and rewound instead of
// holding the whole group until this member is kicked out and a second
// writer takes its partitions.
type Rebalances struct {
	wanted  chan struct{}
	pending atomic.Bool // set by the signal, cleared when the rebalance is let through
	// changes counts changes of this member's partitions (assigned,
	// revoked, lost); the consumer tells a Reassignable sink.
	changes atomic.Uint64
}

// NewRebalances returns an unsignalled Rebalances.
func NewRebalances() *Rebalances { return &Rebalances{wanted: make(chan struct{}, 1)} }

func (rb *Rebalances) signal() {
	rb.pending.Store(true)
	select {
	case rb.wanted <- struct{}{}:
	default:
	}
}

func (rb *Rebalances) drain() {
	rb.pending.Store(false)
	select {
	case <-rb.wanted:
	default:
	}
}

func (rb *Rebalances) changed(context.Context, *kgo.Client, map[string][]int32) { rb.changes.Add(1) }

// waiting reports whether a rebalance waits for this member.
func (rb *Rebalances) waiting() bool { return rb.pending.Load() }

// errRebalance abandons a batch so a waiting rebalance can run.
var errRebalance = errors.New("batch abandoned: a rebalance is waiting and the store is failing")

// GroupOpts are the franz-go options every projector consumer client needs.
// cfg.Group must be set; rb is the same value given to New.
func GroupOpts(cfg Config, rb *Rebalances) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		// Offsets are committed by hand after the write is durable.
		kgo.DisableAutoCommit(),
		// A rebalance waits until the batch in hand is written and committed.
		kgo.BlockRebalanceOnPoll(),
		// ...unless the batch cannot be written: then Run abandons it.
		kgo.OnPartitionsCallbackBlocked(func(context.Context, *kgo.Client) { rb.signal() }),
		// franz-go runs these before records of newly assigned partitions
		// are polled.
		kgo.OnPartitionsAssigned(rb.changed),
		kgo.OnPartitionsRevoked(rb.changed),
		kgo.OnPartitionsLost(rb.changed),
		// A new group starts at the beginning of the log: the read model is
		// a projection of the whole topic.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Fetch enough per poll to fill a batch.
		kgo.FetchMaxBytes(64 << 20),
	}
	if cfg.SessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(cfg.SessionTimeout), kgo.HeartbeatInterval(cfg.SessionTimeout/5))
	}
	return append(opts, cfg.TraceOpts...)
}

// New builds a consumer. cl must have been built with GroupOpts(cfg, rb); dlq
// is a producer client (it may be shared between consumers).
func New(cfg Config, cl, dlq *kgo.Client, sink Sink, m *Metrics, logger *slog.Logger, rb *Rebalances) *Consumer {
	return &Consumer{cfg: cfg, cl: cl, dlq: dlq, sink: sink, m: m, rb: rb, name: sink.Name(), logger: logger.With("sink", sink.Name(), "group", cfg.Group)}
}

// StopAt makes Run return nil once the committed offset of every partition
// in positions has reached until (replay: "caught up"). positions are the
// committed offsets the group starts from.
func (c *Consumer) StopAt(until, positions map[int32]int64) {
	c.until = until
	c.committed = positions
}

// Healthy returns the last transient write error (nil when the last write
// succeeded): /readyz reports the store down while writes fail.
func (c *Consumer) Healthy(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastErr != nil {
		return fmt.Errorf("%s writes failing: %w", c.name, c.lastErr)
	}
	return nil
}

func (c *Consumer) setErr(err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

func (c *Consumer) caughtUp() bool {
	if c.until == nil {
		return false
	}
	for p, end := range c.until {
		if c.committed[p] < end {
			return false
		}
	}
	return true
}

// Run consumes until ctx ends (nil) or, with StopAt, until caught up.
//
// One batch is in flight per sink: while a batch is written and committed,
// the next is polled and decoded. Offsets are still committed only after
// each batch's own durable write, in order. The batch polled ahead keeps
// rebalances blocked (BlockRebalanceOnPoll) until it is written too, unless a
// rebalance is waiting: then it is rewound unwritten, and the rebalance runs
// between two batches, as without the read-ahead.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.cl.AllowRebalance()
	var next *batch
	for {
		if c.caughtUp() {
			c.logger.Info("caught up")
			return nil
		}
		if ctx.Err() != nil {
			return nil // a batch read ahead is not written: nothing of it was committed
		}
		cur := next
		if cur == nil {
			recs, err := c.poll(ctx, ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			if len(recs) == 0 {
				c.allowRebalance()
				continue
			}
			cur = c.decode(recs)
		}
		var err error
		next, err = c.writeAndReadAhead(ctx, cur)
		if errors.Is(err, errRebalance) {
			// Fetch these records again (if this member keeps their
			// partitions) once the rebalance ran; nothing was committed.
			c.rewind(cur, next)
			c.logger.Warn("batch abandoned for a waiting rebalance; it will be read again", "records", len(cur.recs))
			next, err = nil, nil
		}
		if err != nil {
			c.cl.AllowRebalance()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if next != nil && c.rb.waiting() {
			c.rewind(next)
			next = nil
		}
		if next == nil {
			c.allowRebalance()
		}
	}
}

// allowRebalance lets a waiting rebalance run; called only while no polled
// record is unwritten.
func (c *Consumer) allowRebalance() {
	c.cl.AllowRebalance()
	c.rb.drain() // a signal from before this point is obsolete
}

// batch is one polled batch, decoded.
type batch struct {
	recs  []*kgo.Record
	items []record.Item
	bad   []dead // records that cannot be decoded
}

func (c *Consumer) decode(recs []*kgo.Record) *batch {
	b := &batch{recs: recs, items: make([]record.Item, 0, len(recs))}
	taken := 0
	for _, d := range c.cfg.Decoder.DecodeBatch(recs) {
		if d.Taken {
			taken++
		}
		if d.Err != nil {
			b.bad = append(b.bad, dead{d.Rec, d.Err})
			continue
		}
		b.items = append(b.items, d.Item)
	}
	c.m.decoded.WithLabelValues(c.name).Add(float64(len(recs) - taken))
	return b
}

// writeAndReadAhead writes and commits cur (handle) while it polls and
// decodes the next batch. The poll waits for a first record only until the
// write ends; a batch already started may linger to fill. It returns once
// the write ended, with the next batch (nil if none came or a rebalance is
// waiting) and the write's error.
func (c *Consumer) writeAndReadAhead(ctx context.Context, cur *batch) (*batch, error) {
	wrote := make(chan error, 1)
	wctx, writing := context.WithCancel(ctx)
	defer writing()
	go func() {
		defer writing()
		wrote <- c.handle(ctx, cur)
	}()
	var next *batch
	if !c.rb.waiting() {
		// A poll error (client closed) shows again at the next poll.
		if recs, err := c.poll(ctx, wctx); err == nil && len(recs) > 0 {
			next = c.decode(recs)
		}
	}
	return next, <-wrote
}

// rewind moves each partition of the batches back to its first record, so
// the abandoned records are fetched again. Called before AllowRebalance, as
// franz-go requires.
func (c *Consumer) rewind(bs ...*batch) {
	first := map[string]map[int32]kgo.EpochOffset{}
	for _, b := range bs {
		if b == nil {
			continue
		}
		for _, r := range b.recs {
			ps := first[r.Topic]
			if ps == nil {
				ps = map[int32]kgo.EpochOffset{}
				first[r.Topic] = ps
			}
			if eo, ok := ps[r.Partition]; !ok || r.Offset < eo.Offset {
				ps[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset}
			}
		}
	}
	c.cl.SetOffsets(first)
}

// poll returns up to BatchSize records: it waits for the first one until
// wait ends (wait is ctx or derived from it), then up to Linger more to
// fill the batch.
func (c *Consumer) poll(ctx, wait context.Context) ([]*kgo.Record, error) {
	pctx := wait
	if c.until != nil {
		// Replay: wake up regularly to notice partitions with nothing to read.
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(wait, time.Second)
		defer cancel()
	}
	fs := c.cl.PollRecords(pctx, c.cfg.BatchSize)
	if err := c.fetchErr(fs); err != nil {
		return nil, err
	}
	recs := fs.Records()
	if len(recs) == 0 || len(recs) >= c.cfg.BatchSize || c.cfg.Linger <= 0 {
		return recs, ctx.Err()
	}
	lctx, cancel := context.WithTimeout(ctx, c.cfg.Linger)
	defer cancel()
	for len(recs) < c.cfg.BatchSize && lctx.Err() == nil {
		fs := c.cl.PollRecords(lctx, c.cfg.BatchSize-len(recs))
		if err := c.fetchErr(fs); err != nil {
			return nil, err
		}
		recs = append(recs, fs.Records()...)
	}
	return recs, ctx.Err()
}

// fetchErr returns the error that ends consuming; other per-partition fetch
// errors are retried by franz-go itself (logged here), and context ends are
// handled by the caller.
func (c *Consumer) fetchErr(fs kgo.Fetches) error {
	var err error
	fs.EachError(func(topic string, p int32, e error) {
		switch {
		case errors.Is(e, context.Canceled), errors.Is(e, context.DeadlineExceeded):
		case errors.Is(e, kgo.ErrClientClosed):
			err = e
		default:
			c.logger.Warn("fetch", "topic", topic, "partition", p, "err", e)
		}
	})
	return err
}

// handle writes one decoded batch, sends what cannot be applied to the DLQ,
// and commits it.
func (c *Consumer) handle(ctx context.Context, b *batch) (err error) {
	start := time.Now()
	recs := b.recs
	if c.cfg.Tracer != nil {
		spans := c.startWriteSpans(recs)
		defer func() { endWriteSpans(spans, err) }()
	}
	c.tellReassigned()
	st, moreBad, err := c.writeParallel(ctx, b.items, recs)
	if err != nil {
		return err
	}
	bad := append(b.bad, moreBad...)
	if err := c.sendDLQ(ctx, bad); err != nil {
		return err
	}
	// Durable: commit, even when shutdown has begun (graceful stop commits
	// what is written). A failed commit is not fatal: the rows are idempotent
	// and the next commit (or the restart) covers them.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.WriteTimeout)
	defer cancel()
	if err := c.cl.CommitRecords(cctx, recs...); err != nil {
		c.logger.Warn("commit offsets", "err", err)
	} else if c.committed != nil {
		for _, r := range recs {
			if r.Offset+1 > c.committed[r.Partition] {
				c.committed[r.Partition] = r.Offset + 1
			}
		}
	}
	c.m.consumed.WithLabelValues(c.name).Add(float64(len(recs)))
	c.m.rows.WithLabelValues(c.name).Add(float64(st.Rows))
	c.m.duplicates.WithLabelValues(c.name).Add(float64(st.Duplicates))
	c.m.latency.WithLabelValues(c.name).Observe(time.Since(start).Seconds())
	return nil
}

// tellReassigned calls a Reassignable sink's Reassigned if this member's
// partitions changed since the last batch (and before the first).
func (c *Consumer) tellReassigned() {
	r, ok := c.sink.(Reassignable)
	if !ok {
		return
	}
	if n := c.rb.changes.Load(); n != c.seenChanges {
		c.seenChanges = n
		r.Reassigned()
	}
}

// writeParallel splits items by partition (keys never span partitions, so
// the parts are independent) and writes up to Parallelism parts at once.
// The batch is committed only when every part is durable.
func (c *Consumer) writeParallel(ctx context.Context, items []record.Item, recs []*kgo.Record) (Stats, []dead, error) {
	if c.cfg.Parallelism <= 1 {
		return c.write(ctx, items, recs)
	}
	var order []int32
	parts := map[int32][]record.Item{}
	for _, it := range items {
		if _, ok := parts[it.Partition]; !ok {
			order = append(order, it.Partition)
		}
		parts[it.Partition] = append(parts[it.Partition], it)
	}
	if len(order) == 1 {
		return c.write(ctx, items, recs)
	}
	type result struct {
		st  Stats
		bad []dead
		err error
	}
	results := make([]result, len(order))
	sem := make(chan struct{}, c.cfg.Parallelism)
	var wg sync.WaitGroup
	for i, p := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			st, bad, err := c.write(ctx, parts[p], recs)
			results[i] = result{st, bad, err}
		}()
	}
	wg.Wait()
	var total Stats
	var bad []dead
	for _, r := range results {
		if r.err != nil {
			return Stats{}, nil, r.err
		}
		total.Rows += r.st.Rows
		total.Duplicates += r.st.Duplicates
		bad = append(bad, r.bad...)
	}
	return total, bad, nil
}

type dead struct {
	r   *kgo.Record
	err error
}

// write applies items, retrying transient errors until ctx ends. When the
// store refuses a batch permanently it splits it in halves (in order) until
// the refused records are isolated, and returns them for the DLQ: one bad
// record costs about 2·log2(batch) extra writes, not one write per record.
func (c *Consumer) write(ctx context.Context, items []record.Item, recs []*kgo.Record) (Stats, []dead, error) {
	if len(items) == 0 {
		return Stats{}, nil, nil
	}
	st, err := c.writeRetry(ctx, items)
	if err == nil || !c.sink.Permanent(err) {
		return st, nil, err
	}
	if len(items) == 1 {
		for _, r := range recs {
			if r.Partition == items[0].Partition && r.Offset == items[0].Offset {
				return Stats{}, []dead{{r, err}}, nil
			}
		}
		return Stats{}, nil, fmt.Errorf("refused record %d/%d not in the batch: %w", items[0].Partition, items[0].Offset, err)
	}
	c.logger.Warn("store refused the batch; splitting it to isolate the bad records", "records", len(items), "err", err)
	mid := len(items) / 2
	left, badL, err := c.write(ctx, items[:mid], recs)
	if err != nil {
		return Stats{}, nil, err
	}
	right, badR, err := c.write(ctx, items[mid:], recs)
	if err != nil {
		return Stats{}, nil, err
	}
	return Stats{Rows: left.Rows + right.Rows, Duplicates: left.Duplicates + right.Duplicates}, append(badL, badR...), nil
}

func (c *Consumer) writeRetry(ctx context.Context, items []record.Item) (Stats, error) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = c.cfg.BackoffMin
	b.MaxInterval = c.cfg.BackoffMax
	// A waiting rebalance interrupts the backoff wait (cause errRebalance).
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-c.rb.wanted:
			c.rb.signal() // keep it for the next retry loop of this batch
			cancel(errRebalance)
		case <-rctx.Done():
		}
	}()
	return backoff.Retry(rctx, func() (Stats, error) {
		// An attempt in flight when shutdown starts may finish (bounded by
		// the store timeout) so its batch can still be committed; retries stop.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.WriteTimeout)
		defer cancel()
		st, err := c.sink.Write(wctx, items)
		if err == nil {
			c.setErr(nil)
			return st, nil
		}
		if ctx.Err() != nil {
			return st, backoff.Permanent(ctx.Err())
		}
		if c.sink.Permanent(err) {
			return st, backoff.Permanent(err)
		}
		c.setErr(err)
		if context.Cause(rctx) == errRebalance {
			return st, backoff.Permanent(errRebalance)
		}
		c.m.retries.WithLabelValues(c.name).Inc()
		c.logger.Warn("write failed; retrying", "records", len(items), "err", err)
		return st, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0))
}

// sendDLQ produces the dead records to the DLQ topic and waits for the acks,
// retrying transient produce errors: a record is never skipped silently.
func (c *Consumer) sendDLQ(ctx context.Context, bad []dead) error {
	if len(bad) == 0 {
		return nil
	}
	out := make([]*kgo.Record, 0, len(bad))
	for _, d := range bad {
		c.logger.Warn("record sent to the DLQ", "partition", d.r.Partition, "offset", d.r.Offset, "err", d.err)
		hs := append([]kgo.RecordHeader(nil), d.r.Headers...)
		hs = append(hs,
			kgo.RecordHeader{Key: schemas.HeaderDLQError, Value: []byte(d.err.Error())},
			kgo.RecordHeader{Key: schemas.HeaderDLQTopic, Value: []byte(d.r.Topic)},
			kgo.RecordHeader{Key: schemas.HeaderDLQPartition, Value: strconv.AppendInt(nil, int64(d.r.Partition), 10)},
			kgo.RecordHeader{Key: schemas.HeaderDLQOffset, Value: strconv.AppendInt(nil, d.r.Offset, 10)},
			kgo.RecordHeader{Key: schemas.HeaderDLQSink, Value: []byte(c.name)},
		)
		out = append(out, &kgo.Record{Topic: c.cfg.DLQTopic, Key: d.r.Key, Value: d.r.Value, Headers: hs, Timestamp: d.r.Timestamp})
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = c.cfg.BackoffMin
	b.MaxInterval = c.cfg.BackoffMax
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.WriteTimeout)
		defer cancel()
		err := c.dlq.ProduceSync(pctx, out...).FirstErr()
		if err != nil && ctx.Err() == nil {
			c.logger.Warn("produce to the DLQ failed; retrying", "err", err)
		}
		if err != nil && ctx.Err() != nil {
			return struct{}{}, backoff.Permanent(ctx.Err())
		}
		return struct{}{}, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0))
	if err != nil {
		return fmt.Errorf("produce to %s: %w", c.cfg.DLQTopic, err)
	}
	c.m.dlq.WithLabelValues(c.name).Add(float64(len(out)))
	return nil
}

// ReportLag sets the lag gauge of every partition from kadm every interval
// until ctx ends.
func (c *Consumer) ReportLag(ctx context.Context, interval time.Duration) error {
	adm := kadm.NewClient(c.cl)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		lags, err := adm.Lag(ctx, c.cfg.Group)
		if err == nil {
			if l, ok := lags[c.cfg.Group]; ok && l.Error() == nil {
				for _, pl := range l.Lag[c.cfg.Topic] {
					if pl.Lag >= 0 {
						c.m.lag.WithLabelValues(c.name, strconv.Itoa(int(pl.Partition))).Set(float64(pl.Lag))
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
