#!/usr/bin/env bash
# The local ClickHouse engine: chDB (ClickHouse 26.x in-process, from PyPI) behind a
# ClickHouse-compatible HTTP endpoint (tools/chdb-server), on 127.0.0.1:$PULSESTREAM_CLICKHOUSE_PORT.
#
#   scripts/clickhouse.sh start    install chdb when missing, start, wait until it answers,
#                                  create $PULSESTREAM_CLICKHOUSE_DATABASE (idempotent)
#   scripts/clickhouse.sh stop     stop gracefully (SIGTERM, the engine flushes and closes)
#   scripts/clickhouse.sh status   exit 0 when it answers queries
#   scripts/clickhouse.sh kill     SIGKILL (tests of crash recovery)
#
# When PULSESTREAM_CLICKHOUSE_ADDR points at another server, start and status only check
# that it answers over HTTP; nothing is installed or started.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CH_DIR="$PULSESTREAM_ROOT/tools/chdb-server"
CH_REQUIREMENTS="$CH_DIR/requirements.txt"
CH_VENV="$PULSESTREAM_LOCAL/venv"
CH_DATA="$PULSESTREAM_LOCAL/clickhouse"
CH_LOG="$PULSESTREAM_LOCAL/logs/clickhouse.log"
CH_PIDFILE="$PULSESTREAM_LOCAL/clickhouse.pid"
CH_LOCAL_ADDR="127.0.0.1:$PULSESTREAM_CLICKHOUSE_PORT"
CH_ADDR="$PULSESTREAM_CLICKHOUSE_ADDR"
CH_DB="$PULSESTREAM_CLICKHOUSE_DATABASE"
CH_START_TIMEOUT="${PULSESTREAM_CLICKHOUSE_START_TIMEOUT:-60}"

is_local() { ! is_external PULSESTREAM_CLICKHOUSE_ADDR "$CH_LOCAL_ADDR"; }

# ch_query SQL: run SQL over HTTP, print the result; non-zero (with the server's text) on error.
ch_query() {
  curl -sS --fail-with-body --max-time 30 --data-binary "$1" "http://$CH_ADDR/"
}

