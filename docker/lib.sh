# shellcheck shell=bash
# Shared helpers for the docker/ scripts: logging, timing and the Docker Engine life cycle.
# Source it; it defines functions only.

ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
VAR_DIR="${VAR_DIR:-$ROOT/var/docker}"
DOCKER_SOCK="${DOCKER_SOCK:-/var/run/docker.sock}"
DOCKERD_PIDFILE="$VAR_DIR/dockerd.pid"
DOCKERD_LOG="$VAR_DIR/dockerd.log"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Run a command while printing one dot every 5 s, so long steps show progress.
with_progress() {
  local label="$1"; shift
  local logfile="$VAR_DIR/${label//[^a-zA-Z0-9_-]/_}.log" start=$SECONDS pid rc
  mkdir -p "$VAR_DIR"
  log "$label (log: ${logfile#"$ROOT"/})"
  "$@" >"$logfile" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    kill -0 "$pid" 2>/dev/null && printf '.' >&2
  done
  wait "$pid" && rc=0 || rc=$?
  printf '\n' >&2
  if [ "$rc" -ne 0 ]; then
    tail -n 40 "$logfile" >&2
    die "$label failed (exit $rc) after $((SECONDS - start)) s"
  fi
  log "$label done in $((SECONDS - start)) s"
}

engine_running() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

ENGINE_STARTED_HERE=0

# Start dockerd unless an engine already answers; remember (pid file, ENGINE_STARTED_HERE) that
# we started it.
engine_start() {
  if engine_running; then
    log "Docker Engine already running ($(docker version --format '{{.Server.Version}}'))"
    return 0
  fi
  command -v dockerd >/dev/null || die "dockerd missing: run 'make docker-engine' first"
  mkdir -p "$VAR_DIR"
  log "starting dockerd (log: ${DOCKERD_LOG#"$ROOT"/})"
  setsid dockerd --host "unix://$DOCKER_SOCK" >"$DOCKERD_LOG" 2>&1 </dev/null &
  echo $! >"$DOCKERD_PIDFILE"
  ENGINE_STARTED_HERE=1
  local i
  for i in $(seq 1 60); do
    engine_running && { log "Docker Engine up after ${i} s"; return 0; }
    sleep 1
  done
  tail -n 20 "$DOCKERD_LOG" >&2
  die "dockerd did not answer within 60 s"
}

# For scripts: stop dockerd only if this very process started it.
engine_stop_if_started_here() {
  if [ "$ENGINE_STARTED_HERE" = 1 ]; then
    engine_stop
  fi
}

# Stop dockerd only if engine_start started it (its pid file exists).
engine_stop() {
  [ -f "$DOCKERD_PIDFILE" ] || { log "leaving the Docker Engine as it was (not started by us)"; return 0; }
  local pid
  pid="$(cat "$DOCKERD_PIDFILE")"
  rm -f "$DOCKERD_PIDFILE"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    local i
    for i in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || { log "dockerd stopped"; return 0; }
      sleep 1
    done
    log "dockerd still running after 30 s; sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
