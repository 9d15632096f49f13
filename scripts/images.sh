#!/usr/bin/env bash
# images.sh — build the PulseStream image where no Docker engine runs, with
# Debian's buildah (installed here when missing, with podman and runc, which
# run it). No base image is pulled: deploy/docker/rootfs.sh builds the static
# binaries and lays out the file system on this machine, and buildah runs
# deploy/docker/Dockerfile's last stage (FROM scratch) over it
# (--build-arg ROOTFS_STAGE=prebuilt), so Docker and buildah builds share one
# layout and one set of labels. --timestamp 0 makes the image reproducible:
# the same sources and Go toolchain give the same digest.
# Usage: scripts/images.sh            (IMAGE, IMAGE_TAG: the name; default ghcr.io/pulsestream/pulsestream:dev)
# Prints the image name, its digest, its size and the binary's size.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMAGE="${IMAGE:-ghcr.io/pulsestream/pulsestream}"
IMAGE_TAG="${IMAGE_TAG:-dev}"
# The budget for all binaries together: issue 24's 40 MB. Tracing took the
# binary from 33 to 55 MB through the SDK's OTLP/HTTP exporter, which links
# gRPC, grpc-gateway and genproto; platform/tracing's own exporter over the
# OTLP protobuf types (otlp.go) brought it back to 35 MB (2026-11-28).
MAX_BINARY_BYTES=$((40 * 1000 * 1000))

# podman and runc run it (scripts/podman.sh, the image test)
apt_install buildah podman runc ca-certificates
cd "$PULSESTREAM_ROOT"

ctx=$(mktemp -d "${TMPDIR:-/tmp}/pulsestream-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
start=$SECONDS
say "building the binaries and the file system (deploy/docker/rootfs.sh, VERSION=$IMAGE_TAG)"
VERSION="$IMAGE_TAG" deploy/docker/rootfs.sh "$ctx/rootfs"
bytes=$(find "$ctx/rootfs/usr/local/bin" -type f -printf '%s\n' | awk '{n += $1} END {print n}')
[ "$bytes" -lt "$MAX_BINARY_BYTES" ] || die "the binaries take $bytes bytes, over the budget of $MAX_BINARY_BYTES"

say "building $IMAGE:$IMAGE_TAG with buildah (FROM scratch, no pull)"
# buildah 1.28 keeps the intermediate stages' image and working container:
# whatever the build adds besides the image is removed after it.
containers_before=$(buildah containers -q | sort)
dangling_before=$(buildah images -q --filter dangling=true | sort)
buildah bud --quiet --pull=never --layers=false --timestamp 0 --format oci \
  --build-arg ROOTFS_STAGE=prebuilt --build-arg VERSION="$IMAGE_TAG" \
  -f deploy/docker/Dockerfile -t "$IMAGE:$IMAGE_TAG" "$ctx" >/dev/null
comm -13 <(echo "$containers_before") <(buildah containers -q | sort) | xargs -r buildah rm >/dev/null
comm -13 <(echo "$dangling_before") <(buildah images -q --filter dangling=true | sort) | xargs -r buildah rmi >/dev/null
digest=$(podman image inspect --format '{{.Digest}}' "$IMAGE:$IMAGE_TAG")
size=$(podman image inspect --format '{{.Size}}' "$IMAGE:$IMAGE_TAG")
say "built $IMAGE:$IMAGE_TAG in $((SECONDS - start))s"
printf 'image    %s:%s\ndigest   %s\nsize     %s bytes (binary %s bytes)\n' "$IMAGE" "$IMAGE_TAG" "$digest" "$size" "$bytes"
