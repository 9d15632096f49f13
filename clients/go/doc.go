// Package pulsestream is the Go client of the PulseStream ingest API
// (POST /v1/events on the gateway, schemas/openapi/gateway.yaml).
//
// A Client takes events without blocking the caller (Enqueue), groups them
// into batches by count, bytes and linger time, sends each batch as one
// gzip-compressed JSON array with a bounded number of requests in flight, and
// delivers exactly one Outcome per enqueued event: accepted, duplicate,
// rejected (the gateway's code and message; never retried) or failed (the
// last error once retries are exhausted, or the client was closed first).
//
// Retries are safe because every event carries an id: the producer's own, or
// a generated ULID (sortable by time) when it has none. The gateway dedups by
// (tenant, id), so an event sent twice is answered "duplicate", never stored
// twice. Only what can succeed later is retried: 429 (after Retry-After; a
// batch larger than the tenant's burst is split), 503 (only the events the
// gateway marked "unavailable"), 408/500/502/504, timeouts and connection
// errors, with capped exponential backoff and jitter from
// github.com/cenkalti/backoff/v5 (the advertised Retry-After replaces the
// computed delay). A request-level 400/413 of a batch is bisected until the
// offending event is found and rejected alone.
//
// Ids are ULIDs from github.com/oklog/ulid/v2; gzip is
// github.com/klauspost/compress (faster than compress/gzip at the same
// format); answers are decoded with github.com/goccy/go-json (a 1,000-result
// answer cost more client CPU than encoding its 1,000 events with
// encoding/json). Events are encoded by appending their attributes, never by
// reflection (event.go). Metrics are hooks (Metrics); package pulseprom implements them as
// a Prometheus collector.
package pulsestream
