// Package testenv finds the real services integration tests run against.
//
// `make test` starts PostgreSQL, Redis, Kafka and the ClickHouse engine, exports
// their addresses (scripts/env.sh) and sets PULSESTREAM_TEST_INTEGRATION=1.
// Without that variable integration tests skip, so `make test-unit` needs no
// services; with it, a missing address is a test failure, never a silent skip.
package testenv

import (
	"os"
	"testing"
)

// Integration reports whether integration tests were asked for.
func Integration() bool { return os.Getenv("PULSESTREAM_TEST_INTEGRATION") == "1" }

// Require returns the value of the environment variable name, skipping the
// test when integration tests are off and failing it when the variable is unset.
func Require(tb testing.TB, name string) string {
	tb.Helper()
	if !Integration() {
		tb.Skip("integration test: run with `make test` (PULSESTREAM_TEST_INTEGRATION=1)")
	}
	v := os.Getenv(name)
	if v == "" {
		tb.Fatalf("%s is not set; `make test` exports it from scripts/env.sh", name)
	}
	return v
}

// PostgresURL is the PostgreSQL connection URL for integration tests.
func PostgresURL(tb testing.TB) string { return Require(tb, "PULSESTREAM_POSTGRES_URL") }

// RedisAddr is the Redis address for integration tests.
func RedisAddr(tb testing.TB) string { return Require(tb, "PULSESTREAM_REDIS_ADDR") }

// KafkaBrokers is the comma-separated Kafka seed broker list for integration tests.
func KafkaBrokers(tb testing.TB) string { return Require(tb, "PULSESTREAM_KAFKA_BROKERS") }

// ClickHouseAddr is the ClickHouse address for integration tests.
func ClickHouseAddr(tb testing.TB) string { return Require(tb, "PULSESTREAM_CLICKHOUSE_ADDR") }

// ClickHouseDatabase is the ClickHouse database integration tests use
// (PULSESTREAM_CLICKHOUSE_DATABASE, default "pulsestream").
func ClickHouseDatabase() string {
	if d := os.Getenv("PULSESTREAM_CLICKHOUSE_DATABASE"); d != "" {
		return d
	}
	return "pulsestream"
}

// ClickHouseProtocol is "http" or "native" (default "http", the local engine).
func ClickHouseProtocol() string {
	if p := os.Getenv("PULSESTREAM_CLICKHOUSE_PROTOCOL"); p != "" {
		return p
	}
	return "http"
}
