// Package dlq reads the projector's dead-letter topic and re-drives its
// records into the event topic, each exactly once, for the admin API
// (GET /v1/admin/dlq, POST /v1/admin/dlq/redrive; schemas/openapi/dlq.yaml)
// and the console's DLQ page.
//
// Exactly once: a re-drive inserts the record's row into PostgreSQL's
// dlq_redrives (primary key: DLQ topic, partition, offset) and produces the
// record inside that transaction, committing only after Kafka's ack. A second
// re-drive of the same record finds the row (a concurrent one waits on its
// lock, then finds it) and produces nothing; a failed produce rolls the row
// back, so the record can be re-driven again. The one window left, a crash
// between the ack and the commit, can put a second copy in the topic, which
// the read models' (tenant, id) dedup stores once.
//
// Libraries: franz-go (a direct, group-less consumer for reading; kadm for
// the partitions' offsets) and pgx (pgx.BeginFunc for the transaction).
package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
)

// Record is one dead-letter record as the API shows it.
type Record struct {
	Partition       int32      `json:"partition"`
	Offset          int64      `json:"offset"`
	Timestamp       time.Time  `json:"timestamp"`
	TenantID        string     `json:"tenant_id"`
	ID              string     `json:"id"`
	Error           string     `json:"error"`
	Sink            string     `json:"sink"`
	SourceTopic     string     `json:"source_topic"`
	SourcePartition string     `json:"source_partition"`
	SourceOffset    string     `json:"source_offset"`
	Value           string     `json:"value"`
	RedrivenAt      *time.Time `json:"redriven_at,omitempty"`
	raw             *kgo.Record
}

// Ref names one dead-letter record.
type Ref struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

// DLQ reads DLQTopic and re-drives into Topic.
type DLQ struct {
	cl       *kgo.Client // producer to Topic and metadata; reading uses clients of its own
	reader   ReaderFunc
	pool     *pgxpool.Pool
	topic    string
	dlqTopic string
}

// ReaderFunc makes a client connected as cl is, with opts added.
type ReaderFunc func(opts ...kgo.Opt) (*kgo.Client, error)

// New returns the DLQ of dlqTopic; cl produces the re-driven records to
// topic, reader makes the clients that read the DLQ.
func New(cl *kgo.Client, reader ReaderFunc, pool *pgxpool.Pool, topic, dlqTopic string) *DLQ {
	return &DLQ{cl: cl, reader: reader, pool: pool, topic: topic, dlqTopic: dlqTopic}
}

// List returns the last limit records of the DLQ (oldest first) and how
// many records of the whole DLQ are not re-driven yet.
func (d *DLQ) List(ctx context.Context, limit int) ([]Record, int, error) {
	recs, err := d.marked(ctx)
	if err != nil {
		return nil, 0, err
	}
	depth := 0
	for _, r := range recs {
		if r.RedrivenAt == nil {
			depth++
		}
	}
	if len(recs) > limit {
		recs = recs[len(recs)-limit:]
	}
	return recs, depth, nil
}

// Depths returns, per tenant, how many of its records in the DLQ are not
// re-driven yet (tenants with none are absent).
func (d *DLQ) Depths(ctx context.Context) (map[string]int, error) {
	recs, err := d.marked(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, r := range recs {
		if r.RedrivenAt == nil {
			out[r.TenantID]++
		}
	}
	return out, nil
}

// marked returns every record of the DLQ, each with the time it was
// re-driven if it was.
func (d *DLQ) marked(ctx context.Context) ([]Record, error) {
	recs, err := d.read(ctx)
	if err != nil {
		return nil, err
	}
	done, err := d.redriven(ctx)
	if err != nil {
		return nil, err
	}
	for i := range recs {
		if at, ok := done[Ref{recs[i].Partition, recs[i].Offset}]; ok {
			recs[i].RedrivenAt = &at
		}
	}
	return recs, nil
}

// Redrive re-drives the named records (all: every record not re-driven
// yet) and returns how many it re-drove and how many had been re-driven
// before. A ref that names no record of the DLQ is an error, before
// anything is re-driven.
func (d *DLQ) Redrive(ctx context.Context, actor string, refs []Ref, all bool) (redriven, already int, err error) {
	recs, err := d.read(ctx)
	if err != nil {
		return 0, 0, err
	}
	byRef := make(map[Ref]*Record, len(recs))
	for i := range recs {
		byRef[Ref{recs[i].Partition, recs[i].Offset}] = &recs[i]
	}
	var todo []*Record
	if all {
		for i := range recs {
			todo = append(todo, &recs[i])
		}
	}
	for _, ref := range refs {
		r, ok := byRef[ref]
		if !ok {
			return 0, 0, &NotFoundError{ref}
		}
		todo = append(todo, r)
	}
	for _, r := range todo {
		did, err := d.redriveOne(ctx, actor, r)
		if err != nil {
			return redriven, already, err
		}
		if did {
			redriven++
		} else {
			already++
		}
	}
	return redriven, already, nil
}

// NotFoundError names a ref that is not a record of the DLQ.
type NotFoundError struct{ Ref Ref }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no dead-letter record at partition %d offset %d", e.Ref.Partition, e.Ref.Offset)
}

