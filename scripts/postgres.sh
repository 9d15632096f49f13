#!/usr/bin/env bash
# postgres.sh start|stop|status — a private PostgreSQL 15 (Debian's packages)
# for dev and tests: data and unix socket in $PULSESTREAM_LOCAL/postgres, TCP only
# on 127.0.0.1:$PULSESTREAM_PG_PORT, log in $PULSESTREAM_LOCAL/logs/postgres.log.
# Creates role and database "pulsestream" (password "pulsestream").
# If PULSESTREAM_POSTGRES_URL points elsewhere, start/status only check it.
#   preflight  fail (naming the holder) when the port is taken by something other than PostgreSQL
#   clean      stop, then remove the data directory, wherever it lives (see pg_data_dir)
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PGBIN=/usr/lib/postgresql/15/bin
PGLINK="$PULSESTREAM_LOCAL/postgres"
LOG="$PULSESTREAM_LOCAL/logs/postgres.log"
PORT="$PULSESTREAM_PG_PORT"
URL="$PULSESTREAM_POSTGRES_URL"
LOCAL_URL="postgres://pulsestream:pulsestream@127.0.0.1:${PORT}/pulsestream?sslmode=disable"

as_pg() { runuser -u postgres -- "$@"; }

# pg_data_dir: where this checkout's data directory lives. The server runs as user
# postgres, which must be able to reach it: a checkout below a directory only root may
# enter (root's home is mode 700, so is mktemp -d) keeps its data in a directory of its
# own under postgres's home instead, named after $PULSESTREAM_LOCAL, and
# $PULSESTREAM_LOCAL/postgres is a link to it. No permission outside the checkout changes.
pg_data_dir() {
  id postgres >/dev/null 2>&1 || { echo "$PGLINK"; return; } # not installed yet: nothing runs
  if [ -L "$PGLINK" ]; then readlink -f "$PGLINK"; return; fi
  if as_pg test -x "$PULSESTREAM_LOCAL"; then echo "$PGLINK"; return; fi
  local home; home=$(getent passwd postgres | cut -d: -f6)
  echo "$home/pulsestream/$(basename "$PULSESTREAM_ROOT")-$(printf '%s' "$PULSESTREAM_LOCAL" | sha256sum | cut -c1-12)"
}

# place_data_dir: create the data directory where pg_data_dir says (linked from the
# checkout when outside it), owned by postgres; a directory left in the checkout by an
# earlier run from a reachable place moves along.
place_data_dir() {
  mkdir -p "$PGDATA"
  if [ "$PGDATA" != "$PGLINK" ] && [ ! -L "$PGLINK" ]; then
    say "user postgres cannot enter $PULSESTREAM_LOCAL: its data lives in $PGDATA (linked from $PGLINK)"
    if [ -d "$PGLINK" ]; then cp -a "$PGLINK/." "$PGDATA/" && rm -rf "$PGLINK"; fi
    ln -s "$PGDATA" "$PGLINK"
  fi
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
}

# superuser SQL over the unix socket (trust auth, local only)
admin_sql() { "$PGBIN/psql" -h "$PGDATA" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtAc "$1"; }
login_ok() { "$PGBIN/psql" "$URL" -qtAc 'SELECT 1' 2>/dev/null | grep -qx 1; }
answers() { "$PGBIN/pg_isready" -q -d "$URL" && login_ok; }
login_error() { "$PGBIN/psql" "$URL" -qtAc 'SELECT 1' 2>&1 | head -1; }

write_conf() {
  cat >"$PGDATA/pulsestream.conf" <<EOF
# written by scripts/postgres.sh on every start: dev/test tuning
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$PGDATA'
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
EOF
  grep -q "^include 'pulsestream.conf'" "$PGDATA/postgresql.conf" ||
    echo "include 'pulsestream.conf'" >>"$PGDATA/postgresql.conf"
}

init_cluster() {
  say "initdb $PGDATA"
  as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >>"$LOG" 2>&1 || die "initdb failed" "$LOG"
}

