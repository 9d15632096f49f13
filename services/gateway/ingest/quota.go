package ingest

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	goredis "github.com/redis/go-redis/v9"

	"github.com/pulsestream/pulsestream/tenancy"
)

// The monthly quota (docs/operations.md, "Tenant policies"). A tenant with a
// monthly_quota has its accepted events counted per UTC calendar month in
// one Redis counter shared by every gateway replica. After the marker
// lookup (so duplicates it finds take nothing) the events about to be
// produced are reserved atomically (a Lua script: no two replicas can both
// take the last unit); those Kafka did not acknowledge are given back, so
// the count is of accepted events. A hard quota refuses the events past it
// (quota_exceeded: per event, or 429 when none was accepted), a soft one
// accepts them with the warning quota_exceeded. A tenant without a quota
// sends no command. Redis unreachable: events go on uncounted (as the rate
// limit fails open).
const (
	CodeQuotaExceeded = "quota_exceeded"
	WarnQuotaExceeded = "quota_exceeded"
)

// quotaKeep is how long a month's counter stays after the month ended, so
// the admin API can show last month's usage.
const quotaKeep = 62 * 24 * time.Hour

// QuotaStore counts a tenant's accepted events per month.
type QuotaStore interface {
	// Reserve adds up to n to the count of tenant's month and returns how
	// many it added and the count after: all n unless hard, else no more
	// than limit allows. The counter is kept until keepUntil.
	Reserve(ctx context.Context, tenant, month string, n int, limit int64, hard bool, keepUntil time.Time) (taken int, used int64, err error)
	// Release takes back n reserved units that were not accepted.
	Release(ctx context.Context, tenant, month string, n int) error
}

// QuotaState is a request's view of its tenant's quota, for the headers.
type QuotaState struct {
	Limit    int64
	Used     int64 // after the request
	Reset    time.Time
	Hard     bool
	Exceeded bool // some event of the request was past the quota
	month    string
}

// reserveScript is Reserve in one atomic step: KEYS[1] the counter, ARGV n,
// limit, hard (1/0), expiry (unix seconds).
const reserveScript = `local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local n, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local take = n
if ARGV[3] == '1' then take = math.max(0, math.min(n, limit - used)) end
if take > 0 then
  used = redis.call('INCRBY', KEYS[1], take)
  redis.call('EXPIREAT', KEYS[1], ARGV[4])
end
return {take, used}`

// RedisQuota is the QuotaStore in Redis (keys tenancy.QuotaKey), its
// commands on the coalesced pipeline the rate limit and markers use.
type RedisQuota struct {
	rdb    *coalesced
	prefix string
}

// NewRedisQuota counts under prefix (the gateway's redis-key-prefix).
func NewRedisQuota(rdb *goredis.Client, prefix string) *RedisQuota {
	return &RedisQuota{rdb: newCoalesced(rdb), prefix: prefix}
}

// Reserve implements QuotaStore (EVAL: the script is small, and EVAL
// needs no NOSCRIPT retry).
func (q *RedisQuota) Reserve(ctx context.Context, tenant, month string, n int, limit int64, hard bool, keepUntil time.Time) (int, int64, error) {
	h := "0"
	if hard {
		h = "1"
	}
	cmd := goredis.NewSliceCmd(ctx, "eval", reserveScript, 1, tenancy.QuotaKey(q.prefix, tenant, month), n, limit, h, keepUntil.Unix())
	if err := q.rdb.run(ctx, 1, cmd); err != nil {
		return 0, 0, fmt.Errorf("redis reserve quota: %w", err)
	}
	v := cmd.Val()
	if len(v) != 2 {
		return 0, 0, fmt.Errorf("redis reserve quota: answer %v", v)
	}
	taken, ok1 := v[0].(int64)
	used, ok2 := v[1].(int64)
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("redis reserve quota: answer %v", v)
	}
	return int(taken), used, nil
}

