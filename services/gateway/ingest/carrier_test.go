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
// so the first decision also takes redis_rate's NOSCRIPT retry (EVAL after
// EVALSHA), which must not send the lookup twice.
func TestLookupRidingAlongAnswersAsALookupAlone(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: r.Addr})
	defer rdb.Close()
	log := &pipelineLog{}
	rdb.AddHook(log)
	ctx := context.Background()
	m, err := NewRedisMarkers(rdb, "pstest:", time.Minute, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewRedisLimiter(rdb, "pstest:")
	if err != nil {
		t.Fatal(err)
	}
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
		d, err := l.AllowNWith(ctx, tenant, 1000, 1000, n, p)
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
	if _, _, err := m.Prepare(context.Background(), "t", []string{"a"}).Result(); !errors.Is(err, errLookupNotSent) {
		t.Fatalf("never sent: %v", err)
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(t)})
	defer rdb.Close()
	l, err := NewRedisLimiter(rdb, fmt.Sprintf("pstest:gone-%d:", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	p := m.Prepare(gone, "t", []string{"a"})
	if _, err := l.AllowNWith(gone, "t", 10, 10, 1, p); !errors.Is(err, context.Canceled) {
		t.Fatalf("decision for a caller gone: %v", err)
	}
	if _, _, err := p.Result(); !errors.Is(err, context.Canceled) {
		t.Fatalf("lookup for a caller gone: %v", err)
	}
}
