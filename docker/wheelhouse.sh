#!/usr/bin/env bash
# Host-side wheelhouses, so that image builds need no network inside containers.
#
#   docker/wheelhouse.sh          var/wheelhouse: requirements/service.lock (+ uv)
#   docker/wheelhouse.sh cqlsh    var/wheelhouse-cqlsh: cqlsh for the Cassandra stand-in image
#   docker/wheelhouse.sh locust   var/wheelhouse-locust: Locust (pyproject's dev pin) for its stand-in
#
# Wheels are downloaded on the host with the project's Python 3.11 (PyPI is reachable from the host):
# the host (Debian 12, CPython 3.11, x86_64) is the platform of the images, so its wheels fit. A stamp file keyed on the requirement list skips
# the download when nothing changed.
set -euo pipefail
# shellcheck source=docker/lib.sh
. "$(dirname "$0")/lib.sh"

PY="${PY:-$ROOT/.venv/bin/python}"
CQLSH_VERSION="${CQLSH_VERSION:-6.2.2}"
# uv goes into the python stand-in: the bento's Dockerfile skips `pip install uv` when it is there.
UV_VERSION="${UV_VERSION:-0.13.9}"

# The service's locked closure (what bentofile.yaml installs), and uv.
runtime_requirements() {
  grep -v '^#' "$ROOT/requirements/service.lock"
  echo "uv==$UV_VERSION"
}

locust_requirement() {
  "$PY" - "$ROOT/pyproject.toml" <<'PYEOF'
import sys, tomllib
dev = tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["dev"]
print(next(pin for pin in dev if pin.startswith("locust==")))
PYEOF
}

download() {
  local dest="$1" reqs="$2" stamp
  stamp="$(printf '%s' "$reqs" | sha256sum | cut -c1-16)"
  if [ -f "$dest/.stamp" ] && [ "$(cat "$dest/.stamp")" = "$stamp" ]; then
    log "wheelhouse up to date: ${dest#"$ROOT"/} ($(du -sh "$dest" | cut -f1))"
    return 0
  fi
  # Start empty: wheels of earlier pins would otherwise pile up in the image built from it.
  rm -rf "$dest"
  mkdir -p "$dest"
  printf '%s\n' "$reqs" >"$dest/requirements.txt"
  with_progress "pip download into ${dest#"$ROOT"/}" \
    "$PY" -m pip download --disable-pip-version-check --progress-bar off \
    --prefer-binary -d "$dest" -r "$dest/requirements.txt"
  echo "$stamp" >"$dest/.stamp"
  log "wheelhouse ready: ${dest#"$ROOT"/} ($(du -sh "$dest" | cut -f1))"
}

case "${1:-runtime}" in
  runtime) download "$ROOT/var/wheelhouse" "$(runtime_requirements)" ;;
  cqlsh) download "$ROOT/var/wheelhouse-cqlsh" "cqlsh==$CQLSH_VERSION" ;;
  locust) download "$ROOT/var/wheelhouse-locust" "$(locust_requirement)" ;;
  *) echo "usage: $0 [runtime|cqlsh|locust]" >&2; exit 2 ;;
esac
