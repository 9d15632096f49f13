// Package e2e holds end-to-end tests of the PulseStream binaries as they run
// in production: gateway, projector and query built from their main packages,
// started as processes against the real PostgreSQL, Redis, Kafka and
// ClickHouse engine (`make infra`), and driven only through their HTTP APIs
// and command lines. Each test gets its own PostgreSQL schema, ClickHouse
// database, topic, consumer groups, Redis prefix and tenants (stack_test.go),
// so it shares the servers with other tests without sharing data: a replay
// with --drop empties only its own tables.
package e2e
