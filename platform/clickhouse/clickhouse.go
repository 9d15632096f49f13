// Package clickhouse opens the clickhouse-go/v2 connection the PulseStream
// services use for the ClickHouse read model (events and rollups).
//
// # Native or HTTP
//
// clickhouse-go speaks two protocols, chosen with clickhouse-protocol:
//
//   - native: ClickHouse's TCP protocol (port 9000 by convention), with LZ4
//     block compression. The usual choice against a real ClickHouse server.
//   - http: the HTTP interface (port 8123 by convention). Queries and INSERT
//     data travel as POST requests; results come back in the Native format.
//     This is the default, because it is the only protocol the local engine
//     speaks. Compression is off on this path (on loopback it costs more than
//     it saves, and the local engine does not implement ClickHouse's LZ4/ZSTD
//     block framing over HTTP).
//
// The API (driver.Conn: Exec, Query, PrepareBatch, ...) is the same for both,
// so code and tests do not care which one runs underneath.
//
// # The local engine
//
// clickhouse-go v2.51 expects ClickHouse 25.8 or newer, and no package source
// this project installs from ships such a server. For development and tests,
// scripts/clickhouse.sh runs tools/chdb-server instead: the PyPI package chdb
// (ClickHouse 26.x compiled as an in-process library) behind a small
// ClickHouse-compatible HTTP endpoint on 127.0.0.1:18123, with its data under
// .local/clickhouse. It is the real ClickHouse engine (MergeTree,
// ReplacingMergeTree, FINAL, the SQL dialect and error messages), but one
// process serving one query at a time; see tools/chdb-server/README.md for
// what its HTTP front end does not do. Point clickhouse-addr at a real server
// (with clickhouse-protocol=native if you like) and nothing else changes.
//
// # Users and TLS
//
// clickhouse-username and clickhouse-password log in on both protocols
// (HTTP: basic auth, or X-ClickHouse-User/-Key headers over TLS).
// clickhouse-tls* (platform/secure) turns on TLS for either protocol: https
// for http (ClickHouse's port 8443 by convention), TLS for native (9440).
package clickhouse

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pulsestream/pulsestream/platform/secure"
)

// Protocols accepted by clickhouse-protocol.
const (
	ProtocolHTTP   = "http"
	ProtocolNative = "native"
)

// Config is the ClickHouse connection. The flags map to PULSESTREAM_CLICKHOUSE_*
// environment variables (clickhouse-addr is PULSESTREAM_CLICKHOUSE_ADDR).
type Config struct {
	// Addr is host:port, or several separated by commas (tried in order).
	Addr         string
	Protocol     string
	Database     string
	Username     string
	Password     string
	DialTimeout  time.Duration
	MaxOpenConns int
	TLS          secure.TLS
}

// RegisterFlags defines the clickhouse-* flags with defaults for the local engine.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "clickhouse-addr", "127.0.0.1:18123",
		"ClickHouse host:port (comma-separated for several); the HTTP port for clickhouse-protocol=http")
	fs.StringVar(&c.Protocol, "clickhouse-protocol", ProtocolHTTP,
		`ClickHouse protocol: "http" (the local chDB engine speaks only this) or "native" (TCP)`)
	fs.StringVar(&c.Database, "clickhouse-database", "pulsestream", "ClickHouse database holding the read model")
	fs.StringVar(&c.Username, "clickhouse-username", "default", "ClickHouse user")
	fs.StringVar(&c.Password, "clickhouse-password", "", "ClickHouse password")
	fs.DurationVar(&c.DialTimeout, "clickhouse-dial-timeout", 5*time.Second, "ClickHouse connect timeout")
	fs.IntVar(&c.MaxOpenConns, "clickhouse-max-open-conns", 10, "largest number of open ClickHouse connections")
	c.TLS.RegisterFlags(fs, "clickhouse", "ClickHouse server")
}

// Validate names the first bad ClickHouse setting.
func (c *Config) Validate() error {
	if _, err := c.addrs(); err != nil {
		return err
	}
	switch c.Protocol {
	case ProtocolHTTP, ProtocolNative:
	default:
		return fmt.Errorf(`clickhouse-protocol: must be "http" or "native", got %q`, c.Protocol)
	}
	if strings.TrimSpace(c.Database) == "" {
		return errors.New("clickhouse-database: must not be empty")
	}
	if c.DialTimeout <= 0 {
		return fmt.Errorf("clickhouse-dial-timeout: must be positive, got %s", c.DialTimeout)
	}
	if c.MaxOpenConns < 1 {
		return fmt.Errorf("clickhouse-max-open-conns: must be at least 1, got %d", c.MaxOpenConns)
	}
	return c.TLS.Validate()
}

