// Package e2e holds end-to-end tests of the three PulseStream binaries as
// they run in production: gateway, projector and query built from their main
// packages, started as processes against the real PostgreSQL, Redis, Kafka
// and ClickHouse engine (`make infra`), and driven only through their HTTP
// APIs. Each test uses its own topic, consumer groups, Redis prefix and
// tenant, so it shares the servers with other tests without sharing data.
package e2e
