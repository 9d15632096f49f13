package ingest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// gcraScript decides, in one call, the requests on one bucket that arrived
// while the previous call on it was in flight, in their order and at one
// instant, exactly as one GCRA call each would back to back (the algorithm
// go-redis/redis_rate's AllowN runs, which this replaced: the bucket's value
// is the theoretical arrival time in seconds since 2017-01-01, a refused
// request leaves it as it was, a value not ahead of now is not written).
// KEYS[1] the bucket; ARGV burst, rate, period (s), then one cost per
// request (a negative cost gives units back). It answers four values per
// request: cost taken (0: refused), remaining, retry after (s, -1: none),
// reset after (s).
const gcraSource = `
local key = KEYS[1]
local burst, rate, period = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local interval = period / rate
local offset = interval * burst
local t = redis.call("TIME")
local now = (t[1] - 1483228800) + (t[2] / 1000000)
local stored = tonumber(redis.call("GET", key))
local written = false
local out = {}
for i = 4, #ARGV do
  local cost = tonumber(ARGV[i])
  local tat = math.max(stored or now, now)
  local new_tat = tat + interval * cost
  local diff = now - (new_tat - offset)
  if diff < 0 then
    out[#out + 1] = 0
    out[#out + 1] = 0
    out[#out + 1] = tostring(-diff)
    out[#out + 1] = tostring(tat - now)
  else
    local reset_after = new_tat - now
    if reset_after > 0 then
      stored, written = new_tat, true
    end
    out[#out + 1] = cost
    out[#out + 1] = diff / interval
    out[#out + 1] = "-1"
    out[#out + 1] = tostring(reset_after)
  end
end
if written then
  redis.call("SET", key, stored, "EX", math.ceil(stored - now))
end
return out
`

var gcraScript = goredis.NewScript(gcraSource)

// gcraAnswer is one request's decision as the script answers it.
type gcraAnswer struct {
	allowed    int
	remaining  int
	retryAfter time.Duration
	resetAfter time.Duration
}

// bucketCall is one request's place in a bucket's queue: filled, then done
// closed, by whoever sends the call that carries it.
type bucketCall struct {
	ctx   context.Context
	n     int
	trip  *Trip
	ans   gcraAnswer
	err   error // the decision's error (the script's, or the batch's context)
	trErr error // nil: the trip's commands were answered
	done  chan struct{}
}

// bucketQueue holds the requests waiting for a bucket whose call is in flight.
type bucketQueue struct {
	inFlight bool
	waiting  []*bucketCall
}

// buckets coalesces the decisions on each bucket: while one script call on
// a bucket is in flight, the requests that arrive for it queue, and go
// together as the next call, their Trips' commands in the same round trip
// (no timer: a lone request pays one plain round trip, as before). A
// request waits for its own answer at most until its context ends; the call
// carrying it is bounded by the latest deadline among its requests, never
// cancelled because one of them gave up.
type buckets struct {
	rdb    *coalesced
	mu     sync.Mutex
	queues map[string]*bucketQueue
}

// bucketID names a bucket together with its limit, so that requests decided
// under different limits (a limit changed meanwhile) never share a call.
func bucketID(key string, ratePerSec, burst int) string {
	return key + "\x00" + strconv.Itoa(ratePerSec) + "\x00" + strconv.Itoa(burst)
}

// decide takes n units of the bucket key (negative: gives -n back), sending
// trip along; when it returns, what rode along holds its answer or why there
// is none.
func (b *buckets) decide(ctx context.Context, key string, ratePerSec, burst, n int, trip *Trip) (gcraAnswer, error) {
	if err := ctx.Err(); err != nil {
		trip.finish(err)
		return gcraAnswer{}, err
	}
	c := &bucketCall{ctx: ctx, n: n, trip: trip, done: make(chan struct{})}
	id := bucketID(key, ratePerSec, burst)
	b.mu.Lock()
	q := b.queues[id]
	if q == nil {
		q = &bucketQueue{}
		b.queues[id] = q
	}
	q.waiting = append(q.waiting, c)
	lead := !q.inFlight
	var batch []*bucketCall
	if lead {
		q.inFlight = true
		batch, q.waiting = q.waiting, nil
	}
	b.mu.Unlock()
	if lead {
		b.send(id, key, ratePerSec, burst, batch)
	}
	if err := answered(ctx, c.done); err != nil {
		trip.finish(err) // the batch may still write its commands: never read
		return gcraAnswer{}, err
	}
	trip.finish(c.trErr)
	return c.ans, c.err
}

