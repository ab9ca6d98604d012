#!/usr/bin/env bash
# Docker Engine for this project's builds and tests on a machine with no daemon running.
#   docker/engine.sh install   apt-get install docker.io docker-compose debootstrap curl (when absent)
#   docker/engine.sh start     start dockerd unless one answers (remembers it started it)
#   docker/engine.sh stop      stop dockerd only if `start` started it
#   docker/engine.sh status    exit status 0 when an engine answers
set -euo pipefail
# shellcheck source=docker/lib.sh
. "$(dirname "$0")/lib.sh"

install_engine() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v curl >/dev/null || missing+=(curl)  # the e2e test uploads with curl
  if [ "${#missing[@]}" -eq 0 ]; then
    log "docker.io, docker-compose, debootstrap and curl already installed"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "installing ${missing[*]} needs root"
  log "installing ${missing[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

case "${1:-}" in
  install) install_engine ;;
  start) engine_start ;;
  stop) engine_stop ;;
  status)
    if engine_running; then docker version --format 'engine {{.Server.Version}}'; else
      echo "no engine"; exit 1; fi ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
