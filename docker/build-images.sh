#!/usr/bin/env bash
# Build the images of compose.yaml: the Bento's (bentoml build + bentoml containerize, Docker
# backend), Cassandra's (official cassandra:5.0, or its local stand-in) and, with `loadgen`, the
# Locust load generator of the `loadtest` profile.
#
#   docker/build-images.sh [--missing] [service] [cassandra] [loadgen]   (default: service cassandra)
#
# --missing builds only the images that do not exist yet (the deployment tests use it).
# Variables: DIGITS_IMAGE (digits-service:latest), LOADGEN_IMAGE (digits-loadgen:latest).
# The upstream base images (python:3.11-slim, cassandra:5.0, locustio/locust) are pulled when a
# registry answers; otherwise docker/standins.sh builds local stand-ins under the same names.
# Starts dockerd when none runs, and stops it again at the end in that case.
set -euo pipefail
# shellcheck source=docker/lib.sh
. "$(dirname "$0")/lib.sh"

DIGITS_IMAGE="${DIGITS_IMAGE:-digits-service:latest}"
LOADGEN_IMAGE="${LOADGEN_IMAGE:-digits-loadgen:latest}"
BENTOML="${BENTOML:-$ROOT/.venv/bin/bentoml}"
PY="${PY:-$ROOT/.venv/bin/python}"
# BentoML's Dockerfile carries a `# syntax=` line under BuildKit, which needs a registry to fetch
# the frontend: the classic builder runs the same Dockerfile offline.
export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}"

build_service() {
  local start=$SECONDS tag
  "$ROOT/docker/standins.sh" python
  log "bentoml build (bentofile.yaml)"
  tag="$(cd "$ROOT" && "$BENTOML" build --output tag . | sed -n 's/^__tag__://p' | tail -n 1)"
  [ -n "$tag" ] || die "bentoml build printed no tag"
  log "built Bento $tag"
  # containerize copies the Bento to a temporary build context, and only accepts a Dockerfile
  # template under the working directory: keep that context under var/.
  mkdir -p "$VAR_DIR/tmp"
  cd "$ROOT"
  log "containerizing $tag"
  local offline=()
  if serve_wheelhouse_for python:3.11-slim; then
    offline=(--opt network=host --opt "build-arg=UV_FIND_LINKS=$WHEELHOUSE_URL"
      --opt "build-arg=UV_DEFAULT_INDEX=$WHEELHOUSE_URL")
  fi
  with_progress "bentoml containerize" env TMPDIR="$VAR_DIR/tmp" \
    "$BENTOML" containerize "$tag" --backend docker --image-tag "$tag" --image-tag "$DIGITS_IMAGE" \
    "${offline[@]}"
  stop_wheelhouse
  log "image $DIGITS_IMAGE ($tag): $(image_size "$DIGITS_IMAGE"), built in $((SECONDS - start)) s"
  time_to_ready "$DIGITS_IMAGE"
}

# Start the image alone (read-only, recording off, published on loopback) and print the time
# from `docker run` to the first 200 on /readyz: under an autoscaler, that is scale-up time.
time_to_ready() {
  local seconds
  seconds="$("$PY" - "$1" "digits-ready-$$" <<'PYEOF'
import socket, subprocess, sys, time, urllib.request
image, name = sys.argv[1], sys.argv[2]
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
started = time.monotonic()
subprocess.run(["docker", "run", "-d", "--read-only", "--name", name, "-p", f"127.0.0.1:{port}:3000",
                "-e", "DIGITS_STORE_URL=none://", image], check=True, stdout=subprocess.DEVNULL)
try:
    while time.monotonic() - started < 180:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    print(f"{time.monotonic() - started:.1f}")
                    sys.exit(0)
        except OSError:
            time.sleep(0.1)
    subprocess.run(["docker", "logs", "--tail", "20", name], check=False)
    sys.exit(f"{image} not ready on /readyz within 180 s")
finally:
    subprocess.run(["docker", "rm", "-f", name], check=False, stdout=subprocess.DEVNULL)
PYEOF
)" || die "$1 did not become ready"
  log "image $1: container start to /readyz 200 in $seconds s"
}

# serve_wheelhouse_for BASE_IMAGE: when BASE_IMAGE is a local stand-in (no registry reachable),
# serve the host's wheelhouse on the loopback (WHEELHOUSE_URL) for the build and succeed; with a
# registry's image, fail: the build installs from PyPI.
serve_wheelhouse_for() {
  [ -n "$(standin_digest "$1")" ] || return 1
  "$ROOT/docker/wheelhouse.sh"
  serve_wheelhouse "$ROOT/var/wheelhouse"
}

# The Locust base image the load generator is built FROM (its Dockerfile's default).
locust_image() { sed -n 's/^ARG LOCUST_IMAGE=//p' "$ROOT/k8s/loadgen/Dockerfile"; }

build_loadgen() {
  local start=$SECONDS ctx
  "$ROOT/docker/standins.sh" locust
  ctx="$(mktemp -d "$VAR_DIR/loadgen-ctx.XXXXXX")"
  mkdir -p "$ctx/corpus"
  log "rendering the load-test corpus"
  (cd "$ROOT" && "$PY" -m loadtests.corpus --size 400 --seed 7 --out "$ctx/corpus")
  cp "$ROOT/k8s/loadgen/Dockerfile" "$ctx/Dockerfile"
  local offline=()
  if serve_wheelhouse_for "$(locust_image)"; then  # numpy and Pillow as the service pins them
    offline=(--network host --build-arg "PIP_FIND_LINKS=$WHEELHOUSE_URL" --build-arg PIP_NO_INDEX=1)
  fi
  with_progress "build $LOADGEN_IMAGE" docker build "${offline[@]}" -t "$LOADGEN_IMAGE" "$ctx"
  stop_wheelhouse
  rm -rf "$ctx"
  log "image $LOADGEN_IMAGE: $(image_size "$LOADGEN_IMAGE"), built in $((SECONDS - start)) s"
}

mkdir -p "$VAR_DIR"
engine_start
trap 'stop_wheelhouse; engine_stop_if_started_here' EXIT
only_missing=0
if [ "${1:-}" = --missing ]; then only_missing=1; shift; fi
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(service cassandra)
image_of() {
  case "$1" in
    service) echo "$DIGITS_IMAGE" ;;
    cassandra) echo "${CASSANDRA_IMAGE:-cassandra:5.0}" ;;
    loadgen) echo "$LOADGEN_IMAGE" ;;
  esac
}
for target in "${targets[@]}"; do
  if [ "$only_missing" = 1 ] && image_exists "$(image_of "$target")"; then
    log "image $(image_of "$target") present: not rebuilt (--missing)"
    continue
  fi
  case "$target" in
    service) build_service ;;
    cassandra) "$ROOT/docker/standins.sh" cassandra ;;
    loadgen) build_loadgen ;;
    *) die "unknown image '$target' (service, cassandra, loadgen)" ;;
  esac
done
