package ingest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/pulsestream/pulsestream/schemas/markers"
	goredis "github.com/redis/go-redis/v9"
)

// MarkerStore holds the "accepted" markers of (tenant, id).
type MarkerStore interface {
	// Lookup returns the marker of each id (ok false: none), in one round trip.
	Lookup(ctx context.Context, tenant string, ids []string) ([]markers.Marker, []bool, error)
	// Save writes markers of freshly acknowledged events, first write wins.
	Save(ctx context.Context, tenant string, ids []string, ms []markers.Marker) error
	// SaveErased writes m (ContentHash markers.Erased) for every id, over any
	// marker there, kept for the erased-marker TTL.
	SaveErased(ctx context.Context, tenant string, ids []string, m markers.Marker) error
}

// Limiter decides whether a tenant may send n more events now.
type Limiter interface {
	AllowN(ctx context.Context, tenant string, ratePerSec, burst, n int) (Decision, error)
}

// Decision is a rate-limit answer, for the RateLimit-* headers.
type Decision struct {
	Allowed    bool
	Limit      int // the burst: most events acceptable at once
	Rate       int // events per second
	Remaining  int
	ResetAfter time.Duration // until the bucket is full again
	RetryAfter time.Duration // until the refused request would fit (when not allowed)
}

// ErrRedisSkipped is returned while the gate is cooling off after a failure.
var ErrRedisSkipped = errors.New("redis skipped after a recent failure")

// redisGate bounds what a Redis outage costs a request: each call gets a
// timeout, and after a failure calls are skipped (failing at once) for the
// cooldown, so only one request per cooldown waits for a dead Redis.
type redisGate struct {
	timeout   time.Duration
	cooldown  time.Duration
	downUntil atomic.Int64 // unix nanoseconds
}

func (g *redisGate) do(ctx context.Context, fn func(ctx context.Context) error) error {
	if time.Now().UnixNano() < g.downUntil.Load() {
		return ErrRedisSkipped
	}
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	err := fn(ctx)
	if err != nil && g.cooldown > 0 {
		g.downUntil.Store(time.Now().Add(g.cooldown).UnixNano())
	}
	return err
}

// RedisMarkers is the MarkerStore in Redis (keys from platform/markers).
type RedisMarkers struct {
	rdb       *goredis.Client
	prefix    string
	ttl       time.Duration
	erasedTTL time.Duration
}

// NewRedisMarkers stores markers under prefix with ttl, erasure markers with
// erasedTTL (0: kept until deleted).
func NewRedisMarkers(rdb *goredis.Client, prefix string, ttl, erasedTTL time.Duration) *RedisMarkers {
	return &RedisMarkers{rdb: rdb, prefix: prefix, ttl: ttl, erasedTTL: erasedTTL}
}

// SaveErased is one pipeline of SET (EX erasedTTL, or no expiry).
func (s *RedisMarkers) SaveErased(ctx context.Context, tenant string, ids []string, m markers.Marker) error {
	v := m.Encode()
	_, err := s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, id := range ids {
			p.Set(ctx, markers.Key(s.prefix, tenant, id), v, s.erasedTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis save erasure markers: %w", err)
	}
	return nil
}

// Lookup is one MGET.
func (s *RedisMarkers) Lookup(ctx context.Context, tenant string, ids []string) ([]markers.Marker, []bool, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = markers.Key(s.prefix, tenant, id)
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("redis mget markers: %w", err)
	}
	ms := make([]markers.Marker, len(ids))
	ok := make([]bool, len(ids))
	for i, v := range vals {
		str, isStr := v.(string)
		if !isStr {
			continue
		}
		if m, err := markers.Decode(str); err == nil {
			ms[i], ok[i] = m, true
		}
	}
	return ms, ok, nil
}

// Save is one pipeline of SET NX EX.
func (s *RedisMarkers) Save(ctx context.Context, tenant string, ids []string, ms []markers.Marker) error {
	_, err := s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			p.SetArgs(ctx, markers.Key(s.prefix, tenant, id), ms[i].Encode(), goredis.SetArgs{Mode: "NX", TTL: s.ttl})
		}
		return nil
	})
	if err != nil && err != goredis.Nil {
		return fmt.Errorf("redis save markers: %w", err)
	}
	return nil
}

// RedisLimiter is GCRA in Redis through go-redis/redis_rate/v10.
type RedisLimiter struct {
	l      *redis_rate.Limiter
	prefix string
}

// NewRedisLimiter keys buckets as <prefix>ingest:<tenant> (redis_rate adds "rate:").
func NewRedisLimiter(rdb *goredis.Client, prefix string) *RedisLimiter {
	return &RedisLimiter{l: redis_rate.NewLimiter(rdb), prefix: prefix}
}

// remainingAfter is what is left of a bucket that is full again after
// resetAfter. redis_rate's own Remaining is a float quotient that Redis
// truncates to an integer, and its script computes in doubles of seconds
// since 2017 (an ulp of about 6e-8 s): a fresh bucket of 100 after taking 10
// says 89 (ResetAfter 100.000023ms). This floors the same quantity, forgiving
// up to one microsecond of refill for that noise.
func remainingAfter(resetAfter time.Duration, ratePerSec, burst int) int {
	left := float64(burst) - resetAfter.Seconds()*float64(ratePerSec)
	return max(int(math.Floor(left+1e-6*float64(ratePerSec))), 0)
}

// AllowN takes n units when they are all available, else none.
func (r *RedisLimiter) AllowN(ctx context.Context, tenant string, ratePerSec, burst, n int) (Decision, error) {
	lim := redis_rate.Limit{Rate: ratePerSec, Burst: burst, Period: time.Second}
	res, err := r.l.AllowN(ctx, r.prefix+"ingest:"+tenant, lim, n)
	if err != nil {
		return Decision{}, fmt.Errorf("redis rate limit: %w", err)
	}
	allowed := res.Allowed >= n && n > 0 || n == 0
	remaining := res.Remaining
	if allowed {
		remaining = remainingAfter(res.ResetAfter, ratePerSec, burst)
	}
	return Decision{
		Allowed:    allowed,
		Limit:      burst,
		Rate:       ratePerSec,
		Remaining:  remaining,
		ResetAfter: res.ResetAfter,
		RetryAfter: res.RetryAfter,
	}, nil
}
