#!/usr/bin/env bash
# `make dev`: runs gateway, projector and query from bin/ against the local
# infrastructure, creates the demo tenant and key, prints a first curl, and
# keeps running until Ctrl-C. `dev.sh stop` ends services left running.
source "$(dirname "$0")/lib.sh"
cd "$PULSESTREAM_ROOT"
pids="$PULSESTREAM_LOCAL/dev.pids"

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
# The demo tenant and a fresh key with ingest and query scopes.
bin/pulsectl bootstrap --tenant demo --format env >"$PULSESTREAM_LOCAL/demo.env" ||
  die "could not create the demo tenant"
# shellcheck disable=SC1091
source "$PULSESTREAM_LOCAL/demo.env"
export PULSESTREAM_DEMO_API_KEY

for svc in gateway projector query; do
  bin/$svc >>"$PULSESTREAM_LOCAL/logs/$svc.log" 2>&1 &
  echo $! >>"$pids"
done
trap 'say "stopping services"; stop_services; exit 0' INT TERM

wait_for gateway 60 "$PULSESTREAM_LOCAL/logs/gateway.log" curl -sf http://127.0.0.1:8080/livez
wait_for query 60 "$PULSESTREAM_LOCAL/logs/query.log" curl -sf http://127.0.0.1:8081/livez
wait_for projector 60 "$PULSESTREAM_LOCAL/logs/projector.log" curl -sf http://127.0.0.1:8082/livez

cat <<MSG

PulseStream is running (logs in .local/logs/; Ctrl-C stops the services, 'make stop' the infrastructure).
  gateway   http://127.0.0.1:8080   query http://127.0.0.1:8081   projector http://127.0.0.1:8082   admin http://127.0.0.1:8090
Demo key (also in .local/demo.env): $PULSESTREAM_DEMO_API_KEY

Send a first event:
  curl -s -H "Authorization: Bearer $PULSESTREAM_DEMO_API_KEY" -H 'Content-Type: application/json' \\
       -d '{"id":"evt-1","type":"page.viewed","source":"web","subject":"user-42","data":{"path":"/"}}' \\
       http://127.0.0.1:8080/v1/events
Read it back:
  curl -s -H "Authorization: Bearer $PULSESTREAM_DEMO_API_KEY" http://127.0.0.1:8081/v1/events/evt-1
  curl -s -H "Authorization: Bearer $PULSESTREAM_DEMO_API_KEY" http://127.0.0.1:8081/v1/events/evt-1/status
MSG
wait
