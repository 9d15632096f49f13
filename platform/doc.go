// Package platform is the service-agnostic plumbing shared by the PulseStream
// services: configuration, logging, metrics and health endpoints, the gin
// engine every HTTP API is built on (httpapi), the run group (runner), and
// client constructors for Kafka, PostgreSQL, Redis and ClickHouse.
package platform
