// Package postgres opens the pgx/v5 connection pool every service uses.
//
// TLS: postgres-tls* (platform/secure) is the same TLS block as every other
// client's, and with postgres-tls on the connection is verify-full (the
// server's certificate chain and host name are checked; no plaintext
// fallback). The URL's own sslmode/sslrootcert/sslcert/sslkey are then
// refused, so one place says how the connection is secured; with postgres-tls
// off they work as pgx documents them.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/pulsestream/pulsestream/platform/secure"
)

// Config is the PostgreSQL connection.
type Config struct {
	URL         string
	MaxConns    int
	DialTimeout time.Duration
	TLS         secure.TLS
}

// RegisterFlags defines the postgres-* flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "postgres-url", "postgres://pulsestream:pulsestream@127.0.0.1:15432/pulsestream?sslmode=disable", "PostgreSQL connection URL")
	fs.IntVar(&c.MaxConns, "postgres-max-conns", 16, "largest number of pooled PostgreSQL connections")
	fs.DurationVar(&c.DialTimeout, "postgres-dial-timeout", 5*time.Second, "PostgreSQL connect timeout")
	c.TLS.RegisterFlags(fs, "postgres", "PostgreSQL server")
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
	if c.TLS.Enabled {
		for _, p := range []string{"sslmode", "sslrootcert", "sslcert", "sslkey"} {
			if strings.Contains(c.URL, p+"=") {
				return fmt.Errorf("postgres-url: sets %s while postgres-tls is on; drop the URL's ssl* parameters (postgres-tls-* configure TLS)", p)
			}
		}
	}
	return c.TLS.Validate()
}

// applyTLS makes every host of cc verify-full with the postgres-tls block,
// dropping pgx's plaintext fallbacks (its default sslmode is prefer).
func (c *Config) applyTLS(cc *pgconn.Config) error {
	if !c.TLS.Enabled {
		return nil
	}
	tc, err := c.TLS.ForHost(cc.Host)
	if err != nil {
		return err
	}
	cc.TLSConfig = tc
	var fallbacks []*pgconn.FallbackConfig
	for _, fb := range cc.Fallbacks {
		if fb.TLSConfig == nil {
			continue
		}
		if fb.TLSConfig, err = c.TLS.ForHost(fb.Host); err != nil {
			return err
		}
		fallbacks = append(fallbacks, fb)
	}
	cc.Fallbacks = fallbacks
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
	if err := cfg.applyTLS(&pc.ConnConfig.Config); err != nil {
		return nil, err
	}
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
	if err := cfg.applyTLS(&cc.Config); err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cc)
	db.SetMaxOpenConns(cfg.MaxConns)
	return db, nil
}

// Server is host:port of the URL, for messages (the URL may hold a password).
func (c *Config) Server() string {
	cc, err := pgconn.ParseConfig(c.URL)
	if err != nil {
		return "(unparsable postgres-url)"
	}
	return net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port)))
}

// Probe is the start-time access check (secure.Check): a PostgreSQL that
// refuses the TLS handshake or the login stops the service, naming the
// setting. ping is the pool's or the database's Ping.
func Probe(ping func(context.Context) error, cfg Config) secure.Probe {
	return secure.Probe{
		Name:    "postgres",
		Server:  cfg.Server(),
		Timeout: cfg.DialTimeout,
		Ping:    ping,
		Refused: func(err error) string {
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				switch {
				case pe.Code == "28P01": // invalid_password
					return "postgres-url (user and password)"
				case pe.Code == "28000" && !cfg.TLS.Enabled: // e.g. pg_hba.conf allows only hostssl
					return "postgres-tls"
				case pe.Code == "28000":
					return "postgres-url (user)"
				}
			}
			return cfg.TLS.TLSSetting(err)
		},
	}
}
