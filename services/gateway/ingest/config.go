// Package ingest is the gateway's write path: POST /v1/events (decode,
// validate, rate-limit, dedup against Redis markers, produce to Kafka, answer
// per event only after the acks) and DELETE /v1/events/{id} (tombstones).
//
// Libraries: franz-go (mandated) with TryProduce and promises, so a request's
// records are produced concurrently and the handler waits for all acks without
// ever blocking on a full buffer; go-redis/v9 for the markers (an MGET and a
// SET NX per event) and GCRA rate limits (gcra.go: the GCRA of
// go-redis/redis_rate, which it replaced, in a script that decides every
// request queued on a bucket in one call). Every Redis command goes through
// one coalescing pipeline (redis.go: coalesced), so the rate-limit scripts,
// marker lookups and marker writes of all requests in flight share one
// pipelined round trip per batch instead of two or three round trips each.
package ingest

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/pulsestream/pulsestream/schemas/markers"
)

// Config is the HTTP ingest path's limits and Redis behaviour.
type Config struct {
	MaxEventBytes        int
	MaxRequestBytes      int64
	MaxDecompressedBytes int64
	MaxEvents            int
	MaxDepth             int
	MarkerTTL            time.Duration
	ErasedMarkerTTL      time.Duration
	RedisKeyPrefix       string
	RateLimitFailClosed  bool
	RetryAfter           time.Duration
	RedisTimeout         time.Duration
	RedisCooldown        time.Duration
}

// RegisterFlags defines the ingest-* flags with their documented defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.MaxEventBytes, "ingest-max-event-bytes", 1<<20, "largest event in bytes as sent (a tenant's max_event_bytes can only lower it)")
	fs.Int64Var(&c.MaxRequestBytes, "ingest-max-request-bytes", 10<<20, "largest request body in bytes as sent (compressed or not)")
	fs.Int64Var(&c.MaxDecompressedBytes, "ingest-max-decompressed-bytes", 10<<20, "largest request body after gzip decompression; inflation stops there (gzip bombs get 413)")
	fs.IntVar(&c.MaxEvents, "ingest-max-events", 10000, "most events in one request")
	fs.IntVar(&c.MaxDepth, "ingest-max-depth", 64, "deepest nesting of JSON objects and arrays in a request")
	fs.DurationVar(&c.MarkerTTL, "marker-ttl", 24*time.Hour, "how long Redis remembers an accepted (tenant, id) to answer repeats as duplicate")
	fs.DurationVar(&c.ErasedMarkerTTL, "erased-marker-ttl", 0, "how long Redis remembers an erased (tenant, id) to answer a re-sent event as duplicate without producing it (0: until Redis loses it)")
	fs.StringVar(&c.RedisKeyPrefix, "redis-key-prefix", markers.DefaultPrefix, "prefix of every Redis key the gateway writes (markers, rate limits, monthly quota counters)")
	fs.BoolVar(&c.RateLimitFailClosed, "rate-limit-fail-closed", false, "answer 503 when Redis cannot be asked for the rate limit (default: let the request through)")
	fs.DurationVar(&c.RetryAfter, "retry-after", 2*time.Second, "Retry-After sent with 503 answers")
	fs.DurationVar(&c.RedisTimeout, "redis-op-timeout", 250*time.Millisecond, "time one Redis round trip of a request (rate limit, marker lookup, marker save) may take before the request goes on without it")
	fs.DurationVar(&c.RedisCooldown, "redis-cooldown", time.Second, "after a Redis failure, how long requests skip Redis (go on as if it failed) instead of each waiting for it")
}

// Validate names a bad ingest setting.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxEventBytes < 1024 {
		errs = append(errs, fmt.Errorf("ingest-max-event-bytes: must be at least 1024, got %d", c.MaxEventBytes))
	}
	if c.MaxRequestBytes < int64(c.MaxEventBytes) {
		errs = append(errs, fmt.Errorf("ingest-max-request-bytes: must be at least ingest-max-event-bytes (%d), got %d", c.MaxEventBytes, c.MaxRequestBytes))
	}
	if c.MaxDecompressedBytes < c.MaxRequestBytes {
		errs = append(errs, fmt.Errorf("ingest-max-decompressed-bytes: must be at least ingest-max-request-bytes (%d), got %d", c.MaxRequestBytes, c.MaxDecompressedBytes))
	}
	if c.MaxEvents < 1 {
		errs = append(errs, fmt.Errorf("ingest-max-events: must be at least 1, got %d", c.MaxEvents))
	}
	if c.MaxDepth < 4 || c.MaxDepth > 1000 {
		errs = append(errs, fmt.Errorf("ingest-max-depth: must be within 4..1000, got %d", c.MaxDepth))
	}
	if c.MarkerTTL < time.Minute {
		errs = append(errs, fmt.Errorf("marker-ttl: must be at least 1m, got %s", c.MarkerTTL))
	}
	if c.ErasedMarkerTTL != 0 && c.ErasedMarkerTTL < c.MarkerTTL {
		errs = append(errs, fmt.Errorf("erased-marker-ttl: must be 0 (no expiry) or at least marker-ttl (%s), got %s", c.MarkerTTL, c.ErasedMarkerTTL))
	}
	if c.RedisTimeout <= 0 {
		errs = append(errs, fmt.Errorf("redis-op-timeout: must be positive, got %s", c.RedisTimeout))
	}
	if c.RedisCooldown < 0 {
		errs = append(errs, fmt.Errorf("redis-cooldown: must not be negative, got %s", c.RedisCooldown))
	}
	if c.RetryAfter < time.Second {
		errs = append(errs, fmt.Errorf("retry-after: must be at least 1s, got %s", c.RetryAfter))
	}
	return errors.Join(errs...)
}
