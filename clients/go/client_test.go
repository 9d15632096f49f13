package pulsestream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fastRetry keeps unit tests quick: the backoff's own delays are tiny, so
// only a gateway's Retry-After makes a test wait.
var fastRetry = RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, MaxAttempts: 5}

func newTestClient(t *testing.T, f *fakeGateway, col *collector, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{Endpoint: f.srv.URL, APIKey: "key", Retry: fastRetry, OnOutcome: col.add, Linger: 5 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func enqueueN(t *testing.T, c *Client, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
		if err := c.Enqueue(context.Background(), Event{ID: ids[i], Type: "t", Data: map[string]int{"i": i}}); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func closeClient(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestBatchesByCountAndBytesEachEventOneOutcome(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxCount int
		maxBytes int
		gzip     bool
	}{{"count", 100, 1 << 20, true}, {"bytes", 10000, 2000, false}} {
		t.Run(tc.name, func(t *testing.T) {
			f, col := newFake(t, nil), newCollector(t)
			c := newTestClient(t, f, col, func(c *Config) {
				c.BatchMaxEvents, c.BatchMaxBytes, c.DisableGzip, c.MaxInFlight = tc.maxCount, tc.maxBytes, !tc.gzip, 3
			})
			ids := enqueueN(t, c, tc.name, 2345)
			closeClient(t, c)
			got := col.outcomes()
			for _, id := range ids {
				if o := got[id]; o.Status != Accepted || o.Attempts != 1 {
					t.Fatalf("%s: %+v", id, o)
				}
			}
			for _, r := range f.requests() {
				size := 1
				for _, e := range r.raw {
					size += len(e) + 1
				}
				if len(r.ids) > tc.maxCount || (len(r.ids) > 1 && size > tc.maxBytes) {
					t.Fatalf("a request carried %d events, %d bytes: over %d / %d", len(r.ids), size, tc.maxCount, tc.maxBytes)
				}
			}
			if s := f.sends(); len(s) != len(ids) {
				t.Fatalf("%d distinct ids sent, want %d", len(s), len(ids))
			}
		})
	}
}

// A 429 and a 503 are retried after the Retry-After they carry: the client
// reports that delay to its metrics, and the retry reaches the gateway no
// earlier (a lower bound: load can only make it later).
func TestRetryAfterOf429And503IsHonoured(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
		hdr    map[string]string
		want   time.Duration
	}{
		{http.StatusTooManyRequests, "rate_limited", map[string]string{"Retry-After": "2", "RateLimit-Limit": "1000", "RateLimit-Remaining": "0", "RateLimit-Reset": "1"}, 2 * time.Second},
		{http.StatusTooManyRequests, "rate_limited", map[string]string{"RateLimit-Limit": "1000", "RateLimit-Remaining": "0", "RateLimit-Reset": "1"}, time.Second},
		{http.StatusServiceUnavailable, "unavailable", map[string]string{"Retry-After": "1"}, time.Second},
	} {
		t.Run(fmt.Sprintf("%d-%s", tc.status, tc.hdr["Retry-After"]), func(t *testing.T) {
			f := newFake(t, func(n int, _ []string) reply {
				if n == 0 {
					return reply{status: tc.status, headers: tc.hdr, errCode: tc.code}
				}
				return reply{status: http.StatusOK}
			})
			m, col := &recordingMetrics{}, newCollector(t)
			c := newTestClient(t, f, col, func(c *Config) { c.Metrics = m })
			ids := enqueueN(t, c, "ra", 10)
			closeClient(t, c)
			if d := m.retries(); !slices.Equal(d, []time.Duration{tc.want}) {
				t.Fatalf("retry delays %v, want [%s]", d, tc.want)
			}
			reqs := f.requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want 2", len(reqs))
			}
			if gap := reqs[1].at.Sub(reqs[0].at); gap < tc.want {
				t.Fatalf("retried after %s, before the advertised %s", gap, tc.want)
			}
			for _, id := range ids {
				if o := col.outcomes()[id]; o.Status != Accepted || o.Attempts != 2 {
					t.Fatalf("%s: %+v", id, o)
				}
			}
		})
	}
}

// A 503 listing results: the accepted and rejected events are final, only
// the "unavailable" ones are sent again; a rejected event is never resent.
func TestPartial503RetriesOnlyUnavailableEvents(t *testing.T) {
	f := newFake(t, func(n int, ids []string) reply {
		if n > 0 {
			return reply{status: http.StatusOK}
		}
		return reply{status: http.StatusServiceUnavailable, headers: map[string]string{"Retry-After": "1"}, errCode: "unavailable",
			results: []result{{Status: "accepted"}, {Status: "rejected", Code: "invalid_time", Message: "bad time"}, {Status: "rejected", Code: "unavailable"}, {Status: "duplicate", Code: "erased"}}}
	})
	col := newCollector(t)
	c := newTestClient(t, f, col, func(c *Config) { c.Linger = time.Hour })
	ids := enqueueN(t, c, "p", 4)
	closeClient(t, c)
	got := col.outcomes()
	want := []Outcome{{Status: Accepted, Attempts: 1}, {Status: Rejected, Code: "invalid_time", Message: "bad time", Attempts: 1},
		{Status: Accepted, Attempts: 2}, {Status: Duplicate, Code: "erased", Attempts: 1}}
	for i, id := range ids {
		o := got[id]
		o.ID, o.Meta = "", nil
		if o != want[i] {
			t.Errorf("%s: %+v, want %+v", id, o, want[i])
		}
	}
	if reqs := f.requests(); len(reqs) != 2 || !slices.Equal(reqs[1].ids, []string{ids[2]}) {
		t.Fatalf("requests %+v: the retry must carry only %s", reqs, ids[2])
	}
}

// Rejections in a 200/207/400 answer are final: no event is sent twice.
func TestRejectedEventsAreNeverRetried(t *testing.T) {
	f := newFake(t, func(n int, ids []string) reply {
		res := make([]result, len(ids))
		status := http.StatusOK
		for i, id := range ids {
			if strings.HasSuffix(id, "3") {
				res[i] = result{Status: "rejected", Code: "invalid_schema", Message: "type"}
				status = http.StatusMultiStatus
			}
		}
		if len(ids) == 1 && status != http.StatusOK {
			status = http.StatusBadRequest
		}
		return reply{status: status, results: res}
	})
	col := newCollector(t)
	c := newTestClient(t, f, col, func(c *Config) { c.BatchMaxEvents = 7 })
	ids := enqueueN(t, c, "r", 100)
	closeClient(t, c)
	rejected := 0
	for _, id := range ids {
		o := col.outcomes()[id]
		if strings.HasSuffix(id, "3") {
			rejected++
			if o.Status != Rejected || o.Code != "invalid_schema" {
				t.Errorf("%s: %+v", id, o)
			}
		} else if o.Status != Accepted {
			t.Errorf("%s: %+v", id, o)
		}
	}
	for id, n := range f.sends() {
		if n != 1 {
			t.Errorf("%s sent %d times", id, n)
		}
	}
	if rejected != 10 {
		t.Fatalf("%d rejected, want 10", rejected)
	}
}

// A request-level 400 (the gateway could not split the body into events) is
// bisected until the event that causes it is rejected alone.
func TestRequestLevel400IsBisectedToTheBadEvent(t *testing.T) {
	f := newFake(t, func(n int, ids []string) reply {
		if slices.Contains(ids, "b-37") {
			return reply{status: http.StatusBadRequest, errCode: "nesting_too_deep"}
		}
		return reply{status: http.StatusOK}
	})
	col := newCollector(t)
	c := newTestClient(t, f, col, func(c *Config) { c.BatchMaxEvents = 100; c.Linger = time.Hour })
	ids := enqueueN(t, c, "b", 100)
	closeClient(t, c)
	for _, id := range ids {
		o := col.outcomes()[id]
		if id == "b-37" {
			if o.Status != Rejected || o.Code != "nesting_too_deep" {
				t.Errorf("%s: %+v", id, o)
			}
		} else if o.Status != Accepted {
			t.Errorf("%s: %+v", id, o)
		}
	}
	if n := len(f.requests()); n > 2*7+1 {
		t.Fatalf("%d requests to isolate one event of 100", n)
	}
}

// 429 batch_exceeds_burst: the batch is split, and the tenant's burst from
// RateLimit-Limit caps later batches.
func TestBatchOverTheBurstIsSplitAndLaterBatchesFit(t *testing.T) {
	const burst = 16
	f := newFake(t, func(n int, ids []string) reply {
		h := map[string]string{"RateLimit-Limit": itoa(burst)}
		if len(ids) > burst {
			h["Retry-After"] = "1"
			return reply{status: http.StatusTooManyRequests, headers: h, errCode: "batch_exceeds_burst"}
		}
		return reply{status: http.StatusOK, headers: h}
	})
	col := newCollector(t)
	c := newTestClient(t, f, col, func(c *Config) { c.BatchMaxEvents = 100; c.MaxInFlight = 1 })
	ids := enqueueN(t, c, "s", 1000)
	closeClient(t, c)
	for _, id := range ids {
		if o := col.outcomes()[id]; o.Status != Accepted {
			t.Fatalf("%s: %+v", id, o)
		}
	}
	over := 0
	for _, r := range f.requests() {
		if len(r.ids) > burst {
			over++
		}
	}
	if over != 1 {
		t.Fatalf("%d requests over the burst, want only the first", over)
	}
}

// Connection errors are retried up to MaxAttempts; then every event fails
// with the last error.
func TestConnectionErrorsFailAfterMaxAttempts(t *testing.T) {
	f := newFake(t, nil)
	f.srv.Close()
	col := newCollector(t)
	c := newTestClient(t, f, col, nil)
	ids := enqueueN(t, c, "c", 3)
	closeClient(t, c)
	for _, id := range ids {
		o := col.outcomes()[id]
		if o.Status != Failed || o.Attempts != fastRetry.MaxAttempts || o.Err == nil || !strings.Contains(o.Err.Error(), "connect") {
			t.Fatalf("%s: %+v", id, o)
		}
	}
}

// 401 is final for the request: no retry, every event fails with the APIError.
func TestUnauthorizedFailsWithoutRetry(t *testing.T) {
	f := newFake(t, nil)
	col := newCollector(t)
	c := newTestClient(t, f, col, func(c *Config) { c.APIKey = "wrong" })
	ids := enqueueN(t, c, "u", 5)
	closeClient(t, c)
	for _, id := range ids {
		o := col.outcomes()[id]
		var ae *APIError
		if o.Status != Failed || !errors.As(o.Err, &ae) || ae.StatusCode != 401 || ae.Code != "invalid_api_key" || o.Attempts != 1 {
			t.Fatalf("%s: %+v", id, o)
		}
	}
}

// blockingFake holds every request until release is called.
func blockingFake(t *testing.T) (*fakeGateway, func()) {
	ch := make(chan struct{})
	var once sync.Once
	return newFake(t, func(int, []string) reply { <-ch; return reply{status: http.StatusOK} }), func() { once.Do(func() { close(ch) }) }
}

// waitFor polls cond (a state, not a time) for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after a minute", what)
		}
	}
}