func (c *Config) addrs() ([]string, error) {
	if strings.TrimSpace(c.Addr) == "" {
		return nil, errors.New("clickhouse-addr: must not be empty")
	}
	var out []string
	for _, a := range strings.Split(c.Addr, ",") {
		a = strings.TrimSpace(a)
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("clickhouse-addr: %q is not host:port", a)
		}
		out = append(out, a)
	}
	return out, nil
}

// Open builds the connection pool without waiting for the server, like
// postgres.Open: a service starts while ClickHouse is still coming up and
// reports it through its readiness check (a conn.Ping fails while the
// server does not answer).
func Open(cfg Config) (driver.Conn, error) {
	opts, err := cfg.Options()
	if err != nil {
		return nil, err
	}
	conn, err := ch.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: open: %w", cfg.where(), err)
	}
	return conn, nil
}

// OpenDB is Open for database/sql users (the migrations runner).
func OpenDB(cfg Config) (*sql.DB, error) {
	opts, err := cfg.Options()
	if err != nil {
		return nil, err
	}
	return ch.OpenDB(opts), nil
}

// Options are the clickhouse-go options the settings make.
func (c *Config) Options() (*ch.Options, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	addrs, _ := c.addrs()
	// ServerName stays empty unless set: crypto/tls and net/http fill in the
	// host of each address dialed.
	tc, err := c.TLS.Config()
	if err != nil {
		return nil, err
	}
	opts := &ch.Options{
		Addr: addrs,
		TLS:  tc,
		Auth: ch.Auth{
			Database: c.Database,
			Username: c.Username,
			Password: c.Password,
		},
		DialTimeout:  c.DialTimeout,
		MaxOpenConns: c.MaxOpenConns,
		MaxIdleConns: min(c.MaxOpenConns, 5),
		ClientInfo: ch.ClientInfo{Products: []struct {
			Name    string
			Version string
		}{{Name: "pulsestream", Version: "1"}}},
	}
	switch c.Protocol {
	case ProtocolNative:
		opts.Protocol = ch.Native
		opts.Compression = &ch.Compression{Method: ch.CompressionLZ4}
	default:
		opts.Protocol = ch.HTTP
	}
	return opts, nil
}

// Probe is the start-time access check of conn (secure.Check): a ClickHouse
// that refuses the TLS handshake or the login stops the service, naming the
// setting.
func Probe(ping func(context.Context) error, cfg Config) secure.Probe {
	return secure.Probe{
		Name:    "clickhouse",
		Server:  cfg.scheme() + "://" + cfg.Addr,
		Timeout: cfg.DialTimeout,
		Ping: func(ctx context.Context) error {
			if err := cfg.httpsRoundTrip(ctx); err != nil {
				return err
			}
			return ping(ctx)
		},
		Refused: func(err error) string {
			var ex *ch.Exception
			if errors.As(err, &ex) {
				switch ex.Code {
				case 516, 192, 193: // AUTHENTICATION_FAILED, UNKNOWN_USER, WRONG_PASSWORD
					return "clickhouse-username and clickhouse-password"
				}
			}
			return cfg.TLS.TLSSetting(err)
		},
	}
}

// httpsRoundTrip sends GET /ping to the first address over HTTPS as the
// driver connects (secure.DialFirstAnswer: a client certificate the server
// refuses after a TLS 1.3 handshake is named, not met as a bare reset);
// nothing for other protocols.
func (c *Config) httpsRoundTrip(ctx context.Context) error {
	if !c.TLS.Enabled || c.Protocol != ProtocolHTTP {
		return nil
	}
	tc, err := c.TLS.Config()
	if err != nil {
		return err
	}
	addrs, _ := c.addrs()
	if len(addrs) == 0 {
		return nil
	}
	host, _, err := net.SplitHostPort(addrs[0])
	if err != nil {
		return err
	}
	return secure.DialFirstAnswer(ctx, addrs[0], tc, []byte("GET /ping HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n"))
}

// scheme names the protocol and whether it runs over TLS, for messages.
func (c *Config) scheme() string {
	switch {
	case c.TLS.Enabled && c.Protocol == ProtocolHTTP:
		return "https"
	case c.TLS.Enabled:
		return c.Protocol + "+tls"
	}
	return c.Protocol
}

func (c *Config) where() string {
	return fmt.Sprintf("clickhouse %s://%s database %q", c.scheme(), c.Addr, c.Database)
}
