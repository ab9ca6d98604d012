#!/usr/bin/env bash
# Images for the local cluster's containerd (no registry can be reached: every image is imported).
#   images.sh              the cluster's own images: the pod sandbox (pause, built from
#                          k8s/local/pause) and CoreDNS, cached as tarballs
#   images.sh IMAGE...     these Docker images (`docker save`), e.g. the ones `make images` builds
# Called by cluster.sh (`up`, `load`) while the cluster runs.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=k8s/local/lib.sh
. "$HERE/lib.sh"

IMAGE_CACHE="$K8S_CACHE/images"
PATH="$DEB_ROOT/usr/bin:$PATH"

ctr_in_node() { in_namespace ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }

# build_scratch_image TAG TARBALL BINARY ENTRYPOINT_JSON: a one-file image, saved as TARBALL.
build_scratch_image() {
  local tag="$1" tarball="$2" binary="$3" entrypoint="$4" ctx
  ctx="$(mktemp -d)"
  cp "$binary" "$ctx/app"
  printf 'FROM scratch\nCOPY app /%s\nUSER 65534:65534\nENTRYPOINT %s\n' \
    "$(basename "$binary")" "$entrypoint" >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" >/dev/null
  docker save "$tag" -o "$tarball.partial" && mv "$tarball.partial" "$tarball"
  rm -rf "$ctx"
}

# The pod sandbox and CoreDNS images, built once with Docker and kept as tarballs in the cache.
cluster_images() {
  local pause_tar="$IMAGE_CACHE/digits-pause-1.tar" coredns_tar="$IMAGE_CACHE/digits-coredns-$COREDNS_VERSION.tar"
  mkdir -p "$IMAGE_CACHE"
  if [ ! -f "$pause_tar" ] || [ ! -f "$coredns_tar" ]; then
    engine_start
    trap engine_stop_if_started_here EXIT
    local bin
    bin="$(mktemp -d)"
    (cd "$HERE/pause" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/pause" .)
    build_scratch_image localhost/digits-pause:1 "$pause_tar" "$bin/pause" '["/pause"]'
    build_scratch_image "localhost/digits-coredns:$COREDNS_VERSION" "$coredns_tar" "$COREDNS_BIN" '["/coredns"]'
    rm -rf "$bin"
    log "images: built the pause and CoreDNS images into ${IMAGE_CACHE}"
  fi
  ctr_in_node images import "$pause_tar" >/dev/null
  ctr_in_node images import "$coredns_tar" >/dev/null
}

# Docker images into the node: docker save | ctr import, with the time and size of each.
docker_images() {
  [ "$#" -eq 0 ] && return 0
  engine_start
  trap engine_stop_if_started_here EXIT
  local image start
  for image in "$@"; do
    image_exists "$image" || die "no Docker image $image (make images / make loadgen-image)"
    start=$SECONDS
    docker save "$image" | ctr_in_node images import - >/dev/null
    log "images: $image into the node in $((SECONDS - start)) s ($(image_size "$image"))"
  done
}

if [ "$#" -eq 0 ]; then cluster_images; else docker_images "$@"; fi
