#!/usr/bin/env bash
# helm.sh — print the path of a helm binary, installing it first when missing.
# There is no helm package in Debian, so it is built from source with
# `go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION` into $PULSESTREAM_LOCAL/bin
# (first build takes minutes on a 2-core box; later calls return at once).
# A helm already on PATH is used when it is the pinned major version (v3).
# Usage: scripts/helm.sh            prints the helm path on stdout
#        scripts/helm.sh ARGS...    runs helm with ARGS
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
helm_bin="$PULSESTREAM_LOCAL/bin/helm"

if [ ! -x "$helm_bin" ]; then
  if command -v helm >/dev/null 2>&1 && helm version --short 2>/dev/null | grep -q '^v3\.'; then
    helm_bin=$(command -v helm)
  else
    mkdir -p "$PULSESTREAM_LOCAL/bin"
    say "building helm $HELM_VERSION from source into $PULSESTREAM_LOCAL/bin (one time, a few minutes)"
    start=$SECONDS
    # GOWORK=off: helm is a tool, not a module of the workspace. The -X flags
    # are what helm's own Makefile sets: without them `helm version` says
    # "v3.22" and helm template/lint assume Kubernetes 1.20, which the chart's
    # kubeVersion (>=1.30) refuses. 1.37 = the k8s.io modules helm v3.22.0 uses.
    ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
    for pkg in pkg/lint/rules pkg/chartutil; do
      ldflags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=37"
    done
    GOWORK=off GOFLAGS=-buildvcs=false GOBIN="$PULSESTREAM_LOCAL/bin" \
      go install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2 \
      || die "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION failed"
    say "helm built in $((SECONDS - start))s"
  fi
fi

if [ $# -eq 0 ]; then
  echo "$helm_bin"
else
  exec "$helm_bin" "$@"
fi
