// Package redis opens the go-redis/v9 client used for rate limits and
// "accepted" markers.
package redis

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Config is the Redis connection.
type Config struct {
	Addr         string
	Password     string
	DB           int
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	PoolSize     int
}

// RegisterFlags defines the redis-* flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "redis-addr", "127.0.0.1:16379", "Redis address host:port")
	fs.StringVar(&c.Password, "redis-password", "", "Redis password")
	fs.IntVar(&c.DB, "redis-db", 0, "Redis database number")
	fs.DurationVar(&c.DialTimeout, "redis-dial-timeout", 2*time.Second, "Redis connect timeout")
	fs.DurationVar(&c.ReadTimeout, "redis-read-timeout", 500*time.Millisecond, "Redis read timeout; a slow Redis must not stall ingestion")
	fs.DurationVar(&c.WriteTimeout, "redis-write-timeout", 500*time.Millisecond, "Redis write timeout")
	fs.IntVar(&c.PoolSize, "redis-pool-size", 64, "Redis connection pool size")
}

// Validate names a bad Redis setting.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("redis-addr: %q is not host:port", c.Addr)
	}
	if c.DB < 0 {
		return errors.New("redis-db: must not be negative")
	}
	if c.PoolSize < 1 {
		return fmt.Errorf("redis-pool-size: must be at least 1, got %d", c.PoolSize)
	}
	return nil
}

// Open returns a client; it connects lazily, so a Redis outage at start is
// seen by readiness and callers, not as a crash.
func Open(cfg Config) *goredis.Client {
	return goredis.NewClient(&goredis.Options{
		Addr:         cfg.Addr,
		Password:     cfg.Password,
		DB:           cfg.DB,
		DialTimeout:  cfg.DialTimeout,
		ReadTimeout:  cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout,
		PoolSize:     cfg.PoolSize,
	})
}