// redriveOne claims r and produces it, in one transaction: false when it
// had been re-driven before.
func (d *DLQ) redriveOne(ctx context.Context, actor string, r *Record) (bool, error) {
	// A caller that hangs up does not cut a re-drive between ack and commit.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	did := false
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO dlq_redrives (dlq_topic, dlq_partition, dlq_offset, actor) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, d.dlqTopic, r.Partition, r.Offset, actor)
		if err != nil {
			return fmt.Errorf("claim %d/%d: %w", r.Partition, r.Offset, err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		if err := d.cl.ProduceSync(ctx, original(r.raw, d.topic)).FirstErr(); err != nil {
			return fmt.Errorf("produce %d/%d to %s: %w", r.Partition, r.Offset, d.topic, err)
		}
		did = true
		return nil
	})
	return did, err
}

// dlqHeaders are the headers the projector added; the re-driven record
// carries the original's headers only.
var dlqHeaders = map[string]bool{schemas.HeaderDLQError: true, schemas.HeaderDLQTopic: true,
	schemas.HeaderDLQPartition: true, schemas.HeaderDLQOffset: true, schemas.HeaderDLQSink: true}

// original is the record the projector copied to the DLQ, for topic.
func original(r *kgo.Record, topic string) *kgo.Record {
	out := &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value}
	for _, h := range r.Headers {
		if !dlqHeaders[h.Key] {
			out.Headers = append(out.Headers, h)
		}
	}
	return out
}

func (d *DLQ) redriven(ctx context.Context) (map[Ref]time.Time, error) {
	rows, err := d.pool.Query(ctx, `SELECT dlq_partition, dlq_offset, redriven_at FROM dlq_redrives WHERE dlq_topic = $1`, d.dlqTopic)
	if err != nil {
		return nil, fmt.Errorf("read re-drives: %w", err)
	}
	out := map[Ref]time.Time{}
	var ref Ref
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&ref.Partition, &ref.Offset, &at}, func() error {
		out[ref] = at
		return nil
	})
	return out, err
}

// maxRead bounds what one read of the DLQ holds in memory.
const maxRead = 100000

// read returns every record of the DLQ, by partition then offset (none
// when nothing created its topic yet).
func (d *DLQ) read(ctx context.Context) ([]Record, error) {
	adm := kadm.NewClient(d.cl)
	starts, err := adm.ListStartOffsets(ctx, d.dlqTopic)
	if err == nil && noTopic(starts.Error()) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("offsets of %s: %w", d.dlqTopic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, d.dlqTopic)
	if err != nil {
		return nil, fmt.Errorf("offsets of %s: %w", d.dlqTopic, err)
	}
	from := map[int32]kgo.Offset{}
	until := map[int32]int64{}
	total := int64(0)
	ends.Each(func(e kadm.ListedOffset) {
		s, ok := starts.Lookup(e.Topic, e.Partition)
		if e.Err == nil && ok && s.Err == nil && e.Offset > s.Offset {
			from[e.Partition] = kgo.NewOffset().At(s.Offset)
			until[e.Partition] = e.Offset
			total += e.Offset - s.Offset
		}
	})
	if err := errors.Join(ends.Error(), starts.Error()); err != nil {
		return nil, fmt.Errorf("offsets of %s: %w", d.dlqTopic, err)
	}
	if total > maxRead {
		return nil, fmt.Errorf("the DLQ holds %d records, more than %d this API reads at once", total, maxRead)
	}
	if len(from) == 0 {
		return nil, nil
	}
	return d.consume(ctx, from, until)
}

// noTopic: err says the topic does not exist (nothing created it yet).
func noTopic(err error) bool { return errors.Is(err, kerr.UnknownTopicOrPartition) }

func (d *DLQ) consume(ctx context.Context, from map[int32]kgo.Offset, until map[int32]int64) ([]Record, error) {
	cl, err := d.reader(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{d.dlqTopic: from}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []Record
	for len(until) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", d.dlqTopic, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return nil, fmt.Errorf("read %s: %w", d.dlqTopic, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, open := until[r.Partition]
			if !open || r.Offset >= end {
				return
			}
			out = append(out, view(r))
			if r.Offset >= end-1 {
				delete(until, r.Partition)
			}
		})
	}
	return out, nil
}

// view is what the API shows of r.
func view(r *kgo.Record) Record {
	v := Record{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Value: string(r.Value), raw: r}
	v.TenantID, v.ID, _ = schemas.SplitKey(r.Key)
	for _, h := range r.Headers {
		switch h.Key {
		case schemas.HeaderDLQError:
			v.Error = string(h.Value)
		case schemas.HeaderDLQSink:
			v.Sink = string(h.Value)
		case schemas.HeaderDLQTopic:
			v.SourceTopic = string(h.Value)
		case schemas.HeaderDLQPartition:
			v.SourcePartition = string(h.Value)
		case schemas.HeaderDLQOffset:
			v.SourceOffset = string(h.Value)
		}
	}
	return v
}

// ParseLimit reads the limit parameter: 1..1000, default 100.
func ParseLimit(s string) (int, bool) {
	if s == "" {
		return 100, true
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 1 && n <= 1000
}
