#!/usr/bin/env bash
# make bench: builds the binaries, then runs tools/loadgen's whole benchmark
# against the local infrastructure (own gateway/projector/query, databases,
# topics and consumer groups, removed at the end). Extra arguments go to
# `loadgen bench` (e.g. --batch-duration 30s); MICRO=0 skips the Go
# micro-benchmarks of the hot paths; QUERY=0 skips the query service's
# search/stats benchmarks (about 40 s, 1M rows loaded once); METERS=0 skips
# the meter queries (METER_EVENTS events of one tenant, default 10,000,000,
# loaded once into the ClickHouse engine; METER_BENCHTIME queries per case,
# default 20x, METER_EVENTS_BENCHTIME for the baseline parsing data at query
# time, default 3x; each query is bounded by a 1-minute timeout); CLIENT=0 skips
# the Go client's throughput (clients/go; CLIENT_EVENTS, default 1,000,000).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
make --no-print-directory build
go build -o bin/migrate ./migrations/cmd/migrate
go build -o bin/loadgen ./tools/loadgen

if [[ "${MICRO:-1}" != 0 ]]; then
  echo "== hot-path micro-benchmarks (-benchmem, short)"
  go test -run '^$' -bench 'DecodeValidateBatch1000|KeyDerivation|RecordEncode$' -benchmem -benchtime "${MICRO_BENCHTIME:-200ms}" \
    ./services/gateway/decode ./schemas
  go test -run '^$' -bench 'BatchBuild|DecodeBatch' -benchmem -benchtime "${MICRO_BENCHTIME:-200ms}" \
    ./services/projector/internal/chsink ./services/projector/internal/pgsink ./services/projector/internal/record
fi

if [[ "${QUERY:-1}" != 0 ]]; then
  echo "== query service: search over 1,000,000 events of one tenant (PostgreSQL), statistics (ClickHouse engine)"
  # shellcheck source=scripts/env.sh
  ( source scripts/env.sh && go test -run '^$' -bench 'SearchFirstPage|Stats' -benchtime "${QUERY_BENCHTIME:-20x}" ./services/query/internal/api )
fi

if [[ "${METERS:-1}" != 0 ]]; then
  echo "== meters: ${METER_EVENTS:-10000000} events of one tenant (ClickHouse engine), 30-day daily sum by model and unique_count, median and engine CPU"
  # from the values extracted at write time, then (the baseline, fewer
  # requests: about 12 s each at 10M) parsing data at query time
  ( source scripts/env.sh && export PULSESTREAM_BENCH_METER_EVENTS="${METER_EVENTS:-10000000}" &&
      go test -run '^$' -bench 'Meters/.*/source=extracted' -benchtime "${METER_BENCHTIME:-20x}" -timeout 30m ./services/query/internal/api &&
      go test -run '^$' -bench 'Meters/.*/source=events' -benchtime "${METER_EVENTS_BENCHTIME:-3x}" -timeout 30m ./services/query/internal/api )
fi

if [[ "${CLIENT:-1}" != 0 ]]; then
  echo "== Go client (clients/go): its ceiling against a canned gateway, then ${CLIENT_EVENTS:-1000000} events into a gateway of its own"
  go test -run '^$' -bench 'EnqueueToOutcome' -benchmem -benchtime "${CLIENT_BENCHTIME:-300000x}" ./clients/go
  PULSESTREAM_CLIENT_BENCH_EVENTS="${CLIENT_EVENTS:-1000000}" go test -count=1 -v -timeout 20m -run 'TestClientThroughputIntoGateway' ./tests/e2e \
    | grep -E '^(client-bench:|--- |ok|FAIL)'
fi

echo "== end-to-end benchmark"
exec bin/loadgen bench "$@"
