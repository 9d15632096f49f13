package consumer_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/internal/consumer"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errDown = errors.New("store down")

type errBad struct{}

func (errBad) Error() string { return "store refuses this value" }

// fakeSink fails transiently while down is set and refuses items whose id is "bad".
type fakeSink struct {
	mu    sync.Mutex
	down  bool
	calls int
	seen  map[string]int
}

func (s *fakeSink) Name() string { return "fake" }
func (s *fakeSink) Permanent(err error) bool {
	var b errBad
	return errors.As(err, &b)
}
func (s *fakeSink) Write(_ context.Context, items []record.Item) (consumer.Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.down {
		return consumer.Stats{}, errDown
	}
	for _, it := range items {
		if it.ExternalID == "bad" {
			return consumer.Stats{}, errBad{}
		}
	}
	for _, it := range items {
		s.seen[it.ExternalID]++
	}
	return consumer.Stats{Rows: len(items)}, nil
}

func (s *fakeSink) setDown(d bool) { s.mu.Lock(); s.down = d; s.mu.Unlock() }
func (s *fakeSink) count() int     { s.mu.Lock(); defer s.mu.Unlock(); return len(s.seen) }

type rig struct {
	t       *testing.T
	cluster *kfake.Cluster
	c       *consumer.Consumer
	sink    *fakeSink
	prod    *kgo.Client
	adm     *kadm.Client
	cfg     consumer.Config
	cancel  context.CancelFunc
	done    chan error
}

func newRig(t *testing.T) *rig {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "events", "events.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	cfg := consumer.Config{Group: "g", Topic: "events", DLQTopic: "events.dlq", BatchSize: 100, Linger: 10 * time.Millisecond,
		WriteTimeout: time.Second, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, Parallelism: 2}
	rb := consumer.NewRebalances()
	cl, err := kgo.NewClient(append(consumer.GroupOpts(cfg, rb), kgo.SeedBrokers(cluster.ListenAddrs()...))...)
	if err != nil {
		t.Fatal(err)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic("events"))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, cluster: cluster, sink: &fakeSink{seen: map[string]int{}}, prod: prod, adm: kadm.NewClient(prod), cfg: cfg, done: make(chan error, 1)}
	r.c = consumer.New(cfg, cl, prod, r.sink, consumer.NewMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)), rb)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			t.Error(err)
		}
		cl.Close()
		prod.Close()
	})
	return r
}

func (r *rig) produce(ids ...string) {
	for _, id := range ids {
		rec := schemas.EventRecord("events", &schemas.Event{Version: 1, TenantID: "t", ID: id, Type: "x"})
		if err := r.prod.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			r.t.Fatal(err)
		}
	}
}

// committed sums the group's committed offsets.
func (r *rig) committed() int64 {
	os, err := r.adm.FetchOffsets(context.Background(), "g")
	if err != nil {
		return -1
	}
	var n int64
	os.Each(func(o kadm.OffsetResponse) { n += o.At })
	return n
}

// eventually polls cond for up to a minute: a loaded machine may hold the
// in-process cluster's group join for seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNothingIsCommittedWhileTheStoreIsDownAndAllIsWrittenAfterwards(t *testing.T) {
	r := newRig(t)
	r.sink.setDown(true)
	r.produce("a", "b", "c", "d")
	eventually(t, "retries", func() bool { r.sink.mu.Lock(); defer r.sink.mu.Unlock(); return r.sink.calls >= 3 })
	if err := r.c.Healthy(context.Background()); err == nil {
		t.Fatal("Healthy must report the failing store")
	}
	if n := r.committed(); n > 0 {
		t.Fatalf("committed %d offsets while nothing was written", n)
	}
	r.sink.setDown(false)
	eventually(t, "all records written", func() bool { return r.sink.count() == 4 })
	eventually(t, "offsets committed", func() bool { return r.committed() == 4 })
	if err := r.c.Healthy(context.Background()); err != nil {
		t.Fatalf("Healthy after recovery: %v", err)
	}
}

