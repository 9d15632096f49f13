#!/usr/bin/env bash
# Local defaults for every address PulseStream and its tests use.
# Each one can be overridden from the environment, so the same tests run
# against external servers (set the variable before calling make).
PULSESTREAM_ROOT="${PULSESTREAM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export PULSESTREAM_ROOT
export PULSESTREAM_LOCAL="${PULSESTREAM_LOCAL:-$PULSESTREAM_ROOT/.local}"

# PostgreSQL (Debian package, started by scripts/postgres.sh)
export PULSESTREAM_PG_PORT="${PULSESTREAM_PG_PORT:-15432}"
export PULSESTREAM_POSTGRES_URL="${PULSESTREAM_POSTGRES_URL:-postgres://pulsestream:pulsestream@127.0.0.1:${PULSESTREAM_PG_PORT}/pulsestream?sslmode=disable}"
# Redis (Debian package, started by scripts/redis.sh)
export PULSESTREAM_REDIS_PORT="${PULSESTREAM_REDIS_PORT:-16379}"
export PULSESTREAM_REDIS_ADDR="${PULSESTREAM_REDIS_ADDR:-127.0.0.1:${PULSESTREAM_REDIS_PORT}}"
# Apache Kafka 4.x, KRaft, jars from Maven Central (scripts/kafka.sh)
export PULSESTREAM_KAFKA_PORT="${PULSESTREAM_KAFKA_PORT:-19092}"
export PULSESTREAM_KAFKA_CONTROLLER_PORT="${PULSESTREAM_KAFKA_CONTROLLER_PORT:-19093}"
export PULSESTREAM_KAFKA_BROKERS="${PULSESTREAM_KAFKA_BROKERS:-127.0.0.1:${PULSESTREAM_KAFKA_PORT}}"
# A replicated 3-node cluster (scripts/kafka-cluster.sh; not started by make dev/test):
# one broker and one controller port per node
export PULSESTREAM_KAFKA_CLUSTER_PORTS="${PULSESTREAM_KAFKA_CLUSTER_PORTS:-19192,19194,19196}"
export PULSESTREAM_KAFKA_CLUSTER_CONTROLLER_PORTS="${PULSESTREAM_KAFKA_CLUSTER_CONTROLLER_PORTS:-19193,19195,19197}"
# ClickHouse engine (chDB behind a ClickHouse-compatible HTTP endpoint, scripts/clickhouse.sh)
export PULSESTREAM_CLICKHOUSE_PORT="${PULSESTREAM_CLICKHOUSE_PORT:-18123}"
export PULSESTREAM_CLICKHOUSE_ADDR="${PULSESTREAM_CLICKHOUSE_ADDR:-127.0.0.1:${PULSESTREAM_CLICKHOUSE_PORT}}"
export PULSESTREAM_CLICKHOUSE_PROTOCOL="${PULSESTREAM_CLICKHOUSE_PROTOCOL:-http}"
export PULSESTREAM_CLICKHOUSE_DATABASE="${PULSESTREAM_CLICKHOUSE_DATABASE:-pulsestream}"
export PULSESTREAM_TEST_INTEGRATION="${PULSESTREAM_TEST_INTEGRATION:-1}"
