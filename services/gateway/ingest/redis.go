package ingest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

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
	return g.doWithin(ctx, g.timeout, fn)
}

// doWithin is do with its own timeout.
func (g *redisGate) doWithin(ctx context.Context, timeout time.Duration, fn func(ctx context.Context) error) error {
	if time.Now().UnixNano() < g.downUntil.Load() {
		return ErrRedisSkipped
	}
	opCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := fn(opCtx)
	// A caller that went away (the client hung up) says nothing about Redis:
	// only failures while the caller still waited start the cooldown.
	if err != nil && g.cooldown > 0 && ctx.Err() == nil {
		g.downUntil.Store(time.Now().Add(g.cooldown).UnixNano())
	}
	return err
}

// coalesced sends the commands of every request in flight in one
// pipelined round trip: a request hands its commands over as one unit, one
// batch is in flight at a time, and when it is answered the next one takes
// every unit that queued meanwhile (up to batchCmds commands, never
// splitting a unit). So Redis round trips (and their syscalls on both sides)
// are paid per batch of requests, not per request, and a request's commands
// (a rate limit with its nonce claim and marker lookup) always travel
// together. Each caller waits for its own commands at most until its
// context is done. A large request (a big batch's markers) already
// amortizes its round trip: it takes a pipeline of its own on a pooled
// connection instead of holding up the shared stream.
//
// go-redis's autopipeliner did this before, but it takes commands one at
// a time and may flush between two of one request's commands.
type coalesced struct {
	rdb     *goredis.Client
	mu      sync.Mutex
	queue   []*unit
	sending bool // a goroutine is sending batches (drain)
}

// unit is one request's commands, done closed once they are answered.
type unit struct {
	cmds []goredis.Cmder
	done chan struct{}
}

// bulkKeys is the number of keys from which a request's commands take their
// own pipeline.
const bulkKeys = 32

// batchCmds is the most commands a coalesced batch takes (a single unit
// that holds more still goes whole).
const batchCmds = 256

func newCoalesced(rdb *goredis.Client) *coalesced { return &coalesced{rdb: rdb} }

// run sends cmds (touching keys keys in all) and waits for every one of them
// (so each holds its answer when run returns), unless ctx ends first; it
// returns ctx's error then, else the first error other than goredis.Nil (a
// SET NX that found the key, a missing key).
func (c *coalesced) run(ctx context.Context, keys int, cmds ...goredis.Cmder) error {
	if keys >= bulkKeys {
		p := c.rdb.Pipeline()
		for _, cmd := range cmds {
			_ = p.Process(ctx, cmd)
		}
		_, _ = p.Exec(ctx) // each command holds its own error
		return firstRedisErr(cmds)
	}
	u := &unit{cmds: cmds, done: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, u)
	start := !c.sending
	c.sending = true
	c.mu.Unlock()
	if start {
		go c.drain()
	}
	if err := answered(ctx, u.done); err != nil {
		return err // the batch may still send the commands: not read
	}
	return firstRedisErr(cmds)
}

// answered waits until done is closed (nil) or ctx ends first (its error);
// when both happened, the answer wins.
func answered(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		select {
		case <-done:
			return nil
		default:
			return ctx.Err()
		}
	}
}

