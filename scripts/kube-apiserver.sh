#!/usr/bin/env bash
# kube-apiserver.sh — print the path of a kube-apiserver binary, building it first when missing.
# No Kubernetes package in Debian carries an API server, so it is built from the
# k8s.io/kubernetes module (served by the Go module proxy) into $PULSESTREAM_LOCAL/bin:
# the module is copied somewhere writable, its go.work is set aside (GOWORK=off), its
# ./staging/... replaces are dropped and those modules required at the published
# v0.MINOR.PATCH of the same release. No source is changed. The first build takes about
# 5 minutes on 2 cores (later calls return at once; the Go build cache keeps the rest).
# Its storage, etcd, comes from Debian's etcd-server (3.4), installed here when missing.
# Usage: scripts/kube-apiserver.sh     prints the kube-apiserver path on stdout
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

apt_install etcd-server

KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
bin="$PULSESTREAM_LOCAL/bin/kube-apiserver-$KUBE_VERSION"

if [ ! -x "$bin" ]; then
  mkdir -p "$PULSESTREAM_LOCAL/bin"
  say "building kube-apiserver $KUBE_VERSION from k8s.io/kubernetes into $PULSESTREAM_LOCAL/bin (one time, about 5 minutes)"
  start=$SECONDS
  src=$(cd / && GOWORK=off go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src" ] || die "go mod download k8s.io/kubernetes@$KUBE_VERSION gave no source directory"
  work=$(mktemp -d "$PULSESTREAM_LOCAL/kube-src.XXXXXX")
  trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
  cp -r "$src/." "$work/"
  chmod -R u+w "$work"
  # The staging modules k8s.io/X are published as k8s.io/X v0.MINOR.PATCH of the same release.
  staging_version="v0.${KUBE_VERSION#v1.}"
  edits=()
  while read -r mod; do
    edits+=("-dropreplace=$mod" "-require=$mod@$staging_version")
  done < <(cd "$work" && GOWORK=off go mod edit -json | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    if r["New"]["Path"].startswith("./staging/"):
        print(r["Old"]["Path"])')
  [ ${#edits[@]} -gt 0 ] || die "k8s.io/kubernetes@$KUBE_VERSION has no ./staging replaces: the recipe no longer fits"
  (cd "$work" && GOWORK=off go mod edit "${edits[@]}")
  pkg=k8s.io/component-base/version
  minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  ldflags="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  (cd "$work" && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 \
    go build -trimpath -ldflags "$ldflags" -o "$bin.tmp" ./cmd/kube-apiserver) >&2 \
    || die "go build ./cmd/kube-apiserver ($KUBE_VERSION) failed"
  mv "$bin.tmp" "$bin"
  say "kube-apiserver $KUBE_VERSION built in $((SECONDS - start))s"
fi

echo "$bin"
