package app_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// TestKafkaClusterFaultsLoseAndDoubleNothing runs the gateway and projector
// binaries against a private 3-node Kafka cluster (replication factor 3,
// min.insync.replicas=2, no unclean leader election) under a steady load and
// injects in turn:
//  1. SIGKILL of the broker leading most of the topic's partitions:
//     ingestion goes on without it, then it is restarted;
//  2. a rolling restart of all three brokers (controlled shutdown; each is
//     back in every in-sync replica set before the next stops);
//  3. two brokers SIGKILLed with the load stopped: every request is answered
//     503 with Retry-After, never 2xx, until a second broker is back; then the
//     refused events are ingested.
//
// Every event answered 2xx ends in PostgreSQL and in ClickHouse exactly once,
// and nothing is stored that was never acknowledged.
func TestKafkaClusterFaultsLoseAndDoubleNothing(t *testing.T) {
	t0 := time.Now()
	at := func() time.Duration { return time.Since(t0).Round(time.Second) }
	cluster := testenv.StartKafkaCluster(t)
	t.Logf("0. cluster up at %s", at())
	h := newHarnessOn(t, cluster.Brokers, 3, 3)
	key := h.ingestKey()
	gw, gwAddr := h.spawnGateway(cluster.Brokers, "--kafka-partitions", "3", "--kafka-replication-factor", "3")
	h.holdMerges()
	proj := testenv.Spawn(t, testenv.Build(t, "services/projector"), h.args("--projector-batch-size", "500", "--projector-linger", "50ms")...)
	waitFor(t, 90*time.Second, "gateway ready", func() bool { code, _ := readyz(gwAddr); return code == 200 })
	defer func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", gw.Log(30))
		}
	}()

	lg := newLoadgen(key, gwAddr)
	giveUp := time.Now().Add(8 * time.Minute)
	// A steady trickle (2 producers, 10 events every 300 ms): a few thousand
	// events over the run, whatever its length.
	stopLoad := lg.run(t, giveUp, 2, 10, 300*time.Millisecond)
	progress := func(what string) {
		t.Helper()
		before := lg.accepted.Load()
		waitFor(t, 2*time.Minute, what, func() bool { return lg.accepted.Load() >= before+50 })
	}
	progress("ingestion on the cluster")
	injected := 0

	// 1. SIGKILL of the leader of most partitions, under load.
	victim := h.leaderOfMost()
	cluster.Kill(victim)
	injected++
	waitFor(t, time.Minute, fmt.Sprintf("leadership moved off node %d", victim), func() bool { return h.leaders()[victim] == 0 })
	progress(fmt.Sprintf("ingestion with node %d killed", victim))
	cluster.Start(victim)
	h.waitFullISR()
	t.Logf("1. node %d (leader of most partitions) SIGKILLed and restarted at %s: %d accepted so far", victim, at(), lg.accepted.Load())

	// 2. Rolling restart of all three brokers, under load.
	for n := 1; n <= 3; n++ {
		cluster.Stop(n)
		injected++
		progress(fmt.Sprintf("ingestion with node %d stopped", n))
		cluster.Start(n)
		h.waitFullISR()
	}
	t.Logf("2. rolling restart done at %s: %d accepted so far", at(), lg.accepted.Load())

	// 3. Two brokers down: only 503 + Retry-After until one is back.
	stopLoad()
	cluster.Kill(2)
	cluster.Kill(3)
	injected += 2
	var refused []map[string]string
	for i := range 3 {
		evs := lg.batch(fmt.Sprintf("refused%d", i), 5)
		a, err := lg.post(evs)
		switch {
		case a.status == 0:
			t.Fatalf("two brokers down: transport error %v", err)
		case a.status != 503 || a.retryAfter == "" || err != nil:
			t.Errorf("two brokers down: answered %d, Retry-After %q (decode: %v), want 503 with Retry-After", a.status, a.retryAfter, err)
		}
		for _, r := range a.results {
			if r.Status == "accepted" || r.Status == "duplicate" {
				t.Errorf("two brokers down: event %s answered %s", r.ID, r.Status)
			}
		}
		lg.count(a.status)
		refused = append(refused, evs)
	}
	if t.Failed() {
		t.FailNow()
	}
	cluster.Start(2)
	for _, evs := range refused {
		lg.send(t, giveUp, evs) // retried until acknowledged: ingestion is back
	}
	t.Logf("3. nodes 2 and 3 SIGKILLed: %d requests answered 503 + Retry-After; node 2 restarted, refused events acknowledged at %s", len(refused), at())

	if err := gw.Signal(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Errorf("gateway exit after SIGTERM: %v", err)
	}
	if t.Failed() {
		t.FailNow()
	}
	waitFor(t, 3*time.Minute, "both sinks at lag 0", func() bool { return h.lag("postgres") == 0 && h.lag("clickhouse") == 0 })
	if err := proj.Signal(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Errorf("projector exit after SIGTERM: %v", err)
	}
	acked, stored, lost, doubled := h.verifyStored(lg)
	t.Log(lg.summary())
	fmt.Printf("faults: %d injected, %d events acknowledged, %d stored, %d lost, %d doubled\n", injected, acked, stored, lost, doubled)
}

// leaders counts the partitions of the harness's topic each node leads.
func (h *harness) leaders() map[int]int {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	td, err := h.adm.ListTopics(ctx, h.topic)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[int]int{}
	for _, p := range td[h.topic].Partitions {
		out[int(p.Leader)]++
	}
	return out
}

// leaderOfMost is the node leading most of the topic's partitions.
func (h *harness) leaderOfMost() int {
	best, most := 0, -1
	for node, n := range h.leaders() {
		if node > 0 && (n > most || n == most && node < best) {
			best, most = node, n
		}
	}
	if best == 0 {
		h.t.Fatal("no partition has a leader")
	}
	return best
}

// waitFullISR waits until every partition of every topic (the internal ones
// too: consumer offsets) has all its replicas in sync, as an operator waits
// between the steps of a rolling restart.
func (h *harness) waitFullISR() {
	h.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		short := h.underReplicated()
		if len(short) == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("replicas still out of sync after 2m: %v", short)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// underReplicated lists the partitions (of every topic) with a replica out
// of sync, or why the metadata could not be read.
func (h *harness) underReplicated() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	td, err := h.adm.ListTopicsWithInternal(ctx)
	if err != nil {
		return []string{err.Error()}
	}
	var short []string
	for _, topic := range td.Sorted() {
		for _, p := range topic.Partitions.Sorted() {
			if p.Err != nil || len(p.ISR) < len(p.Replicas) {
				short = append(short, fmt.Sprintf("%s/%d isr %v of %v", topic.Topic, p.Partition, p.ISR, p.Replicas))
			}
		}
	}
	return short
}