# ready: /ping answers and a query runs.
ready() {
  [ "$(curl -sS --max-time 2 "http://$CH_ADDR/ping" 2>/dev/null)" = "Ok." ] &&
    [ "$(ch_query 'SELECT 1' 2>/dev/null)" = "1" ]
}

# running: the pidfile names a live chdb-server (not a recycled pid).
running() { pid_alive "$CH_PIDFILE" && proc_is "$(cat "$CH_PIDFILE")" chdb_server.py; }

ensure_curl() { command -v curl >/dev/null 2>&1 || apt_install curl; }

# ensure_venv: a venv with exactly the pinned chdb; reinstalls only when the pins change.
ensure_venv() {
  local marker="$CH_VENV/.chdb-requirements"
  if [ -x "$CH_VENV/bin/python" ] && [ -f "$marker" ] && cmp -s "$marker" "$CH_REQUIREMENTS"; then
    return 0
  fi
  if [ ! -x "$CH_VENV/bin/python" ]; then
    say "creating the Python venv $CH_VENV"
    python3 -m venv "$CH_VENV" 2>>"$CH_LOG" || {
      apt_install python3-venv
      python3 -m venv "$CH_VENV" >>"$CH_LOG" 2>&1 || die "cannot create the venv $CH_VENV" "$CH_LOG"
    }
  fi
  say "installing $(grep -v '^#' "$CH_REQUIREMENTS" | xargs) into $CH_VENV (about 900 MB, once)"
  local t0=$SECONDS
  "$CH_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$CH_REQUIREMENTS" >>"$CH_LOG" 2>&1 ||
    die "pip could not install chdb (see the log)" "$CH_LOG"
  "$CH_VENV/bin/python" -c 'import chdb' >>"$CH_LOG" 2>&1 || die "chdb is installed but does not import" "$CH_LOG"
  cp "$CH_REQUIREMENTS" "$marker"
  say "chdb installed in $((SECONDS - t0))s"
}

ensure_database() {
  ch_query "CREATE DATABASE IF NOT EXISTS \`$CH_DB\`" >/dev/null 2>"$PULSESTREAM_LOCAL/logs/clickhouse-create-db.err" ||
    die "cannot create database $CH_DB: $(cat "$PULSESTREAM_LOCAL/logs/clickhouse-create-db.err")" "$CH_LOG"
}

preflight() {
  is_local || return 0
  port_free_or_same "the ClickHouse engine" "$PULSESTREAM_CLICKHOUSE_PORT" chdb_server.py PULSESTREAM_CLICKHOUSE_PORT
}

start() {
  ensure_curl
  if ! is_local; then
    wait_for "ClickHouse at $CH_ADDR" 15 "" ready
    return 0
  fi
  if running; then
    ready || die "chdb-server (pid $(cat "$CH_PIDFILE")) runs but does not answer on $CH_ADDR" "$CH_LOG"
    ensure_database
    say "ClickHouse engine already running on $CH_ADDR (pid $(cat "$CH_PIDFILE"))"
    return 0
  fi
  rm -f "$CH_PIDFILE"
  preflight
  if port_open 127.0.0.1 "$PULSESTREAM_CLICKHOUSE_PORT"; then # another checkout's engine
    ensure_venv # this checkout's tests start private engines of their own from it
    ready || die "the ClickHouse engine on $CH_ADDR, $(describe_pid "$(listener_pid "$PULSESTREAM_CLICKHOUSE_PORT")"), does not answer; stop it or set PULSESTREAM_CLICKHOUSE_PORT"
    ensure_database
    say "ClickHouse engine already answers on $CH_ADDR ($(describe_pid "$(listener_pid "$PULSESTREAM_CLICKHOUSE_PORT")"), started elsewhere): using it"
    return 0
  fi
  ensure_venv
  mkdir -p "$CH_DATA"
  say "starting the ClickHouse engine (chDB) on $CH_ADDR, data in $CH_DATA, log $CH_LOG"
  local t0=$SECONDS
  setsid nohup "$CH_VENV/bin/python" "$CH_DIR/chdb_server.py" \
    --host 127.0.0.1 --port "$PULSESTREAM_CLICKHOUSE_PORT" --data-dir "$CH_DATA" \
    >>"$CH_LOG" 2>&1 </dev/null &
  echo $! >"$CH_PIDFILE"
  wait_for_pid "chdb-server on $CH_ADDR" "$CH_START_TIMEOUT" "$CH_LOG" "$CH_PIDFILE" ready
  ensure_database
  say "ClickHouse engine $(ch_query 'SELECT version()') is up on $CH_ADDR (pid $(cat "$CH_PIDFILE"), ready in $((SECONDS - t0))s), database $CH_DB"
}

stop() {
  if ! is_local; then
    say "ClickHouse at $CH_ADDR is not managed here; nothing to stop"
    return 0
  fi
  running || rm -f "$CH_PIDFILE" # a stale pidfile names a stranger
  stop_pid "ClickHouse engine" "$CH_PIDFILE" 30
}

kill_hard() {
  if ! is_local; then
    say "ClickHouse at $CH_ADDR is not managed here; nothing to kill"
    return 0
  fi
  if running; then
    local pid
    pid=$(cat "$CH_PIDFILE")
    kill -KILL "$pid"
    while proc_alive "$pid"; do sleep 0.1; done
    say "ClickHouse engine killed (pid $pid)"
  else
    say "ClickHouse engine is not running"
  fi
  rm -f "$CH_PIDFILE"
}

status() {
  ensure_curl
  if ready; then
    local where="external server"
    is_local && where="chdb-server pid $(cat "$CH_PIDFILE" 2>/dev/null || echo '?')"
    say "ClickHouse $(ch_query 'SELECT version()') answers on $CH_ADDR ($where)"
    return 0
  fi
  say "ClickHouse does not answer on $CH_ADDR"
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  preflight) preflight ;;
  kill) kill_hard ;;
  *) die "usage: $0 start|stop|status|preflight|kill" ;;
esac
