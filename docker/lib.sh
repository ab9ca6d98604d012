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

# wait_for LABEL SECONDS CMD...: run CMD every second until it succeeds (a dot every 5 s), then
# log "LABEL after N s"; returns 1 after SECONDS. The one polling loop of the shell scripts.
wait_for() {
  local label="$1" timeout="$2" start=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ $((SECONDS - start)) -ge "$timeout" ]; then
      printf '\n' >&2
      log "$label: not within $timeout s"
      return 1
    fi
    [ $(((SECONDS - start) % 5)) -eq 4 ] && printf '.' >&2
    sleep 1
  done
  log "$label after $((SECONDS - start)) s"
}

pid_alive() { kill -0 "$1" 2>/dev/null; }
pid_gone() { ! pid_alive "$1"; }

# stop_pid LABEL PID SECONDS: SIGTERM, then SIGKILL if it is still alive after SECONDS.
stop_pid() {
  local label="$1" pid="$2" grace="$3"
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  if ! wait_for "$label stopped" "$grace" pid_gone "$pid" 2>/dev/null; then
    log "$label still running after $grace s; sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

# image_size IMAGE: its size, e.g. "1545 MB".
image_size() {
  docker image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1000000 }'
}

# serve_wheelhouse DIR: serve a wheelhouse over HTTP on the loopback, for image builds that run
# with --network host (pip/uv find-links), so no wheel is copied into a layer. Sets
# WHEELHOUSE_URL; stop_wheelhouse stops it.
serve_wheelhouse() {
  local dir="$1" port
  [ -f "$dir/requirements.txt" ] || die "no wheelhouse in ${dir#"$ROOT"/}: run docker/wheelhouse.sh"
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  mkdir -p "$VAR_DIR"
  python3 -m http.server --bind 127.0.0.1 --directory "$dir" "$port" >"$VAR_DIR/wheelhouse-http.log" 2>&1 &
  WHEELHOUSE_PID=$!
  WHEELHOUSE_URL="http://127.0.0.1:$port/"
  wait_for "wheelhouse served on $WHEELHOUSE_URL" 20 python3 -c \
    'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$WHEELHOUSE_URL" \
    || die "could not serve ${dir#"$ROOT"/} over HTTP"
}

stop_wheelhouse() {
  if [ -n "${WHEELHOUSE_PID:-}" ]; then
    stop_pid wheelhouse "$WHEELHOUSE_PID" 5 2>/dev/null
    WHEELHOUSE_PID=
  fi
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
  if ! wait_for "Docker Engine up" 60 engine_running; then
    tail -n 20 "$DOCKERD_LOG" >&2
    die "dockerd did not answer within 60 s"
  fi
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
  if pid_alive "$pid"; then
    log "stopping dockerd (pid $pid)"
    stop_pid dockerd "$pid" 30
  fi
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

STANDIN_LABEL=org.digits-serving.standin

# The inputs digest a stand-in image (docker/standins.sh) was built from; empty for any other image.
standin_digest() {
  local value
  value="$(docker image inspect --format "{{ index .Config.Labels \"$STANDIN_LABEL\" }}" "$1" 2>/dev/null)"
  [ "$value" = "<no value>" ] || echo "$value"
}
