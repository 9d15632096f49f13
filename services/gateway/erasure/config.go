// Package erasure is the gateway's erasure by subject: POST /v1/erasures
// stores a pending erasure (table erasures, migration postgres/00003) with
// its audit entry; GET /v1/erasures/{id} reports it; a Worker, run in every
// gateway process, claims pending erasures, waits until the projector's
// PostgreSQL group has stored everything the topic held (KafkaProjection),
// reads the subject's live event ids from that read model page by page and
// produces a tombstone
// for each through the gateway's own producer (same key, same partition as
// the event). The projector then applies the tombstones to both read models.
//
// Why the gateway and not the projector: the gateway already holds the
// idempotent acks=all producer, the record encoding and the PostgreSQL pool,
// and it is the process that answers producers; the projector is a consumer
// of the topic and producing into its own input would mix the two roles.
// Several gateways share the work safely: claims use FOR UPDATE SKIP LOCKED
// and a lease, and every write checks the owner.
//
// Restart safety: before producing a page, the worker moves the position
// past it, counts it and records it as in flight, all in one UPDATE; after
// the acks it clears the in-flight page. A worker that dies in between leaves
// the page in flight, and whoever claims the erasure after the lease produces
// it again (tombstones are idempotent), so every event is tombstoned at least
// once and counted exactly once. docs/erasure.md has the whole story.
//
// Libraries: pgx/v5 (the team's driver), franz-go through the gateway's
// producer and kadm for offsets, gin for the handler.
package erasure

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/pulsestream/pulsestream/schemas"
)

// Config is the erasure worker's pacing.
type Config struct {
	PollInterval time.Duration
	Lease        time.Duration
	PageSize     int
	// ProjectorGroup is the projector's PostgreSQL consumer group; the worker
	// waits for it to reach the topic's end before reading ids ("": no wait).
	ProjectorGroup string
}

// RegisterFlags defines the erasure-* flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.PollInterval, "erasure-poll-interval", time.Second, "how often an idle gateway looks for pending erasures")
	fs.DurationVar(&c.Lease, "erasure-lease", time.Minute, "how long a claimed erasure stays with its gateway without progress before another gateway takes it over")
	fs.StringVar(&c.ProjectorGroup, "erasure-projector-group", schemas.DefaultGroupPostgres, "the projector's PostgreSQL consumer group (its projector-group-postgres): an erasure waits until it has stored every event accepted before the erasure started; empty: do not wait")
	fs.IntVar(&c.PageSize, "erasure-page-size", 1000, "event ids read from PostgreSQL and tombstoned per step of an erasure")
}

// Validate names a bad erasure setting.
func (c *Config) Validate() error {
	var errs []error
	if c.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("erasure-poll-interval: must be positive, got %s", c.PollInterval))
	}
	if c.Lease < time.Second {
		errs = append(errs, fmt.Errorf("erasure-lease: must be at least 1s, got %s", c.Lease))
	}
	if c.PageSize < 1 || c.PageSize > 100000 {
		errs = append(errs, fmt.Errorf("erasure-page-size: must be within 1..100000, got %d", c.PageSize))
	}
	return errors.Join(errs...)
}
