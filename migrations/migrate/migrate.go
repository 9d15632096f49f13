// Package migrate is the migrate command (migrations/cmd/migrate and the
// image's multi-call binary run Main): it applies PulseStream's versioned SQL
// to PostgreSQL and ClickHouse. The Helm chart runs `migrate up` as a pre-install/pre-upgrade
// hook and `make migrate` runs it locally.
//
//	migrate up      apply every pending migration to both databases (idempotent)
//	migrate status  print the applied and the latest version of each; exit 1 when behind
//
// Settings come from flags or PULSESTREAM_* variables (-print-settings lists them).
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/pulsestream/pulsestream/migrations"
	"github.com/pulsestream/pulsestream/platform/clickhouse"
	"github.com/pulsestream/pulsestream/platform/config"
	"github.com/pulsestream/pulsestream/platform/logging"
	"github.com/pulsestream/pulsestream/platform/postgres"
	"github.com/pulsestream/pulsestream/platform/secure"
)

// Config is every setting migrate reads.
type Config struct {
	Log        logging.Config
	Postgres   postgres.Config
	ClickHouse clickhouse.Config
	// ClickHouseSchema selects the ClickHouse migrations: single (one server)
	// or cluster (docs/scaling.md).
	ClickHouseSchema string
	Timeout          time.Duration
}

// RegisterFlags defines the flags of every component.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Log.RegisterFlags(fs)
	c.Postgres.RegisterFlags(fs)
	c.ClickHouse.RegisterFlags(fs)
	fs.StringVar(&c.ClickHouseSchema, "clickhouse-schema", migrations.SchemaSingle,
		"ClickHouse migrations to apply: single (one server) or cluster (ON CLUSTER '{cluster}', Replicated engines, Distributed tables; docs/scaling.md)")
	fs.DurationVar(&c.Timeout, "migrate-timeout", 5*time.Minute, "give up when both databases are not migrated within this time")
}

// Validate names the first bad setting.
func (c *Config) Validate() error {
	var errs []error
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("migrate-timeout: must be positive, got %s", c.Timeout))
	}
	if _, err := migrations.ClickHouseSchema(c.ClickHouseSchema); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(append(errs, c.Log.Validate(), c.Postgres.Validate(), c.ClickHouse.Validate())...)
}

const usage = "usage: migrate up|status [flags]; -print-settings lists the settings; -version prints the version"

// Main runs the migrate command line (args without the program name), writing
// its report to out, and returns the exit code.
func Main(args []string, out io.Writer) int {
	if len(args) == 1 && (args[0] == "-version" || args[0] == "--version") {
		fmt.Fprintln(out, config.VersionLine("migrate"))
		return 0
	}
	if len(args) == 0 || (args[0] != "up" && args[0] != "status") {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	var cfg Config
	if _, err := config.Parse("migrate", args[1:], &cfg); err != nil {
		return config.Exit("migrate", err)
	}
	logger := logging.New(os.Stderr, cfg.Log, "migrate")
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	behind, err := migrate(ctx, cfg, args[0] == "up", out, logger)
	switch {
	case err != nil:
		logger.Error(args[0], "err", err)
		return 1
	case behind:
		return 1
	}
	return 0
}

// migrate applies (up) or inspects each database in turn and prints one line
// per database; behind reports a database below its latest migration.
func migrate(ctx context.Context, cfg Config, up bool, out io.Writer, logger *slog.Logger) (behind bool, err error) {
	chTarget, err := migrations.ClickHouseSchema(cfg.ClickHouseSchema)
	if err != nil {
		return false, err
	}
	targets := []struct {
		target migrations.Target
		open   func() (*sql.DB, error)
		probe  func(*sql.DB) secure.Probe
	}{
		{migrations.Postgres, func() (*sql.DB, error) { return postgres.OpenDB(cfg.Postgres) },
			func(db *sql.DB) secure.Probe { return postgres.Probe(db.PingContext, cfg.Postgres) }},
		{chTarget, func() (*sql.DB, error) { return clickhouse.OpenDB(cfg.ClickHouse) },
			func(db *sql.DB) secure.Probe { return clickhouse.Probe(db.PingContext, cfg.ClickHouse) }},
	}
	for _, t := range targets {
		db, err := t.open()
		if err != nil {
			return false, err
		}
		// a refused certificate or login names its setting (an unreachable
		// server fails below, in the migration itself: no log line here)
		if err := secure.Check(ctx, nil, t.probe(db)); err != nil {
			_ = db.Close()
			return false, err
		}
		applied, latest, err := apply(ctx, db, t.target, up)
		_ = db.Close()
		if err != nil {
			return false, err
		}
		logger.Debug("migrated", "database", t.target.Name, "version", applied, "latest", latest)
		fmt.Fprintf(out, "%-10s version %d of %d\n", t.target.Name, applied, latest)
		behind = behind || applied < latest
	}
	return behind, nil
}

func apply(ctx context.Context, db *sql.DB, t migrations.Target, up bool) (applied, latest int64, err error) {
	if latest, err = migrations.Latest(db, t); err != nil {
		return 0, 0, err
	}
	if up {
		applied, err = migrations.Up(ctx, db, t)
	} else {
		applied, err = migrations.Version(ctx, db, t)
	}
	return applied, latest, err
}
