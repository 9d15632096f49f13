package pulsestream

import "time"

// Metrics receives the client's events as they happen; the methods are
// called from the client's goroutines and must be cheap and safe for
// concurrent use. Package pulseprom implements it for Prometheus.
type Metrics interface {
	// Request is called after every HTTP attempt.
	Request(r RequestInfo)
	// Retry is called before waiting delay to send events again after err.
	Retry(events int, delay time.Duration, err error)
	// Outcome is called once per event with its final status.
	Outcome(s Status)
	// BufferFull is called when FailFast refused an event.
	BufferFull()
}

// RequestInfo describes one HTTP attempt.
type RequestInfo struct {
	Events     int
	WireBytes  int // body as sent (compressed when gzip is on)
	StatusCode int // 0 when no answer arrived
	Duration   time.Duration
	Err        error // transport error or timeout
}

type noMetrics struct{}

func (noMetrics) Request(RequestInfo)             {}
func (noMetrics) Retry(int, time.Duration, error) {}
func (noMetrics) Outcome(Status)                  {}
func (noMetrics) BufferFull()                     {}