// drain sends batches until the queue is empty.
func (c *coalesced) drain() {
	for {
		c.mu.Lock()
		batch := c.take()
		if len(batch) == 0 {
			c.sending = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.send(batch)
	}
}

// take removes the next batch's units from the queue (c.mu held).
func (c *coalesced) take() []*unit {
	n, cmds := 0, 0
	for n < len(c.queue) && (n == 0 || cmds+len(c.queue[n].cmds) <= batchCmds) {
		cmds += len(c.queue[n].cmds)
		n++
	}
	batch := c.queue[:n:n]
	if n == len(c.queue) {
		c.queue = nil
	} else {
		c.queue = c.queue[n:]
	}
	return batch
}

// send runs the batch in one pipeline and answers its units. The batch
// serves many requests, so no one's context bounds it: the client's read
// and write timeouts do.
func (c *coalesced) send(batch []*unit) {
	ctx := context.Background()
	p := c.rdb.Pipeline()
	for _, u := range batch {
		for _, cmd := range u.cmds {
			_ = p.Process(ctx, cmd)
		}
	}
	_, _ = p.Exec(ctx) // each command holds its own error
	for _, u := range batch {
		close(u.done)
	}
}

// unanswered is err when it is ctx's own (run returned before the answers
// came), else nil: the answers, errors included, are in the commands.
func unanswered(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && err == ctx.Err() {
		return err
	}
	return nil
}

func firstRedisErr(cmds []goredis.Cmder) error {
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil && err != goredis.Nil {
			return err
		}
	}
	return nil
}

// RedisMarkers is the MarkerStore in Redis (keys from platform/markers).
type RedisMarkers struct {
	rdb       *coalesced
	prefix    string
	ttl       time.Duration
	erasedTTL time.Duration
}

// NewRedisMarkers stores markers under prefix with ttl, erasure markers with
// erasedTTL (0: kept until deleted).
func NewRedisMarkers(rdb *goredis.Client, prefix string, ttl, erasedTTL time.Duration) *RedisMarkers {
	return &RedisMarkers{rdb: newCoalesced(rdb), prefix: prefix, ttl: ttl, erasedTTL: erasedTTL}
}

// SaveErased is a SET (EX erasedTTL, or no expiry) per id.
func (s *RedisMarkers) SaveErased(ctx context.Context, tenant string, ids []string, m markers.Marker) error {
	v := m.Encode()
	cmds := make([]goredis.Cmder, len(ids))
	for i, id := range ids {
		cmds[i] = goredis.NewStatusCmd(ctx, setArgs(markers.Key(s.prefix, tenant, id), v, s.erasedTTL, false)...)
	}
	if err := s.rdb.run(ctx, len(ids), cmds...); err != nil {
		return fmt.Errorf("redis save erasure markers: %w", err)
	}
	return nil
}

// Trip is what rides one request's Redis round trip beside its rate-limit
// decision (RedisLimiter.AllowNWith), or goes alone when the tenant has no
// limit (RedisMarkers.Send): the marker lookup and a signed request's nonce
// claim (issue 26), each nil when the request has none. Its commands are
// listed here and nowhere else (appendCmds, finish): another command of the
// round trip (a quota counter) is one more field and a line in each.
type Trip struct {
	Nonce  *PendingNonce
	Lookup *PendingLookup
}

// tripCmds is the most commands a Trip holds.
const tripCmds = 2

// appendCmds appends the trip's commands to cmds.
func (t *Trip) appendCmds(cmds []goredis.Cmder) []goredis.Cmder {
	if t == nil {
		return cmds
	}
	if t.Nonce != nil {
		cmds = append(cmds, t.Nonce.cmd)
	}
	if t.Lookup != nil {
		cmds = append(cmds, t.Lookup.cmd)
	}
	return cmds
}

// finish records that the wait for the trip ended (err nil: answered).
func (t *Trip) finish(err error) {
	if t == nil {
		return
	}
	if t.Nonce != nil {
		t.Nonce.finish(err)
	}
	if t.Lookup != nil {
		t.Lookup.finish(err)
	}
}

// empty: the trip carries nothing.
func (t *Trip) empty() bool { return t == nil || t.Nonce == nil && t.Lookup == nil }

// errNotSent: the round trip never reached Redis (the gate was cooling
// off), so neither did what rode along.
var errNotSent = errors.New("not sent: Redis was skipped")

// riding is the state of a command riding a Trip: readable once answered,
// else err says why not (errNotSent until the trip was sent).
type riding struct {
	answered bool  // the round trip was answered: the command may be read
	err      error // why it was not
}

