package app

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pulsestream/pulsestream/platform/clickhouse"
	"github.com/pulsestream/pulsestream/platform/httpserver"
	"github.com/pulsestream/pulsestream/platform/kafka"
	"github.com/pulsestream/pulsestream/platform/logging"
	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/platform/postgres"
	"github.com/pulsestream/pulsestream/platform/runner"
	"github.com/pulsestream/pulsestream/platform/tracing"
	"github.com/pulsestream/pulsestream/schemas"
	"github.com/pulsestream/pulsestream/services/projector/internal/chsink"
	"github.com/pulsestream/pulsestream/services/projector/internal/retention"
)

// Sink names.
const (
	SinkPostgres   = "postgres"
	SinkClickHouse = "clickhouse"
)

// Config is every setting of the projector process.
type Config struct {
	Log        logging.Config
	Kafka      kafka.Config
	Postgres   postgres.Config
	ClickHouse clickhouse.Config
	HTTP       httpserver.Config
	Runner     runner.Config
	Health     observe.HealthConfig
	Projector  ProjectorConfig
	Replay     ReplayConfig
	Tracing    tracing.Config
	Retention  retention.Config
}

// Components lists the component configs for config.Parse.
func (c *Config) Components() []any {
	return []any{&c.Log, &c.Kafka, &c.Postgres, &c.ClickHouse, httpFlags{&c.HTTP}, &c.Runner, &c.Health, &c.Projector, &c.Replay, &c.Tracing, &c.Retention}
}

type httpFlags struct{ c *httpserver.Config }

func (h httpFlags) RegisterFlags(fs *flag.FlagSet) {
	h.c.RegisterFlags(fs, "projector", "127.0.0.1:8082")
}
func (h httpFlags) Validate() error { return h.c.Validate() }

// ProjectorConfig tunes the consumers.
type ProjectorConfig struct {
	Sinks           string
	GroupPostgres   string
	GroupClickHouse string
	BatchSize       int
	KnownKeys       int
	Linger          time.Duration
	WriteTimeout    time.Duration
	BackoffMin      time.Duration
	BackoffMax      time.Duration
	LagInterval     time.Duration
	SessionTimeout  time.Duration
}

// writeParallelism is how many partitions of one batch a sink writes at once
// (measured: PostgreSQL 41k -> 44-49k records/s with 3). ClickHouse's local
// engine runs one query at a time, and every part costs it one existence
// lookup (each reading the key columns of about every granule the batch
// touches) and one insert (one more part to merge): it writes the whole batch
// as one part. Not a flag yet: every flag must also be rendered by the Helm
// chart (deploy's drift test).
func writeParallelism(sink string) int {
	if sink == SinkClickHouse {
		return 1
	}
	return 3
}

// RegisterFlags defines the projector-* flags.
func (c *ProjectorConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Sinks, "projector-sinks", "postgres,clickhouse", "read models this process writes: postgres, clickhouse or both (comma-separated)")
	fs.StringVar(&c.GroupPostgres, "projector-group-postgres", schemas.DefaultGroupPostgres, "consumer group of the PostgreSQL read model")
	fs.StringVar(&c.GroupClickHouse, "projector-group-clickhouse", schemas.DefaultGroupClickHouse, "consumer group of the ClickHouse read model")
	fs.IntVar(&c.BatchSize, "projector-batch-size", 20000, "most records written to a store in one batch")
	fs.IntVar(&c.KnownKeys, "projector-clickhouse-known-keys", chsink.DefaultKnownMax,
		"most stored keys the ClickHouse sink mirrors in memory (8-byte hashes, ~10-20 bytes each) so that new keys need no existence lookup; a larger table is looked up key by key; 0 never mirrors")
	fs.DurationVar(&c.Linger, "projector-linger", 100*time.Millisecond, "how long a batch waits for more records once it has one")
	fs.DurationVar(&c.WriteTimeout, "projector-store-timeout", 30*time.Second, "time one batch write to a store may take before it is retried")
	fs.DurationVar(&c.BackoffMin, "projector-backoff-min", 200*time.Millisecond, "first retry delay after a transient store error")
	fs.DurationVar(&c.BackoffMax, "projector-backoff-max", 10*time.Second, "longest retry delay after transient store errors")
	fs.DurationVar(&c.SessionTimeout, "projector-session-timeout", 45*time.Second, "consumer group session timeout: how long a dead projector holds its partitions (broker minimum is usually 6s)")
	fs.DurationVar(&c.LagInterval, "projector-lag-interval", 10*time.Second, "how often consumer lag is measured for /metrics")
}

