package quarantine

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
)

// Inserter stores quarantined events idempotently (*PGStore).
type Inserter interface {
	Insert(ctx context.Context, qs []*schemas.Quarantined) error
}

// Projection is the consumer group that writes the quarantine topic into
// the read model, as the projector writes the event topic: auto-commit off,
// BlockRebalanceOnPoll, poll, write (retried with capped backoff until it
// succeeds), commit, allow rebalance, so an offset is never committed past
// a row that is not stored. An undecodable record is logged, counted and
// skipped (no DLQ: the gateway is its only writer).
type Projection struct {
	cl     *kgo.Client // a group consumer of the quarantine topic (ConsumerOpts)
	store  Inserter
	logger *slog.Logger
	rows   prometheus.Counter
	bad    prometheus.Counter
}

// ConsumerOpts are the client options of the projection's consumer.
func ConsumerOpts(topic, group string) []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),                           // commit only what is stored
		kgo.BlockRebalanceOnPoll(),                        // no partition taken in the middle of a batch
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), // a new group reads the whole topic
	}
}

// NewProjection projects with cl (built with ConsumerOpts) into store.
func NewProjection(cl *kgo.Client, store Inserter, reg prometheus.Registerer, logger *slog.Logger) *Projection {
	f := promauto.With(reg)
	return &Projection{cl: cl, store: store, logger: logger,
		rows: f.NewCounter(prometheus.CounterOpts{Name: "pulsestream_gateway_quarantine_projected_total",
			Help: "Quarantine records written to the quarantine read model."}),
		bad: f.NewCounter(prometheus.CounterOpts{Name: "pulsestream_gateway_quarantine_undecodable_total",
			Help: "Quarantine records that could not be decoded and were skipped."}),
	}
}

// Run projects until ctx ends.
func (p *Projection) Run(ctx context.Context) error {
	for {
		fs := p.cl.PollRecords(ctx, 500)
		if ctx.Err() != nil {
			p.cl.AllowRebalance()
			return nil
		}
		fs.EachError(func(t string, part int32, err error) {
			p.logger.Warn("quarantine fetch failed", "topic", t, "partition", part, "err", err)
		})
		recs := fs.Records()
		if err := p.write(ctx, recs); err != nil {
			p.cl.AllowRebalance()
			return nil // ctx ended while retrying: nothing committed past what is stored
		}
		if len(recs) > 0 {
			if err := p.cl.CommitRecords(ctx, recs...); err != nil && ctx.Err() == nil {
				p.logger.Warn("quarantine offsets not committed; the records will be written again", "err", err)
			}
		}
		p.cl.AllowRebalance()
	}
}

// write decodes recs and stores them, retrying until stored or ctx ends.
func (p *Projection) write(ctx context.Context, recs []*kgo.Record) error {
	qs := make([]*schemas.Quarantined, 0, len(recs))
	for _, r := range recs {
		q, err := schemas.DecodeQuarantine(r)
		if err != nil {
			p.bad.Inc()
			p.logger.Error("quarantine record skipped", "partition", r.Partition, "offset", r.Offset, "err", err)
			continue
		}
		qs = append(qs, q)
	}
	if len(qs) == 0 {
		return nil
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 100*time.Millisecond, 5*time.Second
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := p.store.Insert(ctx, qs)
		if err != nil && ctx.Err() == nil {
			p.logger.Warn("quarantine read model write failed; retrying", "err", err)
		}
		return struct{}{}, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0))
	if err != nil {
		return errors.Join(err, ctx.Err())
	}
	p.rows.Add(float64(len(qs)))
	return nil
}
