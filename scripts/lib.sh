#!/usr/bin/env bash
# Shared helpers for the service scripts: logging, waiting, loud failures.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

mkdir -p "$PULSESTREAM_LOCAL/logs"

say() { printf '==> %s\n' "$*" >&2; }

# die MESSAGE [LOGFILE]: print the message and the tail of the service's own log.
die() {
  printf 'ERROR: %s\n' "$1" >&2
  if [ "${2:-}" != "" ] && [ -f "$2" ]; then
    printf -- '---- last 40 lines of %s ----\n' "$2" >&2
    tail -n 40 "$2" >&2
    printf -- '----\n' >&2
  fi
  exit 1
}

# wait_for NAME SECONDS LOGFILE CMD...: retry CMD until it succeeds or time runs out.
wait_for() {
  local name=$1 secs=$2 log=$3; shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      die "$name did not answer within ${secs}s" "$log"
    fi
    sleep 0.3
  done
  say "$name is up"
}

# port_open HOST PORT: true when something listens there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# apt_install PKG...: install Debian packages that are missing.
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

# pid_alive PIDFILE: true when the process in PIDFILE runs.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
