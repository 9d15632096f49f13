package load

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/tools/loadgen/internal/gen"
)

// KafkaConfig is one raw producer run: the records the gateway would
// write, produced straight to the broker.
type KafkaConfig struct {
	Brokers   []string
	Topic     string
	Gen       gen.Config
	SeqBase   uint64
	Duration  time.Duration
	MaxEvents int64
	// Linger and lz4 match the gateway's producer, so the two runs differ
	// only by what the gateway does around producing.
	Linger time.Duration
	// Producers is how many goroutines hand records to the client.
	Producers int
	// Pool is how many distinct records are built before the clock starts
	// and then produced round robin, so the run measures producing, not
	// JSON encoding in the load generator (0: DefaultPool).
	Pool int
}

// KafkaResult is what the raw producer saw.
type KafkaResult struct {
	Records    int64
	Failed     int64
	Bytes      int64 // record keys + values
	DataBytes  int64 // the events' data alone
	Elapsed    time.Duration
	Latencies  []time.Duration // produce call to ack, per record
	FirstError string
}

// rawRecord is the record the gateway writes for the event of seq.
func rawRecord(topic string, e gen.Event, now time.Time) *kgo.Record {
	return schemas.EventRecord(topic, &schemas.Event{
		TenantID: e.Tenant, IngestID: "raw-" + strconv.FormatUint(e.Seq, 10),
		ReceivedAt: now.UTC(), ContentHash: schemas.ContentHash(e.Type, e.Source, e.Subject, e.Time, true, "application/json", e.Data),
		ID: e.ID, Type: e.Type, Source: e.Source, Subject: e.Subject, Time: e.Time, DataContentType: "application/json", Data: e.Data,
	})
}

// DefaultPool is the number of distinct raw records (about 60 MB of 300-byte events).
const DefaultPool = 100_000

// recordSource returns the n-th record to produce and its data size, from
// a pool built before the clock starts (a fresh copy each time, since the
// client fills in partition, offset and timestamp).
func recordSource(cfg KafkaConfig) func(n int64) (*kgo.Record, int) {
	counter := gen.NewCounter(cfg.SeqBase, len(cfg.Gen.Tenants))
	if cfg.Pool <= 0 {
		cfg.Pool = DefaultPool
	}
	pool := make([]*kgo.Record, cfg.Pool)
	sizes := make([]int, cfg.Pool)
	for i := range pool {
		e := cfg.Gen.Event(counter.Next(i % len(cfg.Gen.Tenants)))
		pool[i], sizes[i] = rawRecord(cfg.Topic, e, time.Now()), len(e.Data)
	}
	return func(n int64) (*kgo.Record, int) {
		r := *pool[n%int64(len(pool))]
		return &r, sizes[n%int64(len(pool))]
	}
}

// RunKafka produces records as fast as the broker acknowledges them
// (franz-go defaults: idempotent, acks=all; Produce blocks while its
// buffer is full) until the duration or count is reached.
func RunKafka(ctx context.Context, cfg KafkaConfig) (KafkaResult, error) {
	if cfg.Duration <= 0 || len(cfg.Gen.Tenants) == 0 || cfg.Topic == "" {
		return KafkaResult{}, errors.New("kafka run: duration, tenants and topic are required")
	}
	for _, b := range cfg.Brokers {
		if err := CheckLoopback(ctx, b); err != nil {
			return KafkaResult{}, err
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.DefaultProduceTopic(cfg.Topic),
		kgo.ProducerLinger(cfg.Linger), kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.RecordDeliveryTimeout(30*time.Second))
	if err != nil {
		return KafkaResult{}, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	next := recordSource(cfg)
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()

	var (
		mu  sync.Mutex
		res KafkaResult
	)
	done := func(sent time.Time, size, data int) func(*kgo.Record, error) {
		return func(_ *kgo.Record, err error) {
			lat := time.Since(sent)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Failed++
				if res.FirstError == "" {
					res.FirstError = err.Error()
				}
				return
			}
			res.Records++
			res.Bytes += int64(size)
			res.DataBytes += int64(data)
			res.Latencies = append(res.Latencies, lat)
		}
	}
	start := time.Now()
	var sent atomic.Int64
	var wg sync.WaitGroup
	for range max(cfg.Producers, 1) {
		wg.Go(func() {
			for ctx.Err() == nil {
				n := sent.Add(1)
				if cfg.MaxEvents > 0 && n > cfg.MaxEvents {
					return
				}
				r, data := next(n - 1)
				// Background context: a record handed to the client is waited
				// for, so every produced record is counted as acked or failed.
				cl.Produce(context.Background(), r, done(time.Now(), len(r.Key)+len(r.Value), data))
			}
		})
	}
	wg.Wait()
	if err := cl.Flush(context.Background()); err != nil {
		return KafkaResult{}, fmt.Errorf("flush: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	res.Elapsed = time.Since(start)
	return res, nil
}
