package load

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pulsestream/pulsestream/clients/go/httpsig"
	"github.com/pulsestream/pulsestream/tools/loadgen/internal/gen"
)

// HTTPConfig is one run against the gateway.
type HTTPConfig struct {
	URL  string            // gateway base URL, e.g. http://127.0.0.1:8080
	Keys map[string]string // API key of each tenant of Gen
	// Secrets, when not nil, holds each tenant's signing secret: every
	// request is then signed (RFC 9421 hmac-sha256 over method, target,
	// content type and the body's Content-Digest, with a nonce), as a
	// producer whose key requires signatures sends it.
	Secrets map[string]string
	Gen     gen.Config
	SeqBase uint64 // first sequence number (a multiple of len(Gen.Tenants))
	// Counter, when not nil, hands out the sequence numbers instead of a new
	// counter from SeqBase: runs given one counter continue one sequence
	// (the rounds of one bench phase).
	Counter     *gen.Counter
	Concurrency int     // requests in flight at most
	Batch       int     // events per request; 1 sends a single JSON object
	Gzip        bool    // gzip request bodies
	Rate        float64 // offered events/s (open loop); 0 sends back to back (closed loop)
	DupRatio    float64 // share of events that repeat an already accepted one
	Duration    time.Duration
	MaxEvents   int64 // stop after this many events were sent (0: no limit)
	Seed        uint64
}

// Validate names every bad setting.
func (c HTTPConfig) Validate() error {
	var errs []error
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency: must be at least 1, got %d", c.Concurrency))
	}
	if c.Batch < 1 {
		errs = append(errs, fmt.Errorf("batch: must be at least 1, got %d", c.Batch))
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration: must be positive, got %s", c.Duration))
	}
	if c.DupRatio < 0 || c.DupRatio >= 1 {
		errs = append(errs, fmt.Errorf("dup-ratio: must be in [0, 1), got %g", c.DupRatio))
	}
	if len(c.Gen.Tenants) == 0 {
		errs = append(errs, errors.New("tenants: give at least one"))
	}
	for _, t := range c.Gen.Tenants {
		if c.Keys[t] == "" {
			errs = append(errs, fmt.Errorf("tenant %s: no API key", t))
		}
	}
	return errors.Join(errs...)
}

// Acceptance is when one response came back and how many events it
// newly accepted (first acceptance of their id), for visibility lag.
type Acceptance struct {
	At time.Time
	N  int
}

// HTTPResult is what one run saw.
type HTTPResult struct {
	Requests   int64
	Events     int64 // events sent (fresh and repeats)
	Repeats    int64 // events sent as repeats
	Accepted   int64 // events answered accepted
	Duplicate  int64 // events answered duplicate
	Rejected   int64 // events answered rejected
	Failed     int64 // events of requests that got no 2xx/207 answer
	Missed     int64 // open loop: events not sent because every worker was busy
	BodyBytes  int64 // request bodies before compression
	WireBytes  int64 // request bodies as sent
	Status     map[int]int64
	Errors     []string // first few transport errors
	Elapsed    time.Duration
	Latencies  []time.Duration // per request; open loop from the intended send time
	Accepts    []Acceptance
	AcceptedSq []uint64 // every sequence number answered accepted (repeats included)
	Uncertain  []uint64 // sequence numbers of failed requests: maybe stored, maybe not
}

type answer struct {
	Results []struct {
		Status string `json:"status"`
	} `json:"results"`
}

type worker struct {
	cfg    *HTTPConfig
	client *http.Client
	picker *gen.Picker
	tenant int
	res    HTTPResult
	buf    bytes.Buffer
	zbuf   bytes.Buffer
	zw     *gzip.Writer
	seqs   []uint64
	dups   []bool
	key    *httpsig.Key // the tenant's signing secret (cfg.Secrets), nil: unsigned
}

