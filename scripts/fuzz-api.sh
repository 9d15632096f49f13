#!/usr/bin/env bash
# fuzz-api.sh [MAX_EXAMPLES] — property-based testing of the gateway and query
# HTTP APIs from their OpenAPI documents (schemas/openapi/gateway.yaml,
# query.yaml) with Schemathesis, pinned and installed from PyPI into
# $PULSESTREAM_LOCAL/venv (the project's venv, beside chdb).
# It builds both services, runs them on free loopback ports against the
# running infrastructure (`make infra`) with a fresh tenant, topic and Redis
# prefix, and fails when any answer is a 5xx or does not match its document.
# MAX_EXAMPLES (default 50) bounds the cases per operation; `make fuzz-api`.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PULSESTREAM_ROOT"

ST_VERSION=4.32.5
VENV="$PULSESTREAM_LOCAL/venv"
MAX_EXAMPLES="${1:-50}"
RUN="fuzzapi-$(date +%s)-$RANDOM"
WORK="$PULSESTREAM_LOCAL/fuzz-api"
LOGS="$PULSESTREAM_LOCAL/logs"
mkdir -p "$WORK/bin"

ensure_schemathesis() { venv_package schemathesis "$ST_VERSION" "$LOGS/fuzz-api-pip.log"; }

# free_port: a loopback port below the ephemeral range that nothing listens on.
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 12000))
    port_open 127.0.0.1 "$p" || { echo "$p"; return 0; }
  done
  die "no free port"
}

# explain_failures prints what a failed run needs to be understood where only
# this output survives (CI): each report's failures with the request that
# reproduces them, and the warnings and errors the services logged.
explain_failures() {
  local f
  for f in "$LOGS"/fuzz-api-gateway.txt "$LOGS"/fuzz-api-query.txt; do
    echo "---- failures in $f ----"
    sed -n '/^=* FAILURES =*$/,/^=* SUMMARY =*$/p' "$f" | head -n 120
  done
  for f in "$LOGS"/fuzz-api-gateway.log "$LOGS"/fuzz-api-query.log; do
    echo "---- warnings and errors in $f ----"
    grep -E '"level":"(WARN|ERROR)"' "$f" | head -n 40
  done
}

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

ensure_schemathesis
say "building gateway, query and pulsectl"
for s in gateway query; do go build -o "$WORK/bin/$s" "./services/$s" || die "go build $s failed"; done
go build -o "$WORK/bin/pulsectl" ./tenancy/cmd/pulsectl || die "go build pulsectl failed"
go run ./migrations/cmd/migrate up >/dev/null || die "migrations failed"

tenant="${RUN//[^a-z0-9-]/-}"
key=$("$WORK/bin/pulsectl" bootstrap --tenant "$tenant" --format env | sed -n 's/^PULSESTREAM_[A-Z0-9_]*_API_KEY=//p' | head -1)
[ -n "$key" ] || die "pulsectl bootstrap printed no key"
# A meter (the slug of query.yaml's example), so generated meter queries reach the engine.
"$WORK/bin/pulsectl" meters put --tenant "$tenant" --format json >/dev/null --definition \
  '{"event_types":["llm.call"],"aggregation":"p95","value_path":"$.usage.tokens","group_by":{"model":"$.model","customer":"subject"}}' tokens ||
  die "pulsectl meters put failed"

gw=$(free_port); qp=$(free_port); ap=$(free_port)
"$WORK/bin/gateway" --gateway-addr "127.0.0.1:$gw" --kafka-topic "$RUN" --kafka-dlq-topic "$RUN.dlq" --kafka-partitions 1 \
  --redis-key-prefix "pstest:$RUN:" --quarantine-topic "$RUN.quarantine" --quarantine-group "$RUN-quarantine" >"$LOGS/fuzz-api-gateway.log" 2>&1 &
pids+=($!)
# A query timeout of a minute: on a loaded machine a meter query that waits for
# the engine behind a view build may pass the 5 s default, and its documented
# 503 query_timeout would count as a server error here; the test is about what
# the services answer to generated input, not how fast.
"$WORK/bin/query" --http-addr "127.0.0.1:$qp" --admin-addr "127.0.0.1:$ap" --console=false --query-timeout 60s \
  --kafka-topic "$RUN" --kafka-dlq-topic "$RUN.dlq" \
  >"$LOGS/fuzz-api-query.log" 2>&1 &
pids+=($!)
wait_for gateway 60 "$LOGS/fuzz-api-gateway.log" curl -sf "http://127.0.0.1:$gw/readyz"
wait_for query 60 "$LOGS/fuzz-api-query.log" curl -sf "http://127.0.0.1:$qp/readyz"

# Checks: no 5xx, status codes, headers and bodies as documented, invalid
# requests refused. Left out: positive_data_acceptance (a schema-valid request
# may still be a documented 409 or 429) and content_type_conformance (Go's
# net/http answers a header value with control characters with a plain-text
# 400 before any PulseStream code runs; every answer of ours is JSON).
CHECKS=not_a_server_error,status_code_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection
status=0
for api in gateway:$gw query:$qp; do
  name=${api%%:*}; port=${api##*:}
  say "schemathesis: $name API ($MAX_EXAMPLES examples per operation)"
  "$VENV/bin/st" --config-file scripts/schemathesis/schemathesis.toml run "schemas/openapi/$name.yaml" --url "http://127.0.0.1:$port" \
    -H "Authorization: Bearer $key" --checks "$CHECKS" --max-examples "$MAX_EXAMPLES" \
    --request-timeout 90 --no-color --seed 1 >"$LOGS/fuzz-api-$name.txt" 2>&1 ||
    python3 scripts/st_errors_client_only.py "$LOGS/fuzz-api-$name.txt" || status=1
  tail -n 25 "$LOGS/fuzz-api-$name.txt"
done
[ $status -eq 0 ] || explain_failures
[ $status -eq 0 ] || die "schemathesis found failures (full reports: $LOGS/fuzz-api-*.txt)"
say "fuzz-api: gateway and query answered every generated request as documented"
