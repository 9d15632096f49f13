package pulsestream

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrBufferFull is returned by Enqueue under FailFast when the buffer is full.
	ErrBufferFull = errors.New("pulsestream: buffer full")
	// ErrClosed is returned by Enqueue after Close began.
	ErrClosed = errors.New("pulsestream: client closed")
)

// Client sends events to the gateway in batches. Its methods are safe for
// concurrent use. Close it to deliver what is buffered.
type Client struct {
	cfg     Config
	http    *http.Client
	url     string
	auth    string
	signer  *signer // nil: requests are not signed
	metrics Metrics

	queue   chan *item    // the bounded buffer
	flushCh chan struct{} // asks the batcher to send what it holds now
	batches chan []*item  // from the batcher to the MaxInFlight senders

	ctx    context.Context // deliveries; cancelled when Close gives up
	cancel context.CancelFunc

	mu      sync.RWMutex
	closed  bool
	closing chan struct{}
	enq     sync.WaitGroup // Enqueue calls past the closed check
	senders sync.WaitGroup

	pending  atomic.Int64 // enqueued events without an outcome yet
	idleMu   sync.Mutex
	idle     []chan struct{} // Flush calls waiting for pending == 0
	maxBatch atomic.Int64    // BatchMaxEvents, lowered to the tenant's burst
	gate     gate
	gzip     sync.Pool
}

// item is one queued event, encoded.
type item struct {
	id       string
	body     []byte
	meta     any
	attempts int
}

// New validates cfg and starts the client's goroutines.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 2 * cfg.MaxInFlight
		hc = &http.Client{Transport: tr}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{cfg: cfg, http: hc, url: strings.TrimRight(cfg.Endpoint, "/") + "/v1/events", auth: "Bearer " + cfg.APIKey, signer: newSigner(cfg),
		metrics: cfg.Metrics, queue: make(chan *item, cfg.BufferEvents), flushCh: make(chan struct{}, 1),
		batches: make(chan []*item), ctx: ctx, cancel: cancel, closing: make(chan struct{})}
	c.maxBatch.Store(int64(cfg.BatchMaxEvents))
	go c.batcher()
	c.senders.Add(cfg.MaxInFlight)
	for range cfg.MaxInFlight {
		go func() {
			defer c.senders.Done()
			for b := range c.batches {
				c.send(b)
			}
		}()
	}
	return c, nil
}

// Enqueue queues e and returns without waiting for the gateway. Its outcome
// arrives later through Config.OnOutcome / Config.Outcomes. An error means
// the event was not queued and gets no outcome: ErrInvalidEvent,
// ErrBufferFull (FailFast), ErrClosed, or ctx's error (Block).
func (c *Client) Enqueue(ctx context.Context, e Event) error {
	id, body, err := e.encode(c.cfg.NewID)
	if err != nil {
		return err
	}
	return c.put(ctx, &item{id: id, body: body, meta: e.Meta})
}

// RawEvent is one event already encoded as a JSON object (a CloudEvent in
// structured mode), for EnqueueRaw.
type RawEvent struct {
	JSON      []byte // copied: the caller may reuse it
	DefaultID string // the id to add when JSON has none; empty: a generated ULID
	Meta      any    // returned in the outcome, never sent
}

// EnqueueRaw queues e.JSON and returns the event's id: its "id", or the one
// added to a copy of it. The JSON must be an object (ErrInvalidEvent
// otherwise); its attributes are the gateway's to judge.
func (c *Client) EnqueueRaw(ctx context.Context, e RawEvent) (string, error) {
	id, err := rawID(e.JSON)
	if err != nil {
		return "", err
	}
	var body []byte
	if id == "" {
		if id = e.DefaultID; id == "" {
			id = c.cfg.NewID()
		}
		body = withID(e.JSON, id)
	} else {
		body = bytes.Clone(bytes.TrimSpace(e.JSON))
	}
	return id, c.put(ctx, &item{id: id, body: body, meta: e.Meta})
}