ensure_role_and_db() {
  if [ "$(admin_sql "SELECT 1 FROM pg_roles WHERE rolname='pulsestream'")" != 1 ]; then
    admin_sql "CREATE ROLE pulsestream LOGIN CREATEDB PASSWORD 'pulsestream'"
  else
    admin_sql "ALTER ROLE pulsestream LOGIN CREATEDB PASSWORD 'pulsestream'"
  fi
  [ "$(admin_sql "SELECT 1 FROM pg_database WHERE datname='pulsestream'")" = 1 ] ||
    admin_sql "CREATE DATABASE pulsestream OWNER pulsestream"
}

preflight() {
  is_external PULSESTREAM_POSTGRES_URL "$LOCAL_URL" && return 0
  port_free_or_same PostgreSQL "$PORT" postgres PULSESTREAM_PG_PORT
}

start() {
  if is_external PULSESTREAM_POSTGRES_URL "$LOCAL_URL"; then
    say "PULSESTREAM_POSTGRES_URL is external: only checking it"
    answers || die "postgres at the external PULSESTREAM_POSTGRES_URL does not answer"
    say "postgres answers"; return
  fi
  preflight
  if answers; then say "postgres already running on 127.0.0.1:$PORT"; return; fi
  if port_open 127.0.0.1 "$PORT"; then
    # A server on the port did not let us in: ask again for ten seconds
    # (one refused login was seen here, once, right after a test run ended,
    # and the next try a minute later got in), then name what it said.
    for _ in $(seq 20); do
      sleep 0.5
      if answers; then say "postgres already running on 127.0.0.1:$PORT"; return; fi
    done
    die "the PostgreSQL on port $PORT, $(describe_pid "$(listener_pid "$PORT")"), refuses the pulsestream login ($(login_error)); stop it or set PULSESTREAM_PG_PORT to a free port"
  fi
  place_data_dir
  [ -f "$PGDATA/PG_VERSION" ] || init_cluster
  chown -R postgres:postgres "$PGDATA"
  as_pg test -w "$PGDATA" || die "user postgres cannot write $PGDATA (check the parent dirs' permissions)"
  write_conf
  # after a crash the old postmaster may linger as a zombie, which postgres
  # takes for a live server: drop lock files whose PID is no longer a postgres
  for lock in "$PGDATA/postmaster.pid" "$PGDATA"/.s.PGSQL.*.lock; do
    if [ -f "$lock" ] && ! proc_is "$(head -1 "$lock")" postgres; then
      say "removing stale ${lock##*/}"; rm -f "$lock"
    fi
  done
  say "starting postgres on 127.0.0.1:$PORT"
  # root opens the log and hands it over, so postgres needs no write access to logs/
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -w -t 60 start >>"$LOG" 2>&1 || die "pg_ctl start failed" "$LOG"
  ensure_role_and_db >>"$LOG" 2>&1 || die "creating role/database pulsestream failed" "$LOG"
  wait_for postgres 30 "$LOG" answers
}

stop() {
  if is_external PULSESTREAM_POSTGRES_URL "$LOCAL_URL"; then say "external postgres: not stopping it"; return; fi
  if [ -f "$PGDATA/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >>"$LOG" 2>&1 || die "pg_ctl stop failed" "$LOG"
    say "postgres stopped"
  else
    say "postgres is not running"
  fi
}

clean() {
  stop
  is_external PULSESTREAM_POSTGRES_URL "$LOCAL_URL" && return 0
  say "removing the PostgreSQL data in $PGDATA"
  rm -rf "$PGDATA" "$PGLINK"
}

status() {
  if answers; then say "postgres: up ($URL)"; else say "postgres: down ($URL)"; return 1; fi
}

case "${1:-}" in
  start) apt_install postgresql-15 postgresql-client-15; PGDATA=$(pg_data_dir); start ;;
  stop | status | preflight | clean) PGDATA=$(pg_data_dir); "$1" ;;
  *) die "usage: $0 start|stop|status|preflight|clean" ;;
esac
