package quarantine

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/pulsestream/pulsestream/schemas"
)

// Config is the quarantine's settings.
type Config struct {
	Topic         string
	Group         string
	SweepInterval time.Duration
}

// RegisterFlags defines the quarantine-* flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Topic, "quarantine-topic", schemas.DefaultQuarantineTopic, "topic of the events refused by tenants' event schemas (created with the event topic when kafka topics are ensured)")
	fs.StringVar(&c.Group, "quarantine-group", "pulsestream-gateway-quarantine", "consumer group of the gateways projecting the quarantine topic into PostgreSQL")
	fs.DurationVar(&c.SweepInterval, "quarantine-sweep-interval", time.Minute, "how often expired quarantined events are deleted (each tenant's quarantine_days)")
}

// Validate names a bad setting.
func (c *Config) Validate() error {
	var errs []error
	if c.Topic == "" {
		errs = append(errs, errors.New("quarantine-topic: must not be empty"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("quarantine-group: must not be empty"))
	}
	if c.SweepInterval <= 0 {
		errs = append(errs, fmt.Errorf("quarantine-sweep-interval: must be positive, got %s", c.SweepInterval))
	}
	return errors.Join(errs...)
}

// Sweeper deletes expired quarantined events every interval. Listing never
// shows an expired entry anyway; the sweep frees the space.
type Sweeper struct {
	store interface {
		Sweep(ctx context.Context) (int64, error)
	}
	interval time.Duration
	logger   *slog.Logger
}

// NewSweeper returns a sweeper of store.
func NewSweeper(store *PGStore, interval time.Duration, logger *slog.Logger) *Sweeper {
	return &Sweeper{store: store, interval: interval, logger: logger}
}

// Run sweeps until ctx ends.
func (s *Sweeper) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		n, err := s.store.Sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.logger.Warn("quarantine sweep failed; retrying at the next interval", "err", err)
		case n > 0:
			s.logger.Info("expired quarantined events deleted", "rows", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
