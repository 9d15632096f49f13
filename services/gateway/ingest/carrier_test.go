package ingest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pulsestream/pulsestream/schemas/markers"
	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// pipelineLog records the command names of every pipeline go-redis sends.
type pipelineLog struct {
	mu    sync.Mutex
	pipes [][]string
}

func (l *pipelineLog) DialHook(next goredis.DialHook) goredis.DialHook          { return next }
func (l *pipelineLog) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook { return next }
func (l *pipelineLog) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		names := make([]string, len(cmds))
		for i, c := range cmds {
			names[i] = c.Name()
		}
		l.mu.Lock()
		l.pipes = append(l.pipes, names)
		l.mu.Unlock()
		return next(ctx, cmds)
	}
}

func (l *pipelineLog) take() [][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pipes
	l.pipes = nil
	return p
}

// TestLookupRidingAlongAnswersAsALookupAlone: a marker lookup sent with
// the rate-limit decision finds exactly what a lookup of its own finds, and
// the decision is the one AllowN gives; a request of bulkKeys events or more
// sends both in one pipeline. The private Redis has never seen the script,
// so the first decision also takes the script's NOSCRIPT retry (EVAL after
// EVALSHA), which must not send the lookup twice.
func TestLookupRidingAlongAnswersAsALookupAlone(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: r.Addr})
	defer rdb.Close()
	log := &pipelineLog{}
	rdb.AddHook(log)
	ctx := context.Background()
	m := NewRedisMarkers(rdb, "pstest:", time.Minute, time.Minute)
	l := NewRedisLimiter(rdb, "pstest:")
	for _, n := range []int{1, 5, bulkKeys, 100} {
		tenant := fmt.Sprintf("t%d", n)
		ids := make([]string, n)
		var saved []string
		var ms []markers.Marker
		for i := range ids {
			ids[i] = fmt.Sprintf("e%d", i)
			if i%2 == 0 {
				saved = append(saved, ids[i])
				ms = append(ms, markers.Marker{ContentHash: fmt.Sprintf("h%d", i), AcceptedAt: time.UnixMilli(1e12), Partition: 1, Offset: int64(i), IngestID: "i" + ids[i]})
			}
		}
		if err := m.Save(ctx, tenant, saved, ms); err != nil {
			t.Fatal(err)
		}
		wantMs, wantFound, err := m.Lookup(ctx, tenant, ids)
		if err != nil {
			t.Fatal(err)
		}
		log.take()
		p := m.Prepare(ctx, tenant, ids)
		d, err := l.AllowNWith(ctx, tenant, 1000, 1000, n, &Trip{Lookup: p})
		if err != nil || !d.Allowed || d.Remaining != 1000-n || d.Limit != 1000 {
			t.Fatalf("n=%d: decision %+v, %v", n, d, err)
		}
		gotMs, gotFound, err := p.Result()
		if err != nil || !reflect.DeepEqual(gotMs, wantMs) || !reflect.DeepEqual(gotFound, wantFound) {
			t.Fatalf("n=%d: riding along %v %v %v, alone %v %v", n, gotMs, gotFound, err, wantMs, wantFound)
		}
		sent := log.take()
		mgets := 0
		for _, pipe := range sent {
			mgets += strings.Count(strings.Join(pipe, " "), "mget")
		}
		if mgets != 1 {
			t.Errorf("n=%d: %d MGETs sent in %v, want 1", n, mgets, sent)
		}
		if n >= bulkKeys && (len(sent) != 1 || len(sent[0]) != 2) {
			t.Errorf("n=%d: pipelines %v, want one holding the script and the MGET", n, sent)
		}
	}
}

// TestLookupNotAnsweredIsAnErrorNeverARead: a lookup whose decision never
// reached Redis (the gate cooling off) or whose caller stopped waiting
// reports an error; Result does not read a command still in flight.
func TestLookupNotAnsweredIsAnErrorNeverARead(t *testing.T) {
	m := &RedisMarkers{prefix: "pstest:"}
	if _, _, err := m.Prepare(context.Background(), "t", []string{"a"}).Result(); !errors.Is(err, errNotSent) {
		t.Fatalf("never sent: %v", err)
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(t)})
	defer rdb.Close()
	l := NewRedisLimiter(rdb, fmt.Sprintf("pstest:gone-%d:", time.Now().UnixNano()))
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	p := m.Prepare(gone, "t", []string{"a"})
	if _, err := l.AllowNWith(gone, "t", 10, 10, 1, &Trip{Lookup: p}); !errors.Is(err, context.Canceled) {
		t.Fatalf("decision for a caller gone: %v", err)
	}
	if _, _, err := p.Result(); !errors.Is(err, context.Canceled) {
		t.Fatalf("lookup for a caller gone: %v", err)
	}
}