func TestFullBufferFailFastAndBlockWithContext(t *testing.T) {
	f, release := blockingFake(t)
	m, col := &recordingMetrics{}, newCollector(t)
	c := newTestClient(t, f, col, func(c *Config) { c.BufferEvents, c.BatchMaxEvents, c.MaxInFlight, c.Metrics = 5, 1, 1, m })
	t.Cleanup(release) // before the client's Close
	// One event in the held request, one in the batcher waiting for a
	// sender, five in the buffer: then nothing moves until release.
	queued := enqueueN(t, c, "f", 7)
	waitFor(t, "one request held and the buffer full", func() bool { return len(f.requests()) == 1 && c.Stats().Buffered == 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Enqueue(ctx, Event{ID: "blocked", Type: "t"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Block: enqueue on a full buffer: %v", err)
	}
	c.cfg.OnFull = FailFast // same client, the other policy
	if err := c.Enqueue(context.Background(), Event{ID: "refused", Type: "t"}); !errors.Is(err, ErrBufferFull) || m.full != 1 {
		t.Fatalf("FailFast: enqueue on a full buffer: %v (full %d)", err, m.full)
	}
	release()
	closeClient(t, c)
	got := col.outcomes()
	if len(got) != len(queued) {
		t.Fatalf("%d outcomes for %d queued events", len(got), len(queued))
	}
	for _, id := range queued {
		if got[id].Status != Accepted {
			t.Fatalf("%s: %+v", id, got[id])
		}
	}
}

// Close whose context ends while the gateway keeps answering 503 delivers
// every event as Failed (with the last answer) and returns the context's error.
func TestCloseGivingUpFailsWhatIsLeft(t *testing.T) {
	f := newFake(t, func(int, []string) reply {
		return reply{status: http.StatusServiceUnavailable, headers: map[string]string{"Retry-After": "1"}, errCode: "unavailable"}
	})
	col := newCollector(t)
	c := newTestClient(t, f, col, func(c *Config) { c.Retry.MaxAttempts = 1000; c.Retry.MaxElapsedTime = time.Hour })
	ids := enqueueN(t, c, "g", 50)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := c.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v", err)
	}
	for _, id := range ids {
		o := col.outcomes()[id]
		var ae *APIError
		if o.Status != Failed || !errors.As(o.Err, &ae) || ae.StatusCode != 503 || !errors.Is(o.Err, context.Canceled) {
			t.Fatalf("%s: %+v", id, o)
		}
	}
	if err := c.Enqueue(context.Background(), Event{Type: "t"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("enqueue after Close: %v", err)
	}
}

func TestFlushSendsWithoutWaitingForLinger(t *testing.T) {
	f, col := newFake(t, nil), newCollector(t)
	c := newTestClient(t, f, col, func(c *Config) { c.Linger = time.Hour })
	ids := enqueueN(t, c, "fl", 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := col.outcomes(); len(got) != 3 || got[ids[2]].Status != Accepted {
		t.Fatalf("after Flush: %+v", got)
	}
	if s := c.Stats(); s.Pending != 0 || s.Buffered != 0 {
		t.Fatalf("stats after Flush: %+v", s)
	}
}

// Events without an id get a generated one, the same on every attempt.
func TestGeneratedIDsAreStableAcrossRetries(t *testing.T) {
	f := newFake(t, func(n int, _ []string) reply {
		if n == 0 {
			return reply{status: http.StatusServiceUnavailable, errCode: "unavailable"}
		}
		return reply{status: http.StatusOK}
	})
	col := newCollector(t)
	c := newTestClient(t, f, col, func(c *Config) { c.Linger = time.Hour })
	for i := range 3 {
		if err := c.Enqueue(context.Background(), Event{Type: "t", Data: i}); err != nil {
			t.Fatal(err)
		}
	}
	id, err := c.EnqueueRaw(context.Background(), RawEvent{JSON: []byte(` {"type":"t","data":{"x":1}} `), Meta: "meta"})
	if err != nil {
		t.Fatal(err)
	}
	own, err := c.EnqueueRaw(context.Background(), RawEvent{JSON: []byte(`{"id":"mine","type":"t"}`), DefaultID: "unused"})
	if err != nil || own != "mine" {
		t.Fatalf("EnqueueRaw with an id: %q %v", own, err)
	}
	given, err := c.EnqueueRaw(context.Background(), RawEvent{JSON: []byte(`{"type":"t"}`), DefaultID: "given"})
	if err != nil || given != "given" {
		t.Fatalf("EnqueueRaw with a default id: %q %v", given, err)
	}
	closeClient(t, c)
	reqs := f.requests()
	if len(reqs) != 2 || !slices.Equal(reqs[0].ids, reqs[1].ids) || !slices.IsSorted(reqs[0].ids[:3]) || len(reqs[0].ids) != 6 {
		t.Fatalf("ids per attempt: %v", reqs)
	}
	if o := col.outcomes()[id]; o.Status != Accepted || o.Meta != "meta" || reqs[0].ids[3] != id {
		t.Fatalf("raw event without id: %q %+v", id, o)
	}
}

func TestEnqueueRefusesWhatCannotBeSent(t *testing.T) {
	f, col := newFake(t, nil), newCollector(t)
	c := newTestClient(t, f, col, nil)
	for name, err := range map[string]error{
		"no type":    c.Enqueue(context.Background(), Event{ID: "x"}),
		"bad data":   c.Enqueue(context.Background(), Event{Type: "t", Data: func() {}}),
		"not object": raw(c, `[1]`),
		"malformed":  raw(c, `{"id":`),
		"null id":    raw(c, `{"id":null,"type":"t"}`),
	} {
		if !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: %v", name, err)
		}
	}
	closeClient(t, c)
	if len(f.requests()) != 0 {
		t.Fatal("refused events were sent")
	}
}

func raw(c *Client, s string) error {
	_, err := c.EnqueueRaw(context.Background(), RawEvent{JSON: []byte(s)})
	return err
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		h      map[string]string
		status int
		want   time.Duration
	}{
		{map[string]string{"Retry-After": "3"}, 503, 3 * time.Second},
		{map[string]string{"Retry-After": now.Add(5 * time.Second).Format(http.TimeFormat)}, 503, 5 * time.Second},
		{map[string]string{"RateLimit-Reset": "4"}, 429, 4 * time.Second},
		{map[string]string{"X-RateLimit-Reset": "2"}, 429, 2 * time.Second},
		{map[string]string{"RateLimit-Reset": "4"}, 503, 0},
		{map[string]string{"Retry-After": "soon"}, 503, 0},
	} {
		h := http.Header{}
		for k, v := range tc.h {
			h.Set(k, v)
		}
		if got := retryAfter(h, tc.status, now); got != tc.want {
			t.Errorf("%v %d: %s, want %s", tc.h, tc.status, got, tc.want)
		}
	}
}

func TestConfigValidateNamesTheSetting(t *testing.T) {
	for want, cfg := range map[string]Config{
		"Endpoint is required": {APIKey: "k"},
		"not an http(s) URL":   {Endpoint: "ftp://x", APIKey: "k"},
		"APIKey is required":   {Endpoint: "http://x"},
		"BatchMaxEvents":       {Endpoint: "http://x", APIKey: "k", BatchMaxEvents: 20000},
		"Retry.Multiplier":     {Endpoint: "http://x", APIKey: "k", Retry: RetryPolicy{Multiplier: 0.5}},
	} {
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", cfg, err, want)
		}
	}
}
