#!/usr/bin/env bash
# make bench: builds the binaries, then runs tools/loadgen's whole benchmark
# against the local infrastructure (own gateway/projector/query, databases,
# topics and consumer groups, removed at the end). Extra arguments go to
# `loadgen bench` (e.g. --batch-duration 30s); MICRO=0 skips the Go
# micro-benchmarks of the hot paths; QUERY=0 skips the query service's
# search/stats benchmarks (about 40 s, 1M rows loaded once).
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

echo "== end-to-end benchmark"
exec bin/loadgen bench "$@"