// TestNonceRidesTheRoundTripAndARepeatIsNotFresh: a nonce claim sent with
// the rate-limit decision (and, for a tenant without a limit, alone with
// the lookup) is one SET NX in the same pipeline as the script and the
// MGET; the first claim is fresh, the same nonce again is not, whichever
// way it travels.
func TestNonceRidesTheRoundTripAndARepeatIsNotFresh(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: r.Addr})
	defer rdb.Close()
	log := &pipelineLog{}
	rdb.AddHook(log)
	ctx := context.Background()
	m := NewRedisMarkers(rdb, "pstest:", time.Minute, time.Minute)
	l := NewRedisLimiter(rdb, "pstest:")
	if _, err := l.AllowN(ctx, "warm", 10, 10, 1); err != nil { // the script loaded: no NOSCRIPT retry below
		t.Fatal(err)
	}
	for _, n := range []int{1, bulkKeys} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("e%d", i)
		}
		nonce := &Nonce{RedisKey: fmt.Sprintf("pstest:nonce:k:%d", n), TTL: time.Minute, Timeout: time.Second}
		for round, want := range []bool{true, false} {
			log.take()
			trip := &Trip{Nonce: PrepareNonce(ctx, nonce), Lookup: m.Prepare(ctx, "t", ids)}
			if _, err := l.AllowNWith(ctx, "t", 1000, 1000, n, trip); err != nil {
				t.Fatal(err)
			}
			if fresh, err := trip.Nonce.Fresh(); err != nil || fresh != want {
				t.Fatalf("n=%d round %d: fresh %v, %v; want %v", n, round, fresh, err, want)
			}
			if _, _, err := trip.Lookup.Result(); err != nil {
				t.Fatal(err)
			}
			if sent := log.take(); len(sent) != 1 || strings.Join(sent[0], " ") != "evalsha set mget" {
				t.Fatalf("n=%d: pipelines %v, want one: evalsha set mget", n, sent)
			}
		}
		alone := &Nonce{RedisKey: fmt.Sprintf("pstest:nonce:alone:%d", n), TTL: time.Minute, Timeout: time.Second}
		for round, want := range []bool{true, false} {
			trip := &Trip{Nonce: PrepareNonce(ctx, alone), Lookup: m.Prepare(ctx, "t", ids)}
			if err := m.Send(ctx, trip); err != nil {
				t.Fatal(err)
			}
			if fresh, err := trip.Nonce.Fresh(); err != nil || fresh != want {
				t.Fatalf("n=%d alone, round %d: fresh %v, %v; want %v", n, round, fresh, err, want)
			}
		}
		if ttl := rdb.PTTL(ctx, nonce.RedisKey).Val(); ttl <= 50*time.Second || ttl > time.Minute {
			t.Fatalf("nonce kept for %s, want its TTL", ttl)
		}
	}
	p := PrepareNonce(ctx, &Nonce{RedisKey: "pstest:nonce:never"})
	if _, err := p.Fresh(); !errors.Is(err, errNotSent) || p.sent() {
		t.Fatalf("a claim never sent: %v, sent %v", err, p.sent())
	}
}

// TestRefundGivesBackWhatWasTaken: units taken and refunded leave the
// bucket as it was (a replayed request takes nothing from the limit); a
// refund never fills a bucket past its burst.
func TestRefundGivesBackWhatWasTaken(t *testing.T) {
	rdb := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(t)})
	defer rdb.Close()
	l := NewRedisLimiter(rdb, fmt.Sprintf("pstest:refund-%d:", time.Now().UnixNano()))
	ctx := context.Background()
	remaining := func() int {
		d, err := l.AllowN(ctx, "t", 1, 1000, 0)
		if err != nil {
			t.Fatal(err)
		}
		return d.Remaining
	}
	if d, err := l.AllowN(ctx, "t", 1, 1000, 100); err != nil || d.Remaining != 900 {
		t.Fatalf("take 100: %+v %v", d, err)
	}
	if d, err := l.AllowN(ctx, "t", 1, 1000, 300); err != nil || !d.Allowed {
		t.Fatalf("take 300: %+v %v", d, err)
	}
	if err := l.Refund(ctx, "t", 1, 1000, 300); err != nil {
		t.Fatal(err)
	}
	// One unit refills per second: a slow machine adds a few, never 300.
	if got := remaining(); got < 900 || got > 910 {
		t.Fatalf("after taking 300 and refunding them: %d left, want 900", got)
	}
	if err := l.Refund(ctx, "t", 1, 1000, 500); err != nil {
		t.Fatal(err)
	}
	if got := remaining(); got > 1000 {
		t.Fatalf("refunding more than was taken: %d left, more than the burst", got)
	}
}
