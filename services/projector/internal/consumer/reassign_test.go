package consumer_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/internal/consumer"
	"github.com/pulsestream/pulsestream/services/projector/internal/record"
)

// store is a read model shared by the members of a group: how many times
// each key was stored.
type store struct {
	mu   sync.Mutex
	rows map[string]int
}

func (s *store) copyKeys() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for k := range s.rows {
		out[k] = true
	}
	return out
}

// memorySink remembers the keys it knows the store holds, as chsink does:
// rebuilt from the store when Reassigned, and extended by its own writes. A
// key it does not know is stored without asking the store.
type memorySink struct {
	store *store
	mu    sync.Mutex
	known map[string]bool
}

func newMemorySink(st *store) *memorySink { return &memorySink{store: st, known: st.copyKeys()} }

func (s *memorySink) Name() string         { return "memory" }
func (s *memorySink) Permanent(error) bool { return false }
func (s *memorySink) Reassigned()          { k := s.store.copyKeys(); s.mu.Lock(); s.known = k; s.mu.Unlock() }
func (s *memorySink) Write(_ context.Context, items []record.Item) (consumer.Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st consumer.Stats
	for _, it := range items {
		if s.known[it.ExternalID] {
			st.Duplicates++
			continue
		}
		s.known[it.ExternalID] = true
		s.store.mu.Lock()
		s.store.rows[it.ExternalID]++
		s.store.mu.Unlock()
		st.Rows++
	}
	return st, nil
}

// A partition that another member wrote while it held it comes back: the
// sink is told before it writes again, so a copy of a key the other member
// stored is not stored twice (without the call, A's memory from before B
// held the partition would store "k" again).
func TestSinkIsToldOfReassignmentBeforeItWritesAgain(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events", "events.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	cfg := consumer.Config{Group: "g", Topic: "events", DLQTopic: "events.dlq", BatchSize: 100, Linger: 10 * time.Millisecond,
		WriteTimeout: 5 * time.Second, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, Parallelism: 1}
	prod, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic("events"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	st := &store{rows: map[string]int{}}
	produce := func(id string) {
		t.Helper()
		rec := schemas.EventRecord("events", &schemas.Event{Version: 1, TenantID: "t", ID: id, Type: "x"})
		if err := prod.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	stored := func(id string) func() bool {
		return func() bool { st.mu.Lock(); defer st.mu.Unlock(); return st.rows[id] > 0 }
	}
	// member runs one group member writing to sink until stop is called
	// (which waits for it).
	member := func(sink *memorySink) (stop func()) {
		rb := consumer.NewRebalances()
		cl, err := kgo.NewClient(append(consumer.GroupOpts(cfg, rb), kgo.SeedBrokers(cluster.ListenAddrs()...))...)
		if err != nil {
			t.Fatal(err)
		}
		c := consumer.New(cfg, cl, prod, sink, consumer.NewMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)), rb)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
			cl.Close() // leaves the group: its partition goes to the other member
		}
	}

	sinkA, sinkB := newMemorySink(st), newMemorySink(st)
	stopA := member(sinkA)
	produce("first")
	eventually(t, "A writes the partition", stored("first"))
	// A leaves; B takes the partition and stores "k".
	stopA()
	stopB := member(sinkB)
	produce("k")
	eventually(t, "B stores k", stored("k"))
	// A comes back and B leaves: the partition is A's again, and the next
	// records are a copy of "k" and a new key.
	stopA = member(sinkA) // the same sink: the same process rejoining
	stopB()
	produce("k")
	produce("last")
	eventually(t, "A writes after the copy", stored("last"))
	stopA()
	st.mu.Lock()
	defer st.mu.Unlock()
	for id, n := range st.rows {
		if n != 1 {
			t.Fatalf("%s stored %d times", id, n)
		}
	}
}
