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

# port_open HOST PORT: true when something listens there (gives up after 3 s).
# shellcheck disable=SC2016
port_open() { timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

# listener_pid PORT: the pid of the process listening on TCP PORT (empty when none or unknown).
listener_pid() { ss -ltnpH "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2; }

# describe_pid PID: "pid N (its command line)", for messages naming who holds a port.
describe_pid() {
  [ -n "$1" ] || { printf 'a process this user cannot see'; return; }
  printf 'pid %s (%s)' "$1" "$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | cut -c1-160)"
}

# port_free_or_same NAME PORT WORD SETTING: fine when nothing listens on 127.0.0.1:PORT, or
# when the listener's command line holds WORD (the same kind of server, perhaps another
# checkout's, which `start` then reuses once it has checked that it answers); otherwise die
# naming the process that holds the port and the setting that moves NAME elsewhere.
port_free_or_same() {
  local name=$1 port=$2 word=$3 setting=$4 pid
  port_open 127.0.0.1 "$port" || return 0
  pid=$(listener_pid "$port")
  [ -n "$pid" ] && proc_is "$pid" "$word" && return 0
  port_taken "$name" "$port" "$setting"
}

# port_taken NAME PORT SETTING: die naming the process that holds PORT and the
# setting that moves NAME elsewhere.
port_taken() {
  die "port $2, wanted by $1, is taken by $(describe_pid "$(listener_pid "$2")"); stop that process or set $3 to a free port"
}

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

# venv_package PACKAGE VERSION LOG: the project's Python venv
# ($PULSESTREAM_LOCAL/venv, beside chdb) holds PACKAGE==VERSION from PyPI;
# pip runs only when it does not.
venv_package() {
  local venv="$PULSESTREAM_LOCAL/venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || { apt_install python3-venv; python3 -m venv "$venv"; }
  [ "$("$venv/bin/pip" show "$1" 2>/dev/null | sed -n 's/^Version: //p')" = "$2" ] && return 0
  say "installing $1 $2 into $venv"
  mkdir -p "$(dirname "$3")"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$1==$2" >"$3" 2>&1 || die "pip could not install $1" "$3"
}

# proc_alive PID: true when PID runs (a zombie counts as dead: PID 1 on these
# machines reaps orphans only after a few seconds).
proc_alive() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "${st:0:1}" != Z ]
}

# pid_alive PIDFILE: true when the process in PIDFILE runs.
pid_alive() { [ -f "$1" ] && proc_alive "$(cat "$1")"; }

# proc_is PID WORD: true when PID runs and its command line contains WORD
# (PIDs wrap fast here, pid_max is 32768: a stale pidfile may name a stranger).
proc_is() { proc_alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -c -- "$2" >/dev/null; }

# is_external VAR LOCAL_DEFAULT: true when VAR was pointed somewhere other than
# the local default, i.e. at a server these scripts must not start or stop.
is_external() { [ "${!1}" != "$2" ]; }

# wait_for_pid NAME SECONDS LOGFILE PIDFILE CMD...: like wait_for, but fails at
# once (with the log tail) if the process in PIDFILE exits while we wait.
wait_for_pid() {
  local name=$1 secs=$2 log=$3 pidfile=$4; shift 4
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    pid_alive "$pidfile" || die "$name exited during startup" "$log"
    [ $SECONDS -ge $deadline ] && die "$name did not answer within ${secs}s" "$log"
    sleep 0.3
  done
  say "$name is up"
}

# stop_pid NAME PIDFILE [SECS]: SIGTERM, wait up to SECS (default 30), then SIGKILL.
stop_pid() {
  local name=$1 pidfile=$2 secs=${3:-30} pid
  if ! pid_alive "$pidfile"; then rm -f "$pidfile"; say "$name is not running"; return 0; fi
  pid=$(cat "$pidfile")
  say "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + secs))
  while proc_alive "$pid"; do
    if [ $SECONDS -ge $deadline ]; then
      say "$name still running after ${secs}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.3
  done
  rm -f "$pidfile"
  say "$name stopped"
}
