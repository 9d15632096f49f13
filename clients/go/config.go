package pulsestream

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// FullPolicy is what Enqueue does when the buffer holds BufferEvents events.
type FullPolicy int

const (
	// Block waits for room until the Enqueue context ends (the default).
	Block FullPolicy = iota
	// FailFast returns ErrBufferFull at once.
	FailFast
)

// Config is everything a Client is built from. Only Endpoint and APIKey are
// required; a zero field takes the default named in its comment.
type Config struct {
	Endpoint string // the gateway's base URL, e.g. "http://127.0.0.1:8080"
	APIKey   string // a key with the ingest scope, sent as "Authorization: Bearer"
	// SigningSecret is the key's signing secret (pss_..., shown once when
	// the key is created). When set, every request is signed (RFC 9421
	// hmac-sha256 over @method, @target-uri, content-type and the
	// Content-Digest of the body as sent, with created and a fresh nonce;
	// keyid is the API key's public prefix), as a key or tenant with
	// require_signature demands. Empty: requests are not signed.
	SigningSecret string

	HTTPClient     *http.Client  // default: keep-alive connections for MaxInFlight requests
	RequestTimeout time.Duration // one attempt, answer included; default 30s

	BatchMaxEvents int           // default 500 (the gateway takes up to 10,000; lowered to the tenant's burst when RateLimit-Limit is smaller)
	BatchMaxBytes  int           // JSON bytes before compression; default 1 MiB (the gateway takes 10 MiB)
	Linger         time.Duration // how long a batch that is not full waits for more events; default 20ms
	MaxInFlight    int           // concurrent requests; default 4
	DisableGzip    bool          // send bodies uncompressed (gzip costs client and gateway CPU, saves network)

	BufferEvents int        // events queued and not yet in a batch; default 10,000
	OnFull       FullPolicy // Block (default) or FailFast

	Retry RetryPolicy

	// OnOutcome and Outcomes receive the outcome of every event (either,
	// both or neither), from the client's sending goroutines: OnOutcome must
	// not block for long, and Outcomes must be drained, or sending stalls.
	OnOutcome func(Outcome)
	Outcomes  chan<- Outcome

	Metrics Metrics       // default: none
	NewID   func() string // id of events that have none; default NewID (ULID)
}

// RetryPolicy is the capped exponential backoff between attempts of a batch
// (github.com/cenkalti/backoff/v5). A Retry-After of the gateway replaces the
// computed delay.
type RetryPolicy struct {
	InitialInterval     time.Duration // default 100ms
	MaxInterval         time.Duration // the cap; default 10s
	Multiplier          float64       // default 2
	RandomizationFactor float64       // jitter: each delay is drawn from ±this fraction; default 0.5; negative: none
	MaxAttempts         int           // requests per event before it fails; default 10
	MaxElapsedTime      time.Duration // per batch, first attempt to last; default 5m
}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.BatchMaxEvents, 500)
	def(&c.BatchMaxBytes, 1<<20)
	def(&c.MaxInFlight, 4)
	def(&c.BufferEvents, 10000)
	def(&c.Retry.MaxAttempts, 10)
	defDur(&c.RequestTimeout, 30*time.Second)
	defDur(&c.Linger, 20*time.Millisecond)
	defDur(&c.Retry.InitialInterval, 100*time.Millisecond)
	defDur(&c.Retry.MaxInterval, 10*time.Second)
	defDur(&c.Retry.MaxElapsedTime, 5*time.Minute)
	if c.Retry.Multiplier == 0 {
		c.Retry.Multiplier = 2
	}
	switch {
	case c.Retry.RandomizationFactor == 0:
		c.Retry.RandomizationFactor = 0.5
	case c.Retry.RandomizationFactor < 0:
		c.Retry.RandomizationFactor = 0
	}
	if c.NewID == nil {
		c.NewID = NewID
	}
	if c.Metrics == nil {
		c.Metrics = noMetrics{}
	}
}

// Validate names the first setting that cannot work.
func (c *Config) Validate() error {
	u, err := url.Parse(c.Endpoint)
	switch {
	case c.Endpoint == "":
		return errors.New("config: Endpoint is required (the gateway's base URL)")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("config: Endpoint %q is not an http(s) URL", c.Endpoint)
	case c.APIKey == "":
		return errors.New("config: APIKey is required")
	case c.SigningSecret != "" && !hasKeyID(c.APIKey):
		return errors.New("config: SigningSecret needs an APIKey of the form ps_xxxxxxxx_... (its prefix is the signature's keyid)")
	case c.BatchMaxEvents < 0 || c.BatchMaxEvents > 10000:
		return fmt.Errorf("config: BatchMaxEvents %d: must be 1 to 10,000 (the gateway's limit)", c.BatchMaxEvents)
	case c.BatchMaxBytes < 0, c.MaxInFlight < 0, c.BufferEvents < 0, c.Retry.MaxAttempts < 0:
		return errors.New("config: BatchMaxBytes, MaxInFlight, BufferEvents and Retry.MaxAttempts must not be negative")
	case c.Linger < 0, c.RequestTimeout < 0, c.Retry.InitialInterval < 0, c.Retry.MaxInterval < 0, c.Retry.MaxElapsedTime < 0:
		return errors.New("config: Linger, RequestTimeout and the Retry intervals must not be negative")
	case c.Retry.Multiplier != 0 && c.Retry.Multiplier < 1:
		return fmt.Errorf("config: Retry.Multiplier %g: must be at least 1", c.Retry.Multiplier)
	case c.OnFull != Block && c.OnFull != FailFast:
		return fmt.Errorf("config: OnFull %d: Block or FailFast", c.OnFull)
	}
	return nil
}

func hasKeyID(apiKey string) bool { _, ok := keyID(apiKey); return ok }