// Release implements QuotaStore.
func (q *RedisQuota) Release(ctx context.Context, tenant, month string, n int) error {
	cmd := goredis.NewIntCmd(ctx, "decrby", tenancy.QuotaKey(q.prefix, tenant, month), n)
	if err := q.rdb.run(ctx, 1, cmd); err != nil {
		return fmt.Errorf("redis release quota: %w", err)
	}
	return nil
}

// reserve takes quota for the events toProduce of tenant t (which has one)
// and returns those that may go on: under a hard quota the others are
// rejected quota_exceeded; under a soft one those past it are warned.
func (s *Service) reserve(ctx context.Context, t tenancy.Tenant, toProduce []int, results []Result, now time.Time, requestID string) ([]int, *QuotaState) {
	month, reset := tenancy.QuotaMonth(now)
	q := &QuotaState{Limit: t.MonthlyQuota, Reset: reset, Hard: t.QuotaPolicy != tenancy.QuotaSoft, month: month}
	n := len(toProduce)
	var taken int
	err := s.redis.do(ctx, func(ctx context.Context) (err error) {
		taken, q.Used, err = s.Quota.Reserve(ctx, t.ID, month, n, t.MonthlyQuota, q.Hard, reset.Add(quotaKeep))
		return err
	})
	if err != nil {
		s.Metrics.RedisErrors.WithLabelValues("quota").Inc()
		s.Logger.Warn("quota unavailable; accepting without counting", "err", err, "tenant", t.ID, "request_id", requestID)
		return toProduce, nil
	}
	if q.Hard {
		for _, i := range toProduce[taken:] {
			results[i].reject(CodeQuotaExceeded, "the tenant's monthly quota of "+strconv.FormatInt(t.MonthlyQuota, 10)+
				" events is used up until "+reset.Format(time.RFC3339))
		}
		q.Exceeded = taken < n
		return toProduce[:taken], q
	}
	before := q.Used - int64(n)
	for k, i := range toProduce {
		if before+int64(k) >= t.MonthlyQuota {
			results[i].Warnings = append(results[i].Warnings, Warning{Code: WarnQuotaExceeded,
				Message: "past the tenant's soft monthly quota of " + strconv.FormatInt(t.MonthlyQuota, 10) + " events"})
			q.Exceeded = true
		}
	}
	return toProduce, q
}

// release gives back the reserved units of the events toProduce that were
// not accepted (all when busy: nothing was produced).
func (s *Service) release(ctx context.Context, tenant string, q *QuotaState, toProduce []int, results []Result, busy bool, requestID string) {
	n := 0
	for _, i := range toProduce {
		if busy || results[i].Status != StatusAccepted {
			n++
		}
	}
	if n == 0 {
		return
	}
	q.Used -= int64(n)
	if err := s.redis.do(ctx, func(ctx context.Context) error { return s.Quota.Release(ctx, tenant, q.month, n) }); err != nil {
		s.Metrics.RedisErrors.WithLabelValues("quota").Inc()
		s.Logger.Warn("quota release failed: the month's count is too high", "err", err, "tenant", tenant, "events", n, "request_id", requestID)
	}
}

// setQuotaHeaders tells a tenant with a quota where it stands:
// Quota-Limit, Quota-Used, Quota-Reset (RFC 3339, when the count restarts),
// Quota-Exceeded: true when an event of the request was past it, and, when
// a hard quota refused events, Retry-After until the reset.
func setQuotaHeaders(c *gin.Context, q *QuotaState, now time.Time) {
	h := c.Writer.Header()
	h.Set("Quota-Limit", strconv.FormatInt(q.Limit, 10))
	h.Set("Quota-Used", strconv.FormatInt(q.Used, 10))
	h.Set("Quota-Reset", q.Reset.Format(time.RFC3339))
	if q.Exceeded {
		h.Set("Quota-Exceeded", "true")
		if q.Hard {
			h.Set("Retry-After", seconds(q.Reset.Sub(now)))
		}
	}
}
