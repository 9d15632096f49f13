// Package bench runs the whole PulseStream benchmark on this machine: it
// starts its own gateway, projector and query (own ports, own topics,
// consumer groups, PostgreSQL and ClickHouse databases) against the local
// infrastructure, measures the raw Kafka ceiling, gateway batch and
// single-event ingestion, projection throughput and end-to-end visibility
// lag, verifies that exactly the accepted events were stored, and writes
// the results as JSON. Everything it created is removed at the end.
package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Config is every setting of a bench run.
type Config struct {
	Bin        string // directory of gateway, projector, query, pulsectl, migrate
	WorkDir    string // logs of the started services
	ResultsDir string // where <date>.json goes
	LocalDir   string // PULSESTREAM_LOCAL: pid files of the infrastructure

	Brokers   string
	PGURL     string // admin connection; the bench creates its own database next to it
	RedisAddr string
	CHAddr    string // ClickHouse HTTP host:port

	Tenants    int
	DataBytes  int
	DupRatio   float64
	Gzip       bool
	Partitions int

	RawDuration    time.Duration
	BatchDuration  time.Duration
	SingleDuration time.Duration
	E2EDuration    time.Duration
	MaxEvents      int64 // per phase, 0: unbounded (time bounds still apply)
	// SignedRounds is how many rounds a gateway phase and its signed twin
	// take turns in (each round a share of the phase's duration), so that
	// drift during the pair falls on both.
	SignedRounds int

	BatchConcurrency  int
	SingleConcurrency int
	// SingleConcurrencyHigh is the second single-event phase's connections.
	SingleConcurrencyHigh int
	E2ERate               float64
	E2ERateHigh           float64 // a second end-to-end phase at this rate; 0: none
	SinkAlone             bool    // also drain the backlog with each sink alone
	Schemas               bool    // run the event-schema twins of the batch phases (binaries with pulsectl schemas)
	E2EBatch              int
	E2EConcurrency        int
	PollInterval          time.Duration
	DrainTimeout          time.Duration
	Samples               int
	Keep                  bool // keep databases and topics for inspection
	Profile               bool // perf-record the gateway and projector during their phases
}

// Validate names every bad setting.
func (c *Config) Validate() error {
	var errs []error
	pos := map[string]int{"tenants": c.Tenants, "data-bytes": c.DataBytes, "partitions": c.Partitions,
		"batch-concurrency": c.BatchConcurrency, "single-concurrency": c.SingleConcurrency, "single-concurrency-high": c.SingleConcurrencyHigh, "e2e-batch": c.E2EBatch, "e2e-concurrency": c.E2EConcurrency, "signed-rounds": c.SignedRounds}
	for name, v := range pos {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %d", name, v))
		}
	}
	for name, d := range map[string]time.Duration{"raw-duration": c.RawDuration, "batch-duration": c.BatchDuration,
		"single-duration": c.SingleDuration, "e2e-duration": c.E2EDuration, "poll-interval": c.PollInterval, "drain-timeout": c.DrainTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %s", name, d))
		}
	}
	if c.DupRatio < 0 || c.DupRatio >= 1 {
		errs = append(errs, fmt.Errorf("dup-ratio: must be in [0, 1), got %g", c.DupRatio))
	}
	if c.E2ERateHigh < 0 {
		errs = append(errs, fmt.Errorf("e2e-rate-high: must not be negative, got %g", c.E2ERateHigh))
	}
	if c.E2ERate <= 0 {
		errs = append(errs, fmt.Errorf("e2e-rate: must be positive, got %g", c.E2ERate))
	}
	return errors.Join(errs...)
}

// Run runs the benchmark, writes the report and returns it; the error is
// set when the run could not complete or the verification failed.
func Run(ctx context.Context, cfg Config, logf func(string, ...any)) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b, err := newRun(ctx, cfg, logf)
	if err != nil {
		return nil, err
	}
	defer b.cleanup()
	rep, runErr := b.run(ctx)
	if rep == nil {
		return nil, runErr
	}
	path := filepath.Join(cfg.ResultsDir, rep.StartedAt.UTC().Format("2006-01-02T15-04-05Z")+".json")
	if err := writeJSON(path, rep); err != nil {
		return rep, errors.Join(runErr, err)
	}
	rep.Path = path
	return rep, runErr
}

func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}
