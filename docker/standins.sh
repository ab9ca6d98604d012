#!/usr/bin/env bash
# Local stand-ins for the upstream base images, for machines that cannot reach a registry.
#
#   docker/standins.sh [python|cassandra|locust|all]    (default: all)
#
# For each upstream image the project uses (python:3.11-slim for the Bento, cassandra:5.0 for the
# database, locustio/locust for the load generator) this script does nothing when that image is
# present or can be pulled. Otherwise it builds a local stand-in under the upstream name, so the
# unchanged BentoML Dockerfile and compose.yaml run; a stand-in is labelled with the digest of its
# build context and rebuilt when that changes:
#   - a Debian bookworm root file system made with debootstrap (cached as var/docker/*.tar),
#   - python:3.11-slim  = that base + Debian's Python 3.11 and uv (from the host-side wheelhouse),
#   - cassandra:5.0     = that base + Debian's OpenJDK 17 + the Cassandra jars from Maven Central,
#   - locustio/locust   = the python stand-in + Locust from a host-side wheelhouse.
# Needs a running Docker Engine (docker/engine.sh start) and debootstrap.
set -euo pipefail
# shellcheck source=docker/lib.sh
. "$(dirname "$0")/lib.sh"

BASE_IMAGE="${STANDIN_BASE_IMAGE:-digits-standin/bookworm:minbase}"
PYTHON_IMAGE="${PYTHON_BASE_IMAGE:-python:3.11-slim}"
CASSANDRA_IMAGE="${CASSANDRA_IMAGE:-cassandra:5.0}"
LOCUST_IMAGE="${LOCUST_IMAGE:-locustio/locust:$(sed -n 's/.*"locust==\([^"]*\)".*/\1/p' "$ROOT/pyproject.toml")}"
ROOTFS_TAR="$VAR_DIR/bookworm-minbase.tar"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# True when the upstream image itself (not a stand-in of ours) is present or can be pulled.
upstream_available() {
  local image="$1"
  if image_exists "$image" && [ -z "$(standin_digest "$image")" ]; then
    log "$image available"
    return 0
  fi
  if [ "${STANDINS_NO_PULL:-0}" != 1 ] && timeout 60 docker pull -q "$image" >/dev/null 2>&1; then
    log "$image pulled"
    return 0
  fi
  log "$image cannot be pulled here: using a local stand-in"
  return 1
}

# Build the context in $2 as the stand-in for image $1 (extra docker build arguments follow),
# unless the existing stand-in was built from exactly the same files.
build_standin() {
  local image="$1" ctx="$2" digest
  shift 2
  digest="$(cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
  if [ "$(standin_digest "$image")" = "$digest" ]; then
    log "stand-in $image up to date ($digest)"
  else
    with_progress "build stand-in $image" \
      docker build --label "$STANDIN_LABEL=$digest" "$@" -t "$image" "$ctx"
  fi
  rm -rf "$ctx"
}

build_rootfs() {
  if [ -s "$ROOTFS_TAR" ]; then
    log "debootstrap root file system cached: ${ROOTFS_TAR#"$ROOT"/}"
    return 0
  fi
  command -v debootstrap >/dev/null || die "debootstrap missing: run 'make docker-engine'"
  local dir
  dir="$(mktemp -d "$VAR_DIR/rootfs.XXXXXX")"
  with_progress "debootstrap bookworm (minbase)" \
    debootstrap --variant=minbase bookworm "$dir" "$DEBIAN_MIRROR"
  # Keep the image small and the apt lists out of it; apt-get update runs in each build.
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/tmp/*
  tar -C "$dir" -cf "$ROOTFS_TAR.part" .
  mv "$ROOTFS_TAR.part" "$ROOTFS_TAR"
  rm -rf "$dir"
  log "root file system: $(du -h "$ROOTFS_TAR" | cut -f1) in ${ROOTFS_TAR#"$ROOT"/}"
}

ensure_base() {
  image_exists "$BASE_IMAGE" && return 0
  build_rootfs
  log "importing $BASE_IMAGE"
  docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["bash"]' "$ROOTFS_TAR" "$BASE_IMAGE" >/dev/null
}

ensure_python() {
  upstream_available "$PYTHON_IMAGE" && return 0
  ensure_base
  "$ROOT/docker/wheelhouse.sh"
  local ctx
  ctx="$(mktemp -d "$VAR_DIR/python-ctx.XXXXXX")"
  cp "$ROOT/docker/standins/python.Dockerfile" "$ctx/Dockerfile"
  grep '^uv==' "$ROOT/var/wheelhouse/requirements.txt" >"$ctx/uv-requirement.txt"
  serve_wheelhouse "$ROOT/var/wheelhouse"
  build_standin "$PYTHON_IMAGE" "$ctx" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    --network host --build-arg "PIP_FIND_LINKS=$WHEELHOUSE_URL"
  stop_wheelhouse
}

ensure_cassandra() {
  upstream_available "$CASSANDRA_IMAGE" && return 0
  ensure_base
  local lib="$ROOT/var/cassandra/lib"
  ls "$lib"/cassandra-all-*.jar >/dev/null 2>&1 || die "no Cassandra jars in ${lib#"$ROOT"/}: run 'make cassandra-install'"
  "$ROOT/docker/wheelhouse.sh" cqlsh
  local ctx
  ctx="$(mktemp -d "$VAR_DIR/cassandra-ctx.XXXXXX")"
  cp -r "$ROOT/docker/cassandra/." "$ctx/"
  cp -al "$lib" "$ctx/lib"
  cp -al "$ROOT/var/wheelhouse-cqlsh" "$ctx/wheelhouse"
  build_standin "$CASSANDRA_IMAGE" "$ctx" --build-arg "BASE_IMAGE=$BASE_IMAGE"
}

ensure_locust() {
  upstream_available "$LOCUST_IMAGE" && return 0
  ensure_python
  "$ROOT/docker/wheelhouse.sh" locust
  local ctx
  ctx="$(mktemp -d "$VAR_DIR/locust-ctx.XXXXXX")"
  cp "$ROOT/docker/standins/locust.Dockerfile" "$ctx/Dockerfile"
  cp -al "$ROOT/var/wheelhouse-locust" "$ctx/wheelhouse"
  build_standin "$LOCUST_IMAGE" "$ctx" --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE"
}

engine_running || die "no Docker Engine: run 'docker/engine.sh start'"
mkdir -p "$VAR_DIR"
trap stop_wheelhouse EXIT
case "${1:-all}" in
  python) ensure_python ;;
  cassandra) ensure_cassandra ;;
  locust) ensure_locust ;;
  all) ensure_python; ensure_cassandra; ensure_locust ;;
  *) echo "usage: $0 [python|cassandra|locust|all]" >&2; exit 2 ;;
esac
