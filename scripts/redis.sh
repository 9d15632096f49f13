#!/usr/bin/env bash
# redis.sh start|stop|status — a private redis-server (Debian's package, not the
# system service) on 127.0.0.1:$PULSESTREAM_REDIS_PORT, data in
# $PULSESTREAM_LOCAL/redis, log in $PULSESTREAM_LOCAL/logs/redis.log.
# If PULSESTREAM_REDIS_ADDR points elsewhere, start/status only check it.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR="$PULSESTREAM_LOCAL/redis"
LOG="$PULSESTREAM_LOCAL/logs/redis.log"
PIDFILE="$DIR/redis.pid"
PORT="$PULSESTREAM_REDIS_PORT"
HOST="${PULSESTREAM_REDIS_ADDR%:*}"
APORT="${PULSESTREAM_REDIS_ADDR##*:}"

answers() { [ "$(redis-cli -h "$HOST" -p "$APORT" ping 2>/dev/null)" = PONG ]; }

preflight() {
  is_external PULSESTREAM_REDIS_ADDR "127.0.0.1:$PORT" && return 0
  port_free_or_same Redis "$PORT" redis-server PULSESTREAM_REDIS_PORT
}

start() {
  apt_install redis-server
  if is_external PULSESTREAM_REDIS_ADDR "127.0.0.1:$PORT"; then
    say "PULSESTREAM_REDIS_ADDR is external: only checking it"
    answers || die "redis at $PULSESTREAM_REDIS_ADDR does not answer"
    say "redis answers"; return
  fi
  preflight
  if answers; then say "redis already running on 127.0.0.1:$PORT"; return; fi
  port_open 127.0.0.1 "$PORT" &&
    die "the Redis on port $PORT, $(describe_pid "$(listener_pid "$PORT")"), does not answer PING; stop it or set PULSESTREAM_REDIS_PORT to a free port"
  mkdir -p "$DIR"
  cat >"$DIR/redis.conf" <<EOF
# written by scripts/redis.sh on every start
bind 127.0.0.1
port $PORT
daemonize yes
pidfile $PIDFILE
logfile $LOG
dir $DIR
appendonly no
save ""
EOF
  say "starting redis on 127.0.0.1:$PORT"
  rm -f "$PIDFILE"
  redis-server "$DIR/redis.conf" >>"$LOG" 2>&1 || die "redis-server failed to start" "$LOG"
  wait_for redis 30 "$LOG" answers
}

stop() {
  if is_external PULSESTREAM_REDIS_ADDR "127.0.0.1:$PORT"; then say "external redis: not stopping it"; return; fi
  [ -f "$PIDFILE" ] && ! proc_is "$(cat "$PIDFILE")" redis-server && rm -f "$PIDFILE"
  stop_pid redis "$PIDFILE" 30
}

status() {
  if answers; then say "redis: up ($PULSESTREAM_REDIS_ADDR)"; else say "redis: down ($PULSESTREAM_REDIS_ADDR)"; return 1; fi
}

case "${1:-}" in
  start | stop | status | preflight) "$1" ;;
  *) die "usage: $0 start|stop|status|preflight" ;;
esac
