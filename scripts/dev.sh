#!/usr/bin/env bash
# `make dev`: runs gateway, projector and query from bin/ against the local
# infrastructure, creates the demo tenant and key, prints a first curl, and
# keeps running until Ctrl-C. `dev.sh stop` ends services left running.
# Listen addresses come from the services' own settings (PULSESTREAM_GATEWAY_ADDR, ...).
source "$(dirname "$0")/lib.sh"
cd "$PULSESTREAM_ROOT"
pids="$PULSESTREAM_LOCAL/dev.pids"
export PULSESTREAM_GATEWAY_ADDR="${PULSESTREAM_GATEWAY_ADDR:-127.0.0.1:8080}"
export PULSESTREAM_HTTP_ADDR="${PULSESTREAM_HTTP_ADDR:-127.0.0.1:8081}" # the query service's (flag http-addr)
export PULSESTREAM_PROJECTOR_ADDR="${PULSESTREAM_PROJECTOR_ADDR:-127.0.0.1:8082}"
export PULSESTREAM_ADMIN_ADDR="${PULSESTREAM_ADMIN_ADDR:-127.0.0.1:8090}"
export PULSESTREAM_CONSOLE_ADDR="${PULSESTREAM_CONSOLE_ADDR:-127.0.0.1:8091}" # the web console (query service)
# A development signing-secret-key (made once, kept in .local/) so the demo key gets a
# signing secret (RFC 9421 request signatures); production sets its own from a secret store.
if [ -z "${PULSESTREAM_SIGNING_SECRET_KEY:-}" ]; then
  f="$PULSESTREAM_LOCAL/dev-signing-secret-key"
  [ -s "$f" ] || (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$f")
  PULSESTREAM_SIGNING_SECRET_KEY=$(cat "$f")
fi
export PULSESTREAM_SIGNING_SECRET_KEY

# ports_free: every service's port is free, or stop before starting anything, naming
# the process that holds it (another checkout's `make dev`, say) and the setting.
ports_free() {
  local pair name var addr port
  for pair in gateway:GATEWAY query:HTTP projector:PROJECTOR admin:ADMIN console:CONSOLE; do
    name=${pair%:*}; var="PULSESTREAM_${pair#*:}_ADDR"; addr=${!var}; port=${addr##*:}
    port_open "${addr%:*}" "$port" && port_taken "the $name service" "$port" "$var"
  done
  return 0
}

stop_services() {
  [ -f "$pids" ] || return 0
  while read -r pid; do kill -TERM "$pid" 2>/dev/null || true; done <"$pids"
  sleep 1
  rm -f "$pids"
}

case "${1:-run}" in
stop) stop_services; exit 0 ;;
run) ;;
*) die "usage: dev.sh run|stop" ;;
esac

stop_services
ports_free
# Until the stack answers, any failure stops what this run started: never a half-started stack.
trap 'stop_services' EXIT
# The demo tenant and a fresh key with ingest and query scopes, and an operator admin key
# (PULSESTREAM_ADMIN_API_KEY) for the console's admin pages.
bin/pulsectl bootstrap --tenant demo --admin-key --format env >"$PULSESTREAM_LOCAL/demo.env" ||
  die "could not create the demo tenant"
# shellcheck disable=SC1091
source "$PULSESTREAM_LOCAL/demo.env"
export PULSESTREAM_DEMO_API_KEY PULSESTREAM_DEMO_SIGNING_SECRET PULSESTREAM_ADMIN_API_KEY

for svc in gateway projector query; do
  bin/$svc >>"$PULSESTREAM_LOCAL/logs/$svc.log" 2>&1 &
  echo $! >>"$pids"
done
trap 'say "stopping services"; stop_services; exit 0' INT TERM

wait_for gateway 60 "$PULSESTREAM_LOCAL/logs/gateway.log" curl -sf "http://$PULSESTREAM_GATEWAY_ADDR/livez"
wait_for query 60 "$PULSESTREAM_LOCAL/logs/query.log" curl -sf "http://$PULSESTREAM_HTTP_ADDR/livez"
wait_for projector 60 "$PULSESTREAM_LOCAL/logs/projector.log" curl -sf "http://$PULSESTREAM_PROJECTOR_ADDR/livez"
trap - EXIT

cat <<MSG

PulseStream is running (logs in .local/logs/; Ctrl-C stops the services, 'make stop' the infrastructure).
  gateway   http://$PULSESTREAM_GATEWAY_ADDR   query http://$PULSESTREAM_HTTP_ADDR   projector http://$PULSESTREAM_PROJECTOR_ADDR   admin http://$PULSESTREAM_ADMIN_ADDR
Web console: http://$PULSESTREAM_CONSOLE_ADDR/  (docs/console.md)
  sign in with the demo key for the demo tenant's pages, or with the operator's admin key for the admin pages:
  $PULSESTREAM_ADMIN_API_KEY
Demo key (also in .local/demo.env): $PULSESTREAM_DEMO_API_KEY
  its signing secret: $PULSESTREAM_DEMO_SIGNING_SECRET (sign with it: clients/go/README.md, services/gateway/README.md)

Send a first event:
  curl -s -H "Authorization: Bearer $PULSESTREAM_DEMO_API_KEY" -H 'Content-Type: application/json' \\
       -d '{"id":"evt-1","type":"page.viewed","source":"web","subject":"user-42","data":{"path":"/"}}' \\
       http://$PULSESTREAM_GATEWAY_ADDR/v1/events
Read it back:
  curl -s -H "Authorization: Bearer $PULSESTREAM_DEMO_API_KEY" http://$PULSESTREAM_HTTP_ADDR/v1/events/evt-1
  curl -s -H "Authorization: Bearer $PULSESTREAM_DEMO_API_KEY" http://$PULSESTREAM_HTTP_ADDR/v1/events/evt-1/status
MSG
wait
