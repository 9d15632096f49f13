// Package postgres opens the pgx/v5 connection pool every service uses.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// Config is the PostgreSQL connection.
type Config struct {
	URL         string
	MaxConns    int
	DialTimeout time.Duration
}

// RegisterFlags defines the postgres-* flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "postgres-url", "postgres://pulsestream:pulsestream@127.0.0.1:15432/pulsestream?sslmode=disable", "PostgreSQL connection URL")
	fs.IntVar(&c.MaxConns, "postgres-max-conns", 16, "largest number of pooled PostgreSQL connections")
	fs.DurationVar(&c.DialTimeout, "postgres-dial-timeout", 5*time.Second, "PostgreSQL connect timeout")
}

// Validate names a bad PostgreSQL setting.
func (c *Config) Validate() error {
	if c.URL == "" {
		return errors.New("postgres-url: must not be empty")
	}
	if _, err := pgxpool.ParseConfig(c.URL); err != nil {
		return fmt.Errorf("postgres-url: %w", err)
	}
	if c.MaxConns < 1 {
		return fmt.Errorf("postgres-max-conns: must be at least 1, got %d", c.MaxConns)
	}
	return nil
}

// Open builds the pool. It does not wait for the server: readiness checks
// and callers see an unreachable database through Ping and their own queries,
// so a service can start while PostgreSQL is still coming up.
func Open(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres-url: %w", err)
	}
	pc.MaxConns = int32(cfg.MaxConns)
	pc.ConnConfig.ConnectTimeout = cfg.DialTimeout
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres pool: %w", err)
	}
	return pool, nil
}

// OpenDB is Open for database/sql users (the migrations runner): one
// connection at a time is all they need.
func OpenDB(cfg Config) (*sql.DB, error) {
	cc, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres-url: %w", err)
	}
	cc.ConnectTimeout = cfg.DialTimeout
	db := stdlib.OpenDB(*cc)
	db.SetMaxOpenConns(cfg.MaxConns)
	return db, nil
}
