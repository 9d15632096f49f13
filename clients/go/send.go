package pulsestream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v5"
	json "github.com/goccy/go-json"
)

// errSplit asks send to bisect a batch the gateway refused as a whole.
var errSplit = errors.New("split the batch")

// answer is the gateway's JSON body (IngestResponse or Error).
type answer struct {
	Results []struct {
		Index    int    `json:"index"`
		Status   string `json:"status"`
		Code     string `json:"code"`
		Message  string `json:"message"`
		IngestID string `json:"ingest_id"`
	} `json:"results"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// send delivers an outcome to every event of items: in one request when it
// can, in halves when the gateway refuses the request as a whole for
// something one event can cause (400/413 without results, 429
// batch_exceeds_burst).
func (c *Client) send(items []*item) {
	if m := int(c.maxBatch.Load()); len(items) > m {
		c.send(items[:m])
		c.send(items[m:])
		return
	}
	if rest := c.attempt(items); len(rest) > 0 {
		h := len(rest) / 2
		c.send(rest[:h])
		c.send(rest[h:])
	}
}

// attempt sends items until each has an outcome, retrying what may succeed
// later; it returns the events to bisect, if the gateway asked for that.
func (c *Client) attempt(items []*item) (split []*item) {
	pending := items
	var last error
	op := func() (struct{}, error) {
		if err := c.gate.wait(c.ctx); err != nil {
			return struct{}{}, backoff.Permanent(err)
		}
		var err error
		pending, err = c.post(pending)
		if err != nil && !errors.Is(err, errSplit) {
			last = err
		}
		return struct{}{}, err
	}
	r := c.cfg.Retry
	b := &backoff.ExponentialBackOff{InitialInterval: r.InitialInterval, RandomizationFactor: r.RandomizationFactor,
		Multiplier: r.Multiplier, MaxInterval: r.MaxInterval}
	_, err := backoff.Retry(c.ctx, op, backoff.WithBackOff(b), backoff.WithMaxTries(uint(r.MaxAttempts)),
		backoff.WithMaxElapsedTime(r.MaxElapsedTime),
		backoff.WithNotify(func(err error, d time.Duration) { c.metrics.Retry(len(pending), d, err) }))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errSplit):
		return pending
	case c.ctx.Err() != nil && last != nil:
		err = fmt.Errorf("client closed before delivery (%w); last error: %w", c.ctx.Err(), last)
	}
	for _, it := range pending {
		c.deliver(it, Outcome{Status: Failed, Err: err})
	}
	return nil
}

// post makes one request with items and delivers the outcomes it settles.
// It returns the events still without one and why: a retryable error, a
// backoff.Permanent one (they fail), or errSplit.
func (c *Client) post(items []*item) ([]*item, error) {
	body := c.encode(items)
	defer bufs.Put(body)
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body.Bytes()))
	if err != nil {
		return items, backoff.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("User-Agent", "pulsestream-go/1")
	if !c.cfg.DisableGzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if c.signer != nil {
		if err := c.signer.sign(req, body.Bytes()); err != nil {
			return items, backoff.Permanent(fmt.Errorf("sign the request: %w", err))
		}
	}
	for _, it := range items {
		it.attempts++
	}
	start := time.Now()
	status, h, answerBuf, err := c.do(req)
	if answerBuf != nil {
		defer bufs.Put(answerBuf)
	}
	c.metrics.Request(RequestInfo{Events: len(items), WireBytes: body.Len(), StatusCode: status, Duration: time.Since(start), Err: err})
	switch {
	case err != nil && c.ctx.Err() != nil:
		return items, backoff.Permanent(err)
	case err != nil:
		return items, err // connection refused or reset, timeout: retry
	}
	if burst := rateLimit(h); burst > 0 {
		c.maxBatch.Store(int64(min(burst, c.cfg.BatchMaxEvents)))
	}
	var ans answer
	_ = json.Unmarshal(answerBuf.Bytes(), &ans) // a proxy's 502 need not be JSON; goccy/go-json: a 1,000-result answer in a fraction of encoding/json's time
	apiErr := &APIError{StatusCode: status, RetryAfter: retryAfter(h, status, time.Now())}
	if ans.Error != nil {
		apiErr.Code, apiErr.Message = ans.Error.Code, ans.Error.Message
	}
	if len(ans.Results) > 0 {
		return c.settle(items, &ans, apiErr)
	}
	return c.refused(items, apiErr)
}

// do sends req and reads the whole answer into a pooled buffer.
func (c *Client) do(req *http.Request) (int, http.Header, *bytes.Buffer, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	buf := bufs.Get()
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, 64<<20)); err != nil {
		bufs.Put(buf)
		return 0, nil, nil, fmt.Errorf("read the answer (%d): %w", resp.StatusCode, err)
	}
	return resp.StatusCode, resp.Header, buf, nil
}

// settle delivers the final per-event results and returns the events to
// send again: those marked "unavailable" (Kafka did not take them) and any
// the answer does not list.
func (c *Client) settle(items []*item, ans *answer, apiErr *APIError) ([]*item, error) {
	seen := make([]bool, len(items))
	var again []*item
	for _, r := range ans.Results {
		if r.Index < 0 || r.Index >= len(items) || seen[r.Index] {
			continue
		}
		it := items[r.Index]
		switch {
		case r.Status == string(Accepted) || r.Status == string(Duplicate):
			seen[r.Index] = true
			c.deliver(it, Outcome{Status: Status(r.Status), Code: r.Code, IngestID: r.IngestID})
		case r.Status == string(Rejected) && r.Code != "unavailable":
			seen[r.Index] = true
			c.deliver(it, Outcome{Status: Rejected, Code: r.Code, Message: r.Message})
		}
	}
	for i, it := range items {
		if !seen[i] {
			again = append(again, it)
		}
	}
	if len(again) == 0 {
		return nil, nil
	}
	if apiErr.StatusCode < 500 { // every result final but some missing: not the documented answer
		apiErr.Code, apiErr.Message = "incomplete_answer", fmt.Sprintf("%d of %d events have no result", len(again), len(items))
	}
	return again, retryable(apiErr)
}

// refused decides what an answer without per-event results means for items.
func (c *Client) refused(items []*item, e *APIError) ([]*item, error) {
	switch {
	case e.StatusCode == http.StatusTooManyRequests && e.Code == "batch_exceeds_burst" && len(items) > 1:
		return items, backoff.Permanent(errSplit)
	case e.StatusCode == http.StatusTooManyRequests:
		c.gate.pause(e.RetryAfter)
		return items, retryable(e)
	case e.StatusCode == http.StatusRequestTimeout || e.StatusCode >= 500:
		return items, retryable(e)
	case (e.StatusCode == http.StatusBadRequest || e.StatusCode == http.StatusRequestEntityTooLarge) && len(items) > 1:
		return items, backoff.Permanent(errSplit)
	case e.StatusCode == http.StatusBadRequest || e.StatusCode == http.StatusRequestEntityTooLarge:
		c.deliver(items[0], Outcome{Status: Rejected, Code: e.Code, Message: e.Message})
		return nil, nil
	default: // 401, 403, 415, ...: the same request can only get the same answer
		return items, backoff.Permanent(e)
	}
}

// retryAfterErr is a retryable APIError that carries the gateway's delay to
// backoff.Retry, which then waits exactly that long.
type retryAfterErr struct {
	*APIError
	wait *backoff.RetryAfterError
}

func (e *retryAfterErr) Unwrap() []error { return []error{e.APIError, e.wait} }

func retryable(e *APIError) error {
	if e.RetryAfter > 0 {
		return &retryAfterErr{APIError: e, wait: &backoff.RetryAfterError{Duration: e.RetryAfter}}
	}
	return e
}
