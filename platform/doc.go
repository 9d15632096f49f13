// Package platform is the service-agnostic plumbing shared by the PulseStream
// services: configuration, logging, metrics and health endpoints, the gin
// engine every HTTP API is built on (httpapi), the run group (runner), and
// client constructors for Kafka, PostgreSQL, Redis and ClickHouse with the TLS
// block and start-time access check they share (secure).
//
// It holds no domain code and no test support: tenants and API keys are the
// tenancy module, test helpers the testkit module (tests/modgraph keeps the
// modules' requirement graph free of cycles).
package platform
