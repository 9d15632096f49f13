#!/usr/bin/env bash
# infra.sh up|down|status|clean [service ...] — start, stop or check the local backing
# services (postgres redis kafka clickhouse; default: all), each through its own
# scripts/SERVICE.sh. `up` first checks every port (a port held by another kind of
# process stops it before anything starts, naming the holder; the same kind of server,
# e.g. another checkout's, is reused), then starts them in that order; `down` stops them
# in reverse; `clean` stops them and removes their data, also any kept outside the checkout.
# Ends by printing the addresses (override any of them with env vars, see env.sh).
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL=(postgres redis kafka clickhouse)
cmd=${1:-}; shift || true
for s in "$@"; do
  [[ " ${ALL[*]} " == *" $s "* ]] || die "unknown service '$s' (known: ${ALL[*]})"
done
# the chosen services (default all), always in dependency order
services=()
for s in "${ALL[@]}"; do
  [[ $# -eq 0 || " $* " == *" $s "* ]] && services+=("$s")
done

run() {  # run SERVICE ACTION
  local script="$PULSESTREAM_ROOT/scripts/$1.sh"
  if [ ! -f "$script" ]; then
    say "NOTE: scripts/$1.sh does not exist yet: skipping $1"; return 0
  fi
  bash "$script" "$2"
}

addresses() {
  cat >&2 <<EOF
---- PulseStream backing services ----
PULSESTREAM_POSTGRES_URL=$PULSESTREAM_POSTGRES_URL
PULSESTREAM_REDIS_ADDR=$PULSESTREAM_REDIS_ADDR
PULSESTREAM_KAFKA_BROKERS=$PULSESTREAM_KAFKA_BROKERS
PULSESTREAM_CLICKHOUSE_ADDR=$PULSESTREAM_CLICKHOUSE_ADDR ($PULSESTREAM_CLICKHOUSE_PROTOCOL, database $PULSESTREAM_CLICKHOUSE_DATABASE)
logs: $PULSESTREAM_LOCAL/logs
EOF
}

case "$cmd" in
  up)
    for s in "${services[@]}"; do run "$s" preflight; done
    for s in "${services[@]}"; do run "$s" start; done
    addresses ;;
  down)
    for ((i = ${#services[@]} - 1; i >= 0; i--)); do run "${services[i]}" stop; done ;;
  clean)
    for ((i = ${#services[@]} - 1; i >= 0; i--)); do run "${services[i]}" stop; done
    [[ " ${services[*]} " != *" postgres "* ]] || run postgres clean ;;
  status)
    rc=0
    for s in "${services[@]}"; do run "$s" status || rc=1; done
    addresses
    exit $rc ;;
  *) die "usage: $0 up|down|status|clean [postgres redis kafka clickhouse]" ;;
esac
