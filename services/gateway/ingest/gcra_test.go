package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/pulsestream/pulsestream/testkit/testenv"
)

// frozenBucket is a limiter and marker store on a private Redis, and a way
// to hold a bucket's call in flight (the Redis frozen) while more requests
// queue behind it.
type frozenBucket struct {
	t      *testing.T
	r      *testenv.Redis
	l      *RedisLimiter
	m      *RedisMarkers
	log    *pipelineLog
	key    string
	frozen bool
}

func newFrozenBucket(t *testing.T) *frozenBucket {
	r := testenv.StartRedis(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: r.Addr, ReadTimeout: time.Minute, WriteTimeout: time.Minute, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	log := &pipelineLog{}
	rdb.AddHook(log)
	l := NewRedisLimiter(rdb, "pstest:")
	m := NewRedisMarkers(rdb, "pstest:", time.Minute, time.Minute)
	if _, err := l.AllowN(context.Background(), "warm", 1, 1, 0); err != nil { // the script loaded
		t.Fatal(err)
	}
	f := &frozenBucket{t: t, r: r, l: l, m: m, log: log, key: l.key("t")}
	t.Cleanup(func() {
		if f.frozen {
			r.Resume()
		}
	})
	return f
}

func (f *frozenBucket) freeze() { f.r.Pause(); f.frozen = true }
func (f *frozenBucket) thaw()   { f.r.Resume(); f.frozen = false }

// queued waits until the bucket of tenant t (limit rate, burst) has a call
// in flight and n requests waiting behind it.
func (f *frozenBucket) queued(rate, burst, n int) {
	f.t.Helper()
	id := bucketID(f.key, rate, burst)
	deadline := time.Now().Add(30 * time.Second)
	for {
		f.l.b.mu.Lock()
		q := f.l.b.queues[id]
		ok := q != nil && q.inFlight && len(q.waiting) == n
		f.l.b.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("bucket never had %d requests queued behind its call", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type decided struct {
	d    Decision
	err  error
	trip *Trip
}

// decide starts a decision on tenant t's bucket, with a marker lookup along.
func (f *frozenBucket) decide(ctx context.Context, rate, burst, n int) chan decided {
	out := make(chan decided, 1)
	trip := &Trip{Lookup: f.m.Prepare(ctx, "t", []string{fmt.Sprint("id-", n)})}
	go func() {
		d, err := f.l.AllowNWith(ctx, "t", rate, burst, n, trip)
		out <- decided{d, err, trip}
	}()
	return out
}

// TestDecisionsQueuedOnABucketGoAsOneCallInOrder: while a bucket's call is
// in flight (Redis frozen), the requests arriving for it queue; they go as
// one script call, with their marker lookups in the same round trip, and
// each gets its own answer as if decided one after the other in arrival
// order: a request that does not fit is refused without taking anything,
// and a later one that fits is allowed. A request that gave up while queued
// gets its context's error; the others are not affected.
func TestDecisionsQueuedOnABucketGoAsOneCallInOrder(t *testing.T) {
	f := newFrozenBucket(t)
	const rate, burst = 1, 16
	f.log.take()
	f.freeze()
	first := f.decide(context.Background(), rate, burst, 1)
	f.queued(rate, burst, 0)
	var later []chan decided
	gone, cancel := context.WithCancel(context.Background())
	for i, n := range []int{12, 6, 3, 2} {
		ctx := context.Background()
		if i == 3 {
			ctx = gone
		}
		later = append(later, f.decide(ctx, rate, burst, n))
		f.queued(rate, burst, i+1)
	}
	cancel()
	g := <-later[3]
	if !errors.Is(g.err, context.Canceled) {
		t.Fatalf("a request that gave up while queued: %+v", g)
	}
	if _, _, err := g.trip.Lookup.Result(); !errors.Is(err, context.Canceled) {
		t.Fatalf("its lookup: %v, want its context's error", err)
	}
	f.thaw()
	a := <-first
	if a.err != nil || !a.d.Allowed || a.d.Remaining != burst-1 {
		t.Fatalf("first: %+v", a)
	}
	// 15 left (up to 16 with refill, never more): 12 fits, 6 does not, 3 does.
	want := []bool{true, false, true}
	for i, ch := range later[:3] {
		got := <-ch
		if got.err != nil || got.d.Allowed != want[i] {
			t.Fatalf("queued request %d: %+v, allowed want %v", i, got, want[i])
		}
		if _, found, err := got.trip.Lookup.Result(); err != nil || len(found) != 1 {
			t.Fatalf("queued request %d: lookup %v %v", i, found, err)
		}
		switch i {
		case 0:
			if got.d.Remaining < 3 || got.d.Remaining > 4 {
				t.Fatalf("after 12 of 15-16: %d remaining", got.d.Remaining)
			}
		case 1:
			if got.d.RetryAfter <= 0 || got.d.Remaining != 0 {
				t.Fatalf("refused 6: %+v", got.d)
			}
		case 2:
			if got.d.Remaining > 1 {
				t.Fatalf("after 3 more: %d remaining", got.d.Remaining)
			}
		}
	}
	var calls []string
	for _, p := range f.log.take() {
		if strings.HasPrefix(strings.Join(p, " "), "evalsha") {
			calls = append(calls, strings.Join(p, " "))
		}
	}
	// The queued call carries all four requests (the one that gave up
	// included: it had been queued; its lookup is not read).
	if len(calls) != 2 || calls[0] != "evalsha mget" || calls[1] != "evalsha mget mget mget mget" {
		t.Fatalf("pipelines with a decision: %q, want the first alone, then one call for the four queued", calls)
	}
	d, err := f.l.AllowN(context.Background(), "t", rate, burst, 0)
	if err != nil || d.Remaining > 2 {
		t.Fatalf("bucket after all: %+v %v (the request that gave up was decided too)", d, err)
	}
}

// TestRedisFailureFailsEveryQueuedRequest: Redis dies while a bucket's call
// is in flight with requests queued behind it: the request in flight and
// each queued one get an error (none hangs, none is allowed), and their
// lookups report that they were not answered.
func TestRedisFailureFailsEveryQueuedRequest(t *testing.T) {
	f := newFrozenBucket(t)
	const rate, burst = 100, 100
	f.freeze()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	chans := []chan decided{f.decide(ctx, rate, burst, 1)}
	f.queued(rate, burst, 0)
	for i := range 3 {
		chans = append(chans, f.decide(ctx, rate, burst, 1))
		f.queued(rate, burst, i+1)
	}
	f.r.Kill()
	f.frozen = false
	for i, ch := range chans {
		got := <-ch
		if got.err == nil || got.d.Allowed {
			t.Fatalf("request %d with Redis dead: %+v", i, got)
		}
		if _, _, err := got.trip.Lookup.Result(); err == nil {
			t.Fatalf("request %d: a lookup answered by a dead Redis", i)
		}
	}
	if ctx.Err() != nil {
		t.Fatal("the requests waited for their deadline instead of failing")
	}
}

// TestScriptDecidesAsRedisRate: the script, given one request at a time,
// answers what go-redis/redis_rate's AllowN (the GCRA it replaced) answers
// for the same sequence of costs on a bucket of its own: takes, refusals,
// looks (cost 0), refunds, and a refund past full. At 1 unit/s the two
// buckets drift apart by the time between their calls; the costs keep every
// verdict at least 100 units from its boundary and the tolerance is 2 units
// (2 s of a stalled machine).
func TestScriptDecidesAsRedisRate(t *testing.T) {
	rdb := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(t)})
	defer rdb.Close()
	prefix := fmt.Sprintf("pstest:gcra-%d:", time.Now().UnixNano())
	l := NewRedisLimiter(rdb, prefix)
	lib := redis_rate.NewLimiter(rdb)
	limit := redis_rate.Limit{Rate: 1, Burst: 1000, Period: time.Second}
	ctx := context.Background()
	near := func(a, b time.Duration) bool { return (a - b).Abs() <= 2*time.Second }
	for i, cost := range []int{300, 0, 800, 500, -100, 0, 600, 1000, -5000, 0, 999, 1} {
		want, err := lib.AllowN(ctx, prefix+"lib", limit, cost)
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.b.decide(ctx, l.key("ours"), 1, 1000, cost, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.allowed != want.Allowed || got.remaining < want.Remaining-2 || got.remaining > want.Remaining+2 ||
			!near(got.resetAfter, want.ResetAfter) || (want.RetryAfter == -1) != (got.retryAfter == -1) || !near(got.retryAfter, want.RetryAfter) {
			t.Fatalf("step %d (cost %d): script %+v, redis_rate %+v", i, cost, got, *want)
		}
	}
}
