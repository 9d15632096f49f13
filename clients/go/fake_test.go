package pulsestream

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// sent is one request as the fake gateway received it.
type sent struct {
	at  time.Time
	ids []string
	raw []json.RawMessage
}

// reply is the fake's answer to one request: a status, headers, and per
// event results (nil: no results, only error).
type reply struct {
	status  int
	headers map[string]string
	results []result // by index; zero value: accepted
	errCode string
}

type result struct {
	Index   int    `json:"index"`
	ID      string `json:"id"`
	Status  string `json:"status"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// fakeGateway answers POST /v1/events like the gateway, deciding each
// answer with answer(request number, ids); it records every request.
type fakeGateway struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []sent
	answer func(n int, ids []string) reply
}

func newFake(t testing.TB, answer func(n int, ids []string) reply) *fakeGateway {
	f := &fakeGateway{t: t, answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGateway) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer key" {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"code":"invalid_api_key","message":"no"}}`)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			f.t.Errorf("gzip: %v", err)
			return
		}
		body = zr
	}
	var evs []json.RawMessage
	if err := json.NewDecoder(body).Decode(&evs); err != nil {
		f.t.Errorf("body is not a JSON array: %v", err)
		return
	}
	ids := make([]string, len(evs))
	for i, e := range evs {
		var h struct{ ID string }
		if err := json.Unmarshal(e, &h); err != nil {
			f.t.Errorf("event %d: %v", i, err)
		}
		ids[i] = h.ID
	}
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, sent{at: time.Now(), ids: ids, raw: evs})
	f.mu.Unlock()
	rep := reply{status: http.StatusOK}
	if f.answer != nil {
		rep = f.answer(n, ids)
	}
	for k, v := range rep.headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	if rep.errCode != "" && rep.results == nil {
		fmt.Fprintf(w, `{"error":{"code":%q,"message":"refused"}}`, rep.errCode)
		return
	}
	res := make([]result, len(ids))
	for i := range ids {
		res[i] = result{Index: i, ID: ids[i], Status: "accepted"}
		if i < len(rep.results) && rep.results[i].Status != "" {
			res[i] = rep.results[i]
			res[i].Index, res[i].ID = i, ids[i]
		}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"results": res})
}

func (f *fakeGateway) requests() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.reqs...)
}

// sends counts how often each id was sent.
func (f *fakeGateway) sends() map[string]int {
	out := map[string]int{}
	for _, r := range f.requests() {
		for _, id := range r.ids {
			out[id]++
		}
	}
	return out
}

// collector gathers outcomes and fails the test on a second outcome for an id.
type collector struct {
	t   testing.TB
	mu  sync.Mutex
	got map[string]Outcome
}

func newCollector(t testing.TB) *collector { return &collector{t: t, got: map[string]Outcome{}} }

func (c *collector) add(o Outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.got[o.ID]; ok {
		c.t.Errorf("event %s: second outcome %+v after %+v", o.ID, o, prev)
	}
	c.got[o.ID] = o
}

func (c *collector) outcomes() map[string]Outcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Outcome, len(c.got))
	for k, v := range c.got {
		out[k] = v
	}
	return out
}

// recordingMetrics keeps the retry delays the client chose.
type recordingMetrics struct {
	noMetrics
	mu     sync.Mutex
	delays []time.Duration
	full   int
}

func (m *recordingMetrics) Retry(_ int, d time.Duration, _ error) {
	m.mu.Lock()
	m.delays = append(m.delays, d)
	m.mu.Unlock()
}

func (m *recordingMetrics) BufferFull() { m.mu.Lock(); m.full++; m.mu.Unlock() }

func (m *recordingMetrics) retries() []time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]time.Duration(nil), m.delays...)
}

func itoa(i int) string { return strconv.Itoa(i) }