func (r *riding) finish(err error) { r.answered, r.err = err == nil, err }

// sent: the round trip was attempted (answered or not).
func (r *riding) sent() bool { return r.err != errNotSent }

// PendingLookup is a marker lookup (one MGET) prepared to ride a Trip. Its
// answer is readable once the trip is over.
type PendingLookup struct {
	riding
	cmd *goredis.SliceCmd
}

// Prepare builds the lookup of ids without sending it.
func (s *RedisMarkers) Prepare(ctx context.Context, tenant string, ids []string) *PendingLookup {
	args := make([]any, 1+len(ids))
	args[0] = "mget"
	for i, id := range ids {
		args[1+i] = markers.Key(s.prefix, tenant, id)
	}
	return &PendingLookup{riding: riding{err: errNotSent}, cmd: goredis.NewSliceCmd(ctx, args...)}
}

// Result is the marker of each id (ok false: none), or why there is no answer.
func (p *PendingLookup) Result() ([]markers.Marker, []bool, error) {
	if !p.answered {
		return nil, nil, fmt.Errorf("redis mget markers: %w", p.err)
	}
	if err := p.cmd.Err(); err != nil {
		return nil, nil, fmt.Errorf("redis mget markers: %w", err)
	}
	vals := p.cmd.Val()
	ms := make([]markers.Marker, len(vals))
	ok := make([]bool, len(vals))
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

// PendingNonce is a signature nonce's claim, SET key 1 PX ttl NX, prepared
// to ride a Trip: concurrent replays race on that one atomic command.
type PendingNonce struct {
	riding
	cmd     *goredis.BoolCmd
	timeout time.Duration // the longest wait for the claim (Nonce.Timeout)
}

// PrepareNonce builds the claim of n (n.RedisKey) without sending it.
func PrepareNonce(ctx context.Context, n *Nonce) *PendingNonce {
	return &PendingNonce{riding: riding{err: errNotSent}, timeout: n.Timeout,
		cmd: goredis.NewBoolCmd(ctx, "set", n.RedisKey, "1", "px", max(n.TTL.Milliseconds(), 1), "nx")}
}

// Fresh reports whether the nonce was new (false: a replay), or why there
// is no answer.
func (p *PendingNonce) Fresh() (bool, error) {
	if !p.answered {
		return false, fmt.Errorf("redis claim nonce: %w", p.err)
	}
	if err := p.cmd.Err(); err != nil {
		return false, fmt.Errorf("redis claim nonce: %w", err)
	}
	return p.cmd.Val(), nil
}

// Send sends trip on its own (a tenant without a rate limit) and waits for
// it at most until ctx ends.
func (s *RedisMarkers) Send(ctx context.Context, trip *Trip) error {
	keys := 1
	if trip.Lookup != nil {
		keys = len(trip.Lookup.cmd.Args()) - 1
	}
	err := unanswered(ctx, s.rdb.run(ctx, keys, trip.appendCmds(make([]goredis.Cmder, 0, tripCmds))...))
	trip.finish(err)
	return err
}

// Lookup is one MGET on its own.
func (s *RedisMarkers) Lookup(ctx context.Context, tenant string, ids []string) ([]markers.Marker, []bool, error) {
	p := s.Prepare(ctx, tenant, ids)
	_ = s.Send(ctx, &Trip{Lookup: p})
	return p.Result()
}

// Save is a SET NX EX per id.
func (s *RedisMarkers) Save(ctx context.Context, tenant string, ids []string, ms []markers.Marker) error {
	cmds := make([]goredis.Cmder, len(ids))
	for i, id := range ids {
		cmds[i] = goredis.NewStatusCmd(ctx, setArgs(markers.Key(s.prefix, tenant, id), ms[i].Encode(), s.ttl, true)...)
	}
	if err := s.rdb.run(ctx, len(ids), cmds...); err != nil {
		return fmt.Errorf("redis save markers: %w", err)
	}
	return nil
}

// setArgs is SET key value [PX ttl] [NX].
func setArgs(key, value string, ttl time.Duration, nx bool) []any {
	a := append(make([]any, 0, 6), "set", key, value)
	if ttl > 0 {
		a = append(a, "px", ttl.Milliseconds())
	}
	if nx {
		a = append(a, "nx")
	}
	return a
}

// RedisLimiter is GCRA in Redis (gcraScript), the decisions on each bucket
// coalesced (buckets): the requests of a tenant that arrive while its
// previous decision is in flight are decided by one script call, in order,
// their Trips along in the same round trip; the calls ride the coalesced
// pipeline with the marker commands (requests of bulkKeys events or more in
// a pipeline of their own).
type RedisLimiter struct {
	b      *buckets
	prefix string
}

// NewRedisLimiter keys buckets as <prefix>ingest:<tenant> (with redis_rate's
// "rate:" in front, as before, so a rolling upgrade keeps every bucket).
func NewRedisLimiter(rdb *goredis.Client, prefix string) *RedisLimiter {
	return &RedisLimiter{b: &buckets{rdb: newCoalesced(rdb), queues: map[string]*bucketQueue{}}, prefix: prefix}
}

func (r *RedisLimiter) key(tenant string) string { return "rate:" + r.prefix + "ingest:" + tenant }

// remainingAfter is what is left of a bucket that is full again after
// resetAfter. The script's own remaining is a float quotient that Redis
// truncates to an integer, computed in doubles of seconds since 2017 (an
// ulp of about 6e-8 s): a fresh bucket of 100 after taking 10 says 89
// (ResetAfter 100.000023ms). This floors the same quantity, forgiving up to
// one microsecond of refill for that noise.
func remainingAfter(resetAfter time.Duration, ratePerSec, burst int) int {
	left := float64(burst) - resetAfter.Seconds()*float64(ratePerSec)
	return max(int(math.Floor(left+1e-6*float64(ratePerSec))), 0)
}

// AllowN takes n units when they are all available, else none.
func (r *RedisLimiter) AllowN(ctx context.Context, tenant string, ratePerSec, burst, n int) (Decision, error) {
	return r.AllowNWith(ctx, tenant, ratePerSec, burst, n, nil)
}

// Refund gives back n units taken by a request that was then refused (a
// replayed signature): GCRA's cost -n moves the bucket's theoretical arrival
// time back by n emission intervals. A bucket that would be fuller than full
// is left as it was (no arrival time behind now is written), so a refund
// never lends more than was taken.
func (r *RedisLimiter) Refund(ctx context.Context, tenant string, ratePerSec, burst, n int) error {
	if _, err := r.b.decide(ctx, r.key(tenant), ratePerSec, burst, -n, nil); err != nil {
		return fmt.Errorf("redis rate limit refund: %w", err)
	}
	return nil
}

// AllowNWith is AllowN sending trip (nil: nothing) in the same round trip;
// when it returns, what rode along holds its answer or why there is none.
func (r *RedisLimiter) AllowNWith(ctx context.Context, tenant string, ratePerSec, burst, n int, trip *Trip) (Decision, error) {
	res, err := r.b.decide(ctx, r.key(tenant), ratePerSec, burst, n, trip)
	if err != nil {
		return Decision{}, fmt.Errorf("redis rate limit: %w", err)
	}
	allowed := res.allowed >= n && n > 0 || n == 0
	remaining := res.remaining
	if allowed {
		remaining = remainingAfter(res.resetAfter, ratePerSec, burst)
	}
	return Decision{
		Allowed:    allowed,
		Limit:      burst,
		Rate:       ratePerSec,
		Remaining:  remaining,
		ResetAfter: res.resetAfter,
		RetryAfter: res.retryAfter,
	}, nil
}
