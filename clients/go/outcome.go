package pulsestream

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Status is the final state of one event.
type Status string

// The four outcomes of an event.
const (
	// Accepted: stored in the log now (Kafka acknowledged it).
	Accepted Status = "accepted"
	// Duplicate: an event with this id was accepted before (by an earlier
	// attempt, run or producer) and is not stored again; Code "erased" when
	// the id was erased.
	Duplicate Status = "duplicate"
	// Rejected: the gateway refused this event (Code, Message); sending it
	// again would change nothing, so it is never retried.
	Rejected Status = "rejected"
	// Failed: no final answer; Err is the last error (retries exhausted, a
	// request-level refusal such as 401/403, or the client closed first).
	// The event may or may not be stored: sending it again is safe.
	Failed Status = "failed"
)

// Outcome is what became of one enqueued event. The client delivers exactly
// one per event that Enqueue accepted.
type Outcome struct {
	ID       string
	Status   Status
	Code     string // rejected: the gateway's reason; duplicate: "erased" or ""
	Message  string // rejected: the gateway's explanation
	IngestID string // accepted/duplicate: the gateway's id of the (original) acceptance
	Err      error  // failed: the last error
	Attempts int    // requests that carried the event
	Meta     any    // Event.Meta or RawEvent.Meta
}

// APIError is an answer of the gateway that is not a per-event result.
type APIError struct {
	StatusCode int
	Code       string // error.code of the body ("rate_limited", "unavailable", ...)
	Message    string
	RetryAfter time.Duration // Retry-After (or RateLimit-Reset on a 429), 0 if absent
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("gateway answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	return fmt.Sprintf("gateway answered %d %s: %s", e.StatusCode, e.Code, e.Message)
}

// retryAfter reads Retry-After (delay-seconds or an HTTP date); on a 429
// without it, RateLimit-Reset (seconds). 0 when neither is usable.
func retryAfter(h http.Header, status int, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			return time.Duration(s) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	if status == http.StatusTooManyRequests {
		for _, name := range []string{"RateLimit-Reset", "X-RateLimit-Reset"} {
			if s, err := strconv.Atoi(strings.TrimSpace(h.Get(name))); err == nil && s >= 0 {
				return time.Duration(s) * time.Second
			}
		}
	}
	return 0
}

// rateLimit reads RateLimit-Limit (the tenant's burst: the most events one
// request may carry), 0 if absent.
func rateLimit(h http.Header) int {
	for _, name := range []string{"RateLimit-Limit", "X-RateLimit-Limit"} {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Get(name))); err == nil && n > 0 {
			return n
		}
	}
	return 0
}
