package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ClickHouseConfig is the ClickHouse connection. Stand-in until
// platform/clickhouse lands (same shape: Config + Open(ctx, cfg)).
type ClickHouseConfig struct {
	Addr        string
	Database    string
	Username    string
	Password    string
	Protocol    string
	DialTimeout time.Duration
}

// RegisterFlags defines the clickhouse-* flags.
func (c *ClickHouseConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "clickhouse-addr", "127.0.0.1:18123", "ClickHouse address (host:port)")
	fs.StringVar(&c.Database, "clickhouse-database", "pulsestream", "ClickHouse database")
	fs.StringVar(&c.Username, "clickhouse-username", "default", "ClickHouse user")
	fs.StringVar(&c.Password, "clickhouse-password", "", "ClickHouse password")
	fs.StringVar(&c.Protocol, "clickhouse-protocol", "http", "ClickHouse protocol: http or native")
	fs.DurationVar(&c.DialTimeout, "clickhouse-dial-timeout", 5*time.Second, "ClickHouse connect timeout")
}

// Validate names a bad ClickHouse setting.
func (c *ClickHouseConfig) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("clickhouse-addr: must not be empty")
	case c.Database == "":
		return errors.New("clickhouse-database: must not be empty")
	case c.Protocol != "http" && c.Protocol != "native":
		return fmt.Errorf("clickhouse-protocol: must be http or native, got %q", c.Protocol)
	}
	return nil
}

// openClickHouse opens the driver connection (replaced by platform/clickhouse.Open).
func openClickHouse(_ context.Context, cfg ClickHouseConfig) (driver.Conn, error) {
	proto := clickhouse.HTTP
	if cfg.Protocol == "native" {
		proto = clickhouse.Native
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{cfg.Addr},
		Protocol:    proto,
		Auth:        clickhouse.Auth{Database: cfg.Database, Username: cfg.Username, Password: cfg.Password},
		DialTimeout: cfg.DialTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse %s: %w", cfg.Addr, err)
	}
	return conn, nil
}
