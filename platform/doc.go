// Package platform is the service-agnostic plumbing shared by the PulseStream
// services: configuration, logging, metrics and health endpoints, the run group,
// and client constructors for Kafka, PostgreSQL, Redis and ClickHouse.
package platform