func (c *Client) put(ctx context.Context, it *item) error {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return ErrClosed
	}
	c.enq.Add(1)
	c.mu.RUnlock()
	defer c.enq.Done()
	c.pending.Add(1) // before the batcher can see it, so pending never dips below the truth
	select {
	case c.queue <- it:
		return nil
	default:
	}
	if c.cfg.OnFull == FailFast {
		c.done(1)
		c.metrics.BufferFull()
		return ErrBufferFull
	}
	select {
	case c.queue <- it:
		return nil
	case <-c.closing:
		c.done(1)
		return ErrClosed
	case <-ctx.Done():
		c.done(1)
		return ctx.Err()
	}
}

// done marks n events as finished and wakes Flush when none is left.
func (c *Client) done(n int) {
	if c.pending.Add(-int64(n)) != 0 {
		return
	}
	c.idleMu.Lock()
	for _, ch := range c.idle {
		close(ch)
	}
	c.idle = nil
	c.idleMu.Unlock()
}

// Flush sends what is buffered now and waits until every event enqueued so
// far has its outcome (events enqueued meanwhile by other goroutines too), or
// ctx ends.
func (c *Client) Flush(ctx context.Context) error {
	c.idleMu.Lock()
	if c.pending.Load() == 0 {
		c.idleMu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	c.idle = append(c.idle, ch)
	c.idleMu.Unlock()
	select {
	case c.flushCh <- struct{}{}:
	default: // a flush is already asked for
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops taking events, sends what is buffered and waits for every
// outcome. If ctx ends first, the remaining events stop being retried and
// are delivered as Failed, and Close returns ctx's error once they are.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closed = true
	close(c.closing)
	c.mu.Unlock()
	c.enq.Wait()
	close(c.queue)
	done := make(chan struct{})
	go func() { c.senders.Wait(); close(done) }()
	defer c.cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		c.cancel()
		<-done
		return ctx.Err()
	}
}

// Stats is a snapshot of the client's queues.
type Stats struct {
	Buffered int // events in the buffer, not yet in a batch
	Pending  int // events enqueued and without an outcome
}

// Stats returns the current queue sizes.
func (c *Client) Stats() Stats {
	return Stats{Buffered: len(c.queue), Pending: int(c.pending.Load())}
}

// batcher groups queued events into batches by count, bytes and linger.
func (c *Client) batcher() {
	defer close(c.batches)
	var cur []*item
	size := 0
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	emit := func() {
		timer.Stop()
		if len(cur) > 0 {
			c.batches <- cur
			cur, size = nil, 0
		}
	}
	add := func(it *item) {
		if len(cur) > 0 && size+len(it.body)+1 > c.cfg.BatchMaxBytes {
			emit()
		}
		cur = append(cur, it)
		size += len(it.body) + 1
		if len(cur) == 1 {
			timer.Reset(c.cfg.Linger)
		}
		if len(cur) >= int(c.maxBatch.Load()) {
			emit()
		}
	}
	for {
		select {
		case it, ok := <-c.queue:
			if !ok {
				emit()
				return
			}
			add(it)
		case <-timer.C:
			emit()
		case <-c.flushCh:
			if !c.drain(add) {
				emit()
				return
			}
			emit()
		}
	}
}

// drain hands every queued event to add without waiting; false when the
// queue is closed.
func (c *Client) drain(add func(*item)) bool {
	for {
		select {
		case it, ok := <-c.queue:
			if !ok {
				return false
			}
			add(it)
		default:
			return true
		}
	}
}

// deliver hands one event's outcome to the caller.
func (c *Client) deliver(it *item, o Outcome) {
	o.ID, o.Meta, o.Attempts = it.id, it.meta, it.attempts
	if c.cfg.OnOutcome != nil {
		c.cfg.OnOutcome(o)
	}
	if c.cfg.Outcomes != nil {
		c.cfg.Outcomes <- o
	}
	c.metrics.Outcome(o.Status)
	c.done(1)
}

// gate holds every sender back until a rate-limit pause is over, so one 429
// slows the whole client, not only the request that got it.
type gate struct {
	mu    sync.Mutex
	until time.Time
}

func (g *gate) pause(d time.Duration) {
	g.mu.Lock()
	if t := time.Now().Add(d); t.After(g.until) {
		g.until = t
	}
	g.mu.Unlock()
}

func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	d := time.Until(g.until)
	g.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