// RunHTTP sends load to the gateway until the duration or the event count
// is reached or ctx ends.
func RunHTTP(ctx context.Context, cfg HTTPConfig) (HTTPResult, error) {
	if err := cfg.Validate(); err != nil {
		return HTTPResult{}, err
	}
	if err := CheckLoopback(ctx, cfg.URL); err != nil {
		return HTTPResult{}, err
	}
	tr := &http.Transport{MaxIdleConns: cfg.Concurrency, MaxIdleConnsPerHost: cfg.Concurrency, MaxConnsPerHost: cfg.Concurrency, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	counter := cfg.Counter
	if counter == nil {
		counter = gen.NewCounter(cfg.SeqBase, len(cfg.Gen.Tenants))
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var budget atomic.Int64
	budget.Store(cfg.MaxEvents)
	take := func() bool { return cfg.MaxEvents <= 0 || budget.Add(-int64(cfg.Batch)) >= 0 }

	var ticks chan time.Time
	var missed atomic.Int64
	if cfg.Rate > 0 {
		ticks = make(chan time.Time, cfg.Concurrency)
		go schedule(ctx, ticks, time.Duration(float64(time.Second)*float64(cfg.Batch)/cfg.Rate), int64(cfg.Batch), &missed)
	}
	workers := make([]*worker, cfg.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range workers {
		w := &worker{cfg: &cfg, client: client, tenant: i % len(cfg.Gen.Tenants), res: HTTPResult{Status: map[int]int64{}}}
		w.picker = gen.NewPicker(counter, w.tenant, cfg.DupRatio, cfg.Seed+uint64(i))
		if cfg.Secrets != nil {
			w.key = httpsig.NewKey([]byte(cfg.Secrets[cfg.Gen.Tenants[w.tenant]]))
		}
		if cfg.Gzip {
			w.zw, _ = gzip.NewWriterLevel(&w.zbuf, gzip.BestSpeed)
		}
		workers[i] = w
		wg.Go(func() { w.loop(ctx, ticks, take) })
	}
	wg.Wait()
	res := merge(workers)
	res.Elapsed = time.Since(start)
	res.Missed = missed.Load()
	return res, nil
}

// schedule offers one request every interval; a tick no worker can take
// right away is counted as missed events (the offered load was not met).
func schedule(ctx context.Context, ticks chan<- time.Time, interval time.Duration, events int64, missed *atomic.Int64) {
	defer close(ticks)
	start := time.Now()
	for i := int64(1); ; i++ {
		next := start.Add(time.Duration(i) * interval)
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		} else if ctx.Err() != nil {
			return
		}
		select {
		case ticks <- next:
		default:
			missed.Add(events)
		}
	}
}

func (w *worker) loop(ctx context.Context, ticks <-chan time.Time, take func() bool) {
	for ctx.Err() == nil {
		var intended time.Time
		if ticks != nil {
			t, ok := <-ticks
			if !ok {
				return
			}
			intended = t
		}
		if !take() {
			return
		}
		if intended.IsZero() {
			intended = time.Now()
		}
		w.send(ctx, intended)
	}
}

func (w *worker) fill() {
	w.buf.Reset()
	w.seqs, w.dups = w.seqs[:0], w.dups[:0]
	w.picker.Begin()
	b := w.buf.AvailableBuffer()
	if w.cfg.Batch > 1 {
		b = append(b, '[')
	}
	for i := range w.cfg.Batch {
		seq, dup := w.picker.Next()
		w.seqs, w.dups = append(w.seqs, seq), append(w.dups, dup)
		if i > 0 {
			b = append(b, ',')
		}
		b = w.cfg.Gen.Event(seq).AppendJSON(b)
	}
	if w.cfg.Batch > 1 {
		b = append(b, ']')
	}
	w.buf.Write(b)
}

func (w *worker) body() []byte {
	if w.zw == nil {
		return w.buf.Bytes()
	}
	w.zbuf.Reset()
	w.zw.Reset(&w.zbuf)
	w.zw.Write(w.buf.Bytes())
	w.zw.Close()
	return w.zbuf.Bytes()
}

// sign signs req (body as sent) with tenant's signing secret and a random
// 64-bit nonce.
func (w *worker) sign(req *http.Request, body []byte, tenant string) error {
	key := w.cfg.Keys[tenant]
	return w.key.Sign(req, body, httpsig.SignParams{KeyID: key[:strings.LastIndexByte(key, '_')],
		Nonce: strconv.FormatUint(rand.Uint64(), 36)})
}

func (w *worker) send(ctx context.Context, intended time.Time) {
	w.fill()
	body := w.body()
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, w.cfg.URL+"/v1/events", bytes.NewReader(body))
	if err != nil {
		w.fail(err)
		return
	}
	tenant := w.cfg.Gen.Tenants[w.tenant]
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+w.cfg.Keys[tenant])
	if w.zw != nil {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if w.key != nil {
		if err := w.sign(req, body, tenant); err != nil {
			w.fail(err)
			return
		}
	}
	w.res.Requests++
	w.res.Events += int64(len(w.seqs))
	w.res.BodyBytes += int64(w.buf.Len())
	w.res.WireBytes += int64(len(body))
	for _, d := range w.dups {
		if d {
			w.res.Repeats++
		}
	}
	resp, err := w.client.Do(req)
	if err != nil {
		w.fail(err)
		return
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	now := time.Now()
	w.res.Status[resp.StatusCode]++
	if err != nil || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusMultiStatus) {
		w.fail(fmt.Errorf("status %d: %.200s", resp.StatusCode, raw))
		return
	}
	w.res.Latencies = append(w.res.Latencies, now.Sub(intended))
	w.record(raw, now)
}

func (w *worker) record(raw []byte, now time.Time) {
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil || len(a.Results) != len(w.seqs) {
		w.fail(fmt.Errorf("answer with %d results for %d events (%v)", len(a.Results), len(w.seqs), err))
		return
	}
	fresh := 0
	for i, r := range a.Results {
		switch r.Status {
		case "accepted":
			w.res.Accepted++
			w.res.AcceptedSq = append(w.res.AcceptedSq, w.seqs[i])
			w.picker.Accepted(w.seqs[i])
			if !w.dups[i] {
				fresh++
			}
		case "duplicate":
			w.res.Duplicate++
		case "rejected":
			w.res.Rejected++
		default:
			w.res.Failed++
			w.res.Uncertain = append(w.res.Uncertain, w.seqs[i])
		}
	}
	if fresh > 0 {
		w.res.Accepts = append(w.res.Accepts, Acceptance{At: now, N: fresh})
	}
}

func (w *worker) fail(err error) {
	w.res.Failed += int64(len(w.seqs))
	w.res.Uncertain = append(w.res.Uncertain, w.seqs...)
	if len(w.res.Errors) < 5 {
		w.res.Errors = append(w.res.Errors, err.Error())
	}
}

func merge(ws []*worker) HTTPResult {
	out := HTTPResult{Status: map[int]int64{}}
	for _, w := range ws {
		out.Add(w.res)
	}
	return out
}

// Add adds the counts, statuses and samples of r to out (Elapsed too: the
// runs of r and out are taken as one after the other).
func (out *HTTPResult) Add(r HTTPResult) {
	out.Requests += r.Requests
	out.Events += r.Events
	out.Repeats += r.Repeats
	out.Accepted += r.Accepted
	out.Duplicate += r.Duplicate
	out.Rejected += r.Rejected
	out.Failed += r.Failed
	out.Missed += r.Missed
	out.BodyBytes += r.BodyBytes
	out.WireBytes += r.WireBytes
	out.Elapsed += r.Elapsed
	if out.Status == nil {
		out.Status = map[int]int64{}
	}
	for k, v := range r.Status {
		out.Status[k] += v
	}
	if len(out.Errors) < 5 {
		out.Errors = append(out.Errors, r.Errors[:min(len(r.Errors), 5-len(out.Errors))]...)
	}
	out.Latencies = append(out.Latencies, r.Latencies...)
	out.Accepts = append(out.Accepts, r.Accepts...)
	out.AcceptedSq = append(out.AcceptedSq, r.AcceptedSq...)
	out.Uncertain = append(out.Uncertain, r.Uncertain...)
}
