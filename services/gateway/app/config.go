// Package app wires the gateway: one Config made of the component configs
// and one New that builds every dependency from it.
package app

import (
	"errors"
	"flag"

	"github.com/pulsestream/pulsestream/platform/httpserver"
	"github.com/pulsestream/pulsestream/platform/kafka"
	"github.com/pulsestream/pulsestream/platform/logging"
	"github.com/pulsestream/pulsestream/platform/observe"
	"github.com/pulsestream/pulsestream/platform/postgres"
	"github.com/pulsestream/pulsestream/platform/redis"
	"github.com/pulsestream/pulsestream/platform/runner"
	"github.com/pulsestream/pulsestream/platform/tracing"
	"github.com/pulsestream/pulsestream/services/gateway/erasure"
	"github.com/pulsestream/pulsestream/services/gateway/ingest"
	"github.com/pulsestream/pulsestream/services/gateway/outcomes"
	"github.com/pulsestream/pulsestream/services/gateway/quarantine"
	"github.com/pulsestream/pulsestream/services/gateway/schemacheck"
	"github.com/pulsestream/pulsestream/services/gateway/signature"
	"github.com/pulsestream/pulsestream/tenancy"
)

// Config is every setting of the gateway.
type Config struct {
	HTTP       httpserver.Config
	Log        logging.Config
	Runner     runner.Config
	Kafka      kafka.Config
	Producer   ingest.ProducerConfig
	Ingest     ingest.Config
	Redis      redis.Config
	Postgres   postgres.Config
	Erasure    erasure.Config
	Auth       tenancy.Config
	Signature  signature.Config
	Health     observe.HealthConfig
	Schemas    schemacheck.Config
	Quarantine quarantine.Config
	Tracing    tracing.Config
	Outcomes   outcomes.Config
}

// RegisterFlags defines every flag of the gateway.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.HTTP.RegisterFlags(fs, "gateway", "127.0.0.1:8080")
	c.Log.RegisterFlags(fs)
	c.Runner.RegisterFlags(fs)
	c.Kafka.RegisterFlags(fs)
	c.Producer.RegisterFlags(fs)
	c.Ingest.RegisterFlags(fs)
	c.Redis.RegisterFlags(fs)
	c.Postgres.RegisterFlags(fs)
	c.Erasure.RegisterFlags(fs)
	c.Auth.RegisterFlags(fs)
	c.Signature.RegisterFlags(fs)
	c.Health.RegisterFlags(fs)
	c.Schemas.RegisterFlags(fs)
	c.Quarantine.RegisterFlags(fs)
	c.Tracing.RegisterFlags(fs)
	c.Outcomes.RegisterFlags(fs)
}

// Validate names every bad setting.
func (c *Config) Validate() error {
	errs := []error{c.HTTP.Validate(), c.Log.Validate(), c.Runner.Validate(), c.Kafka.Validate(), c.Producer.Validate(),
		c.Ingest.Validate(), c.Redis.Validate(), c.Postgres.Validate(), c.Erasure.Validate(), c.Auth.Validate(), c.Signature.Validate(), c.Health.Validate(),
		c.Schemas.Validate(), c.Quarantine.Validate(), c.Tracing.Validate(), c.Outcomes.Validate()}
	return errors.Join(errs...)
}

// Defaults returns a Config holding every flag's default, for tests.
func Defaults() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("defaults", flag.ContinueOnError))
	return c
}
