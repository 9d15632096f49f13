#!/usr/bin/env bash
# rootfs.sh — assemble the image's whole file system in a directory: the one
# layout both image builds copy FROM scratch (deploy/docker/Dockerfile's build
# stage runs it inside golang:1.26; scripts/images.sh runs it on the host).
#
#   /usr/local/bin/pulsestream                                 every program in one static binary (CGO_ENABLED=0,
#                                                              stripped, -trimpath): deploy/cmd/pulsestream
#   /usr/local/bin/{gateway,projector,query,migrate,pulsectl}  symbolic links to it (it runs the one it is called as)
#   /etc/ssl/certs/ca-certificates.crt                         Debian's ca-certificates bundle
#   /etc/passwd, /etc/group                                    root and nonroot (uid/gid 65532), no login shell
#   /home/nonroot (65532, 0700), /tmp (1777)
#
# No shell, no package manager, no libc. Run from the repository root:
#   deploy/docker/rootfs.sh OUTDIR    (VERSION=1.2.3 sets what -version prints; default dev)
set -euo pipefail

out=${1:?usage: deploy/docker/rootfs.sh OUTDIR}
version=${VERSION:-dev}
ca_bundle=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

# The programs of the multi-call binary (deploy/cmd/pulsestream).
programs=(gateway projector query migrate pulsectl)

[ -s "$ca_bundle" ] || { echo "rootfs.sh: no CA bundle at $ca_bundle (install Debian's ca-certificates)" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out/usr/local/bin" "$out/etc/ssl/certs" "$out/home/nonroot" "$out/tmp"

ldflags="-s -w -X github.com/pulsestream/pulsestream/platform/config.Version=$version"
CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags "$ldflags" -o "$out/usr/local/bin/pulsestream" ./deploy/cmd/pulsestream
for p in "${programs[@]}"; do
  ln -s pulsestream "$out/usr/local/bin/$p"
done

install -m 0644 "$ca_bundle" "$out/etc/ssl/certs/ca-certificates.crt"
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$out/etc/passwd"
printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' >"$out/etc/group"
chmod 0644 "$out/etc/passwd" "$out/etc/group"
chmod 0755 "$out/usr/local/bin/pulsestream"
chmod 1777 "$out/tmp"
chmod 0700 "$out/home/nonroot"
if [ "$(id -u)" = 0 ]; then # as root (a build stage, make images): root owns all but nonroot's home
  chown -R -h 0:0 "$out"
  chown 65532:65532 "$out/home/nonroot"
fi