// send sends batch, then hands what queued meanwhile to a goroutine of its
// own (the caller that sent batch need not wait for others' calls), or
// marks the bucket idle.
func (b *buckets) send(id, key string, ratePerSec, burst int, batch []*bucketCall) {
	b.call(key, ratePerSec, burst, batch)
	b.mu.Lock()
	q := b.queues[id]
	next := q.waiting
	q.waiting = nil
	if len(next) == 0 {
		q.inFlight = false
		delete(b.queues, id)
	}
	b.mu.Unlock()
	if len(next) > 0 {
		go b.send(id, key, ratePerSec, burst, next)
	}
}

// call runs the script once for batch, with every Trip's commands in the
// same round trip, and answers each request.
func (b *buckets) call(key string, ratePerSec, burst int, batch []*bucketCall) {
	ctx, cancel := batchContext(batch)
	defer cancel()
	args := make([]any, 0, 3+len(batch))
	args = append(args, burst, ratePerSec, 1)
	cmds := make([]goredis.Cmder, 1, 1+tripCmds*len(batch))
	keys := 0
	for _, c := range batch {
		args = append(args, c.n)
		cmds = c.trip.appendCmds(cmds)
		keys += max(c.n, 1)
	}
	script := goredis.NewCmd(ctx, append([]any{"evalsha", gcraScript.Hash(), 1, key}, args...)...)
	cmds[0] = script
	trErr := unanswered(ctx, b.rdb.run(ctx, keys, cmds...))
	if trErr == nil && noScript(script.Err()) {
		// The first call since Redis started: the trips were answered; the
		// script goes again, alone, with its source.
		script = goredis.NewCmd(ctx, append([]any{"eval", gcraSource, 1, key}, args...)...)
		if e := unanswered(ctx, b.rdb.run(ctx, 1, script)); e != nil {
			script.SetErr(e)
		}
	}
	err := trErr
	if err == nil {
		err = script.Err() // the decision's own error; a trip's are its commands'
	}
	var vals []any
	if err == nil {
		vals, _ = script.Val().([]any)
	}
	if err == nil && len(vals) != 4*len(batch) {
		err = fmt.Errorf("rate limit script: %d values for %d requests", len(vals), len(batch))
	}
	for i, c := range batch {
		c.trErr, c.err = trErr, err
		if err == nil {
			c.ans, c.err = gcraParse(vals[4*i : 4*i+4])
		}
		close(c.done)
	}
}

func noScript(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") }

// batchContext bounds a batch's round trip by the latest deadline among its
// requests (none: no bound), and by none of their cancellations.
func batchContext(batch []*bucketCall) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, c := range batch {
		d, ok := c.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.WithoutCancel(c.ctx))
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.WithoutCancel(batch[0].ctx), latest)
}

// gcraParse reads one request's four values.
func gcraParse(v []any) (gcraAnswer, error) {
	allowed, ok1 := v[0].(int64)
	remaining, ok2 := v[1].(int64)
	retry, ok3 := v[2].(string)
	reset, ok4 := v[3].(string)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return gcraAnswer{}, fmt.Errorf("rate limit script: unexpected answer %v", v)
	}
	retryS, err1 := strconv.ParseFloat(retry, 64)
	resetS, err2 := strconv.ParseFloat(reset, 64)
	if err1 != nil || err2 != nil {
		return gcraAnswer{}, fmt.Errorf("rate limit script: unexpected answer %v", v)
	}
	return gcraAnswer{allowed: int(allowed), remaining: int(remaining), retryAfter: scriptSeconds(retryS), resetAfter: scriptSeconds(resetS)}, nil
}

// scriptSeconds is s as a duration; -1 (none) is -1 ns, as redis_rate had it.
func scriptSeconds(s float64) time.Duration {
	if s == -1 {
		return -1
	}
	return time.Duration(s * float64(time.Second))
}