func TestRefusedRecordGoesToTheDLQAndTheRestIsWritten(t *testing.T) {
	r := newRig(t)
	r.produce("a", "bad", "b")
	eventually(t, "good records written", func() bool { return r.sink.count() == 2 })
	eventually(t, "offsets committed", func() bool { return r.committed() == 3 })
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.prod.OptValue(kgo.SeedBrokers).([]string)...), kgo.ConsumeTopics("events.dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // ends at the first fetch with records
	defer cancel()
	fs := cl.PollFetches(ctx)
	recs := fs.Records()
	if len(recs) != 1 || string(recs[0].Key) != "t/bad" {
		t.Fatalf("DLQ holds %d records", len(recs))
	}
	hs := map[string]string{}
	for _, h := range recs[0].Headers {
		hs[h.Key] = string(h.Value)
	}
	if hs[schemas.HeaderDLQError] != "store refuses this value" || hs[schemas.HeaderDLQTopic] != "events" || hs[schemas.HeaderDLQOffset] == "" || hs[schemas.HeaderDLQSink] != "fake" {
		t.Fatalf("DLQ headers %v", hs)
	}
}

// A second member joining while the store is down must get its partitions
// promptly (the first abandons its batch instead of blocking the rebalance
// until it is kicked out), and once the store is back nothing is skipped.
func TestWaitingRebalanceAbandonsAFailingBatchAndSkipsNothing(t *testing.T) {
	r := newRig(t)
	r.sink.setDown(true)
	ids := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	r.produce(ids...)
	eventually(t, "retries", func() bool { r.sink.mu.Lock(); defer r.sink.mu.Unlock(); return r.sink.calls >= 2 })

	assigned := make(chan struct{}, 1)
	rb := consumer.NewRebalances()
	opts := append(consumer.GroupOpts(r.cfg, rb), kgo.SeedBrokers(r.cluster.ListenAddrs()...),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if len(m["events"]) > 0 {
				select {
				case assigned <- struct{}{}:
				default:
				}
			}
		}))
	cl2, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	c2 := consumer.New(r.cfg, cl2, r.prod, r.sink, consumer.NewMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)), rb)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c2.Run(ctx) }()
	defer func() { cancel(); <-done; cl2.Close() }()
	select {
	case <-assigned:
	case <-time.After(30 * time.Second): // a blocked rebalance ends only at kgo's 60 s rebalance timeout
		t.Fatal("the second member got no partition within 30s: the failing batch blocked the rebalance")
	}
	r.sink.setDown(false)
	eventually(t, "every record written", func() bool { return r.sink.count() == len(ids) })
	eventually(t, "offsets committed", func() bool { return r.committed() == int64(len(ids)) })
}

// gateSink holds the first Write until released.
type gateSink struct {
	*fakeSink
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *gateSink) Write(ctx context.Context, items []record.Item) (consumer.Stats, error) {
	first := false
	s.once.Do(func() { first = true })
	if first {
		close(s.entered)
		<-s.release
	}
	return s.fakeSink.Write(ctx, items)
}

// While a batch is being written the next is polled and decoded (read
// ahead), but no offset is committed before its own batch is durable: not
// the read-ahead batch's, not the batch in flight's.
func TestReadAheadCommitsOnlyWhatIsWritten(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events", "events.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	// A Shared with two readers and no second consumer keeps every decode:
	// Pending counts what this consumer has decoded.
	dec := record.NewShared(2, 1000)
	cfg := consumer.Config{Group: "g", Topic: "events", DLQTopic: "events.dlq", BatchSize: 100, Linger: 10 * time.Millisecond,
		WriteTimeout: 5 * time.Second, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, Parallelism: 1, Decoder: dec}
	rb := consumer.NewRebalances()
	cl, err := kgo.NewClient(append(consumer.GroupOpts(cfg, rb), kgo.SeedBrokers(cluster.ListenAddrs()...))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic("events"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	r := &rig{t: t, prod: prod, adm: kadm.NewClient(prod)}
	sink := &gateSink{fakeSink: &fakeSink{seen: map[string]int{}}, entered: make(chan struct{}), release: make(chan struct{})}
	c := consumer.New(cfg, cl, prod, sink, consumer.NewMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)), rb)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(sink.release) }) }
	defer func() {
		release()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	r.produce("a", "b", "c")
	select {
	case <-sink.entered:
	case <-time.After(time.Minute):
		t.Fatal("the first batch was not written")
	}
	first := dec.Pending()
	r.produce("d", "e")
	eventually(t, "the next batch read ahead during the write", func() bool { return dec.Pending() > first })
	if n := r.committed(); n != 0 {
		t.Fatalf("committed %d offsets while the first write is in flight", n)
	}
	if n := sink.count(); n != 0 {
		t.Fatalf("%d records written while the first write is held", n)
	}
	release()
	eventually(t, "every record written", func() bool { return sink.count() == 5 })
	eventually(t, "every offset committed", func() bool { return r.committed() == 5 })
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for id, n := range sink.seen {
		if n != 1 {
			t.Fatalf("%s written %d times", id, n)
		}
	}
}
