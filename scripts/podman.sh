#!/usr/bin/env bash
# podman.sh — run Debian's podman (as root, no systemd) with what these
# machines need: cgroupfs instead of systemd, events to a file instead of
# journald, runc instead of crun (crun 1.8 refuses the hybrid cgroup v1/v2
# hierarchy: "cgroups in hybrid mode not supported"), and, for `run` and
# `create`, resource limits at or below this shell's hard limits (podman's
# default raises RLIMIT_NOFILE, which needs CAP_SYS_RESOURCE).
# Usage: scripts/podman.sh ARGS...   e.g. scripts/podman.sh run --rm ghcr.io/pulsestream/pulsestream:dev -version
set -euo pipefail
global=(--cgroup-manager=cgroupfs --events-backend=file --runtime=runc)
if [ $# -gt 0 ] && { [ "$1" = run ] || [ "$1" = create ]; }; then
  cmd=$1; shift
  nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576
  exec podman "${global[@]}" "$cmd" --ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096 "$@"
fi
exec podman "${global[@]}" "$@"