// SinkList returns the selected sinks.
func (c *ProjectorConfig) SinkList() []string {
	var out []string
	for _, s := range strings.Split(c.Sinks, ",") {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Validate names a bad projector setting.
func (c *ProjectorConfig) Validate() error {
	sinks := c.SinkList()
	if len(sinks) == 0 {
		return errors.New("projector-sinks: at least one of postgres, clickhouse")
	}
	for _, s := range sinks {
		if s != SinkPostgres && s != SinkClickHouse {
			return fmt.Errorf("projector-sinks: unknown sink %q (postgres, clickhouse)", s)
		}
	}
	switch {
	case c.GroupPostgres == "":
		return errors.New("projector-group-postgres: must not be empty")
	case c.GroupClickHouse == "":
		return errors.New("projector-group-clickhouse: must not be empty")
	case c.GroupPostgres == c.GroupClickHouse:
		return errors.New("projector-group-clickhouse: must differ from projector-group-postgres (each read model tracks its own position)")
	case c.BatchSize < 1:
		return fmt.Errorf("projector-batch-size: must be at least 1, got %d", c.BatchSize)
	case c.KnownKeys < 0:
		return fmt.Errorf("projector-clickhouse-known-keys: must not be negative, got %d", c.KnownKeys)
	case c.Linger < 0:
		return fmt.Errorf("projector-linger: must not be negative, got %s", c.Linger)
	case c.WriteTimeout <= 0:
		return fmt.Errorf("projector-store-timeout: must be positive, got %s", c.WriteTimeout)
	case c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin:
		return fmt.Errorf("projector-backoff-min/max: need 0 < min <= max, got %s and %s", c.BackoffMin, c.BackoffMax)
	case c.SessionTimeout < time.Second:
		return fmt.Errorf("projector-session-timeout: must be at least 1s, got %s", c.SessionTimeout)
	case c.LagInterval <= 0:
		return fmt.Errorf("projector-lag-interval: must be positive, got %s", c.LagInterval)
	}
	return nil
}

// ReplayConfig is the `projector replay` command: rebuild one read model.
type ReplayConfig struct {
	Enabled       bool // set by main for the replay command
	Sink          string
	FromTimestamp string
	Drop          bool
}

// RegisterFlags defines the replay flags; only `projector replay` (Enabled
// set before parsing) has them, so the long-running command refuses --drop.
func (c *ReplayConfig) RegisterFlags(fs *flag.FlagSet) {
	if !c.Enabled {
		return
	}
	fs.StringVar(&c.Sink, "sink", "", "replay: the read model to rebuild (postgres or clickhouse)")
	fs.StringVar(&c.FromTimestamp, "from-timestamp", "", "replay: start at the first record at or after this RFC 3339 time (default: the start of the topic)")
	fs.BoolVar(&c.Drop, "drop", false, "replay: empty the read model's tables before replaying")
}

// Validate names a bad replay setting.
func (c *ReplayConfig) Validate() error {
	if !c.Enabled {
		return nil
	}
	if c.Sink != SinkPostgres && c.Sink != SinkClickHouse {
		return fmt.Errorf("sink: must be postgres or clickhouse, got %q", c.Sink)
	}
	if c.FromTimestamp != "" {
		if _, err := time.Parse(time.RFC3339Nano, c.FromTimestamp); err != nil {
			return fmt.Errorf("from-timestamp: %q is not RFC 3339", c.FromTimestamp)
		}
	}
	return nil
}

// From returns the replay start time (zero: the start of the topic).
func (c *ReplayConfig) From() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, c.FromTimestamp)
	return t
}
