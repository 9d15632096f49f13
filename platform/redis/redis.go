// Package redis opens the go-redis/v9 client used for rate limits and
// "accepted" markers. A secured Redis (TLS on tls-port, ACL users) is the
// redis-tls* block (platform/secure) plus redis-username and redis-password.
package redis

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pulsestream/pulsestream/platform/secure"
)

// Config is the Redis connection.
type Config struct {
	Addr         string
	Username     string
	Password     string
	DB           int
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	PoolSize     int
	TLS          secure.TLS
}

// RegisterFlags defines the redis-* flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "redis-addr", "127.0.0.1:16379", "Redis address host:port")
	fs.StringVar(&c.Username, "redis-username", "", "Redis ACL user (empty: the default user, or requirepass with redis-password alone)")
	fs.StringVar(&c.Password, "redis-password", "", "Redis password")
	fs.IntVar(&c.DB, "redis-db", 0, "Redis database number")
	fs.DurationVar(&c.DialTimeout, "redis-dial-timeout", 2*time.Second, "Redis connect timeout")
	fs.DurationVar(&c.ReadTimeout, "redis-read-timeout", 500*time.Millisecond, "Redis read timeout; a slow Redis must not stall ingestion")
	fs.DurationVar(&c.WriteTimeout, "redis-write-timeout", 500*time.Millisecond, "Redis write timeout")
	fs.IntVar(&c.PoolSize, "redis-pool-size", 64, "Redis connection pool size")
	c.TLS.RegisterFlags(fs, "redis", "Redis server")
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
	if c.Username != "" && c.Password == "" {
		return errors.New("redis-password: required with redis-username")
	}
	return c.TLS.Validate()
}

// Open returns a client; it connects lazily, so a Redis outage at start is
// seen by readiness and callers, not as a crash. The error is a bad TLS
// setting (a file that cannot be read).
func Open(cfg Config) (*goredis.Client, error) {
	host, _, _ := net.SplitHostPort(cfg.Addr)
	tc, err := cfg.TLS.ForHost(host)
	if err != nil {
		return nil, err
	}
	return goredis.NewClient(&goredis.Options{
		Addr:         cfg.Addr,
		TLSConfig:    tc,
		Username:     cfg.Username,
		Password:     cfg.Password,
		DB:           cfg.DB,
		DialTimeout:  cfg.DialTimeout,
		ReadTimeout:  cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout,
		PoolSize:     cfg.PoolSize,
	}), nil
}

// Probe is the start-time access check of rdb (secure.Check): a Redis that
// refuses the TLS handshake or the login stops the service, naming the
// setting. Over TLS the check first completes one round trip of its own
// (tlsRoundTrip), then PINGs through rdb (the login).
func Probe(rdb *goredis.Client, cfg Config) secure.Probe {
	return secure.Probe{
		Name:    "redis",
		Server:  cfg.Addr,
		Timeout: cfg.DialTimeout + cfg.ReadTimeout,
		Ping: func(ctx context.Context) error {
			if err := tlsRoundTrip(ctx, rdb.Options()); err != nil {
				return err
			}
			return rdb.Ping(ctx).Err()
		},
		Refused: func(err error) string {
			msg := err.Error()
			switch {
			case strings.HasPrefix(msg, "WRONGPASS"), strings.HasPrefix(msg, "NOAUTH"):
				return "redis-username and redis-password"
			case strings.HasPrefix(msg, "NOPERM"):
				return "redis-username"
			}
			return cfg.TLS.TLSSetting(err)
		},
	}
}

// tlsRoundTrip dials the server as the client does (its own dialer: TCP and
// the TLS handshake) and sends an inline PING (secure.FirstAnswer: +PONG, or
// -NOAUTH before the login, or the alert of a refused client certificate,
// which go-redis itself may meet as a bare reset and retry until the probe's
// time is spent); nothing without TLS.
func tlsRoundTrip(ctx context.Context, opt *goredis.Options) error {
	if opt.TLSConfig == nil {
		return nil
	}
	conn, err := opt.Dialer(ctx, opt.Network, opt.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	return secure.FirstAnswer(ctx, conn, []byte("PING\r\n"))
}
