#!/bin/bash
# Cassandra roles for the digits service, run by the schema job with the image's cqlsh.
#
# Usage: cassandra-roles.sh bootstrap   wait for CQL; create the admin superuser from the Secret
#                                       (retiring the default cassandra/cassandra), replicate
#                                       system_auth like the data, create or update the app role
#        cassandra-roles.sh grant       let the app role read and write its keyspace, nothing more
#        cassandra-roles.sh replication SPEC   print SPEC (DIGITS_CASSANDRA_REPLICATION) as CQL
# Every step is idempotent: the job can run again after every `kubectl apply`.
set -euo pipefail

CQL_HOST="${CQL_HOST:-cassandra}"
CQL_PORT="${CQL_PORT:-9042}"
WAIT_SECONDS="${WAIT_SECONDS:-900}"

log() { echo "cassandra-roles: $*"; }

# quote VALUE: VALUE as a CQL string literal.
quote() { printf "'%s'" "${1//\'/\'\'}"; }

# ident NAME: NAME as a quoted CQL identifier.
ident() { printf '"%s"' "${1//\"/\"\"}"; }

# replication SPEC: `SimpleStrategy:RF` or `NetworkTopologyStrategy:DC=RF[,DC=RF]` as a CQL map.
replication() {
  local spec="$1" class="${1%%:*}" rest="${1#*:}" out part
  case "$class" in
    SimpleStrategy)
      [[ "$rest" =~ ^[0-9]+$ ]] || { echo "bad replication: $spec" >&2; return 1; }
      printf "{'class': 'SimpleStrategy', 'replication_factor': %s}" "$rest"
      ;;
    NetworkTopologyStrategy)
      out="{'class': 'NetworkTopologyStrategy'"
      IFS=, read -ra parts <<<"$rest"
      for part in "${parts[@]}"; do
        [[ "$part" =~ ^[A-Za-z0-9_-]+=[0-9]+$ ]] || { echo "bad replication: $spec" >&2; return 1; }
        out+=", '${part%%=*}': ${part#*=}"
      done
      printf '%s}' "$out"
      ;;
    *)
      echo "bad replication: $spec" >&2
      return 1
      ;;
  esac
}

# cql USER PASSWORD STATEMENT: run one statement.
cql() {
  cqlsh "$CQL_HOST" "$CQL_PORT" -u "$1" -p "$2" --request-timeout=30 -e "$3"
}

can_login() { cql "$1" "$2" "SELECT release_version FROM system.local" >/dev/null 2>&1; }

admin() { cql "$ADMIN_USERNAME" "$ADMIN_PASSWORD" "$1"; }

# wait_for_cql: until the admin, or the default superuser of a new cluster, can log in.
wait_for_cql() {
  local waited=0
  until can_login "$ADMIN_USERNAME" "$ADMIN_PASSWORD" || can_login cassandra cassandra; do
    if ((waited >= WAIT_SECONDS)); then
      log "no CQL login on ${CQL_HOST}:${CQL_PORT} after ${waited}s, giving up"
      exit 1
    fi
    log "waiting for CQL on ${CQL_HOST}:${CQL_PORT} (${waited}s)"
    sleep 10
    waited=$((waited + 10))
  done
  log "CQL on ${CQL_HOST}:${CQL_PORT} answers"
}

create_admin() {
  if can_login "$ADMIN_USERNAME" "$ADMIN_PASSWORD"; then
    log "admin role ${ADMIN_USERNAME} exists"
    return
  fi
  log "new cluster: creating admin role ${ADMIN_USERNAME}"
  if [[ "$ADMIN_USERNAME" == cassandra ]]; then
    cql cassandra cassandra "ALTER ROLE cassandra WITH PASSWORD = $(quote "$ADMIN_PASSWORD")"
    return
  fi
  cql cassandra cassandra "CREATE ROLE IF NOT EXISTS $(ident "$ADMIN_USERNAME") WITH SUPERUSER = true \
    AND LOGIN = true AND PASSWORD = $(quote "$ADMIN_PASSWORD")"
  # The well-known default superuser must not stay usable.
  admin "ALTER ROLE cassandra WITH SUPERUSER = false AND LOGIN = false \
    AND PASSWORD = $(quote "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')")"
  log "default superuser cassandra disabled"
}

bootstrap() {
  : "${ADMIN_USERNAME:?}" "${ADMIN_PASSWORD:?}" "${APP_USERNAME:?}" "${APP_PASSWORD:?}"
  : "${DIGITS_CASSANDRA_REPLICATION:?}"
  wait_for_cql
  create_admin
  admin "ALTER KEYSPACE system_auth WITH replication = $(replication "$DIGITS_CASSANDRA_REPLICATION")"
  log "system_auth replicated as ${DIGITS_CASSANDRA_REPLICATION}"
  admin "CREATE ROLE IF NOT EXISTS $(ident "$APP_USERNAME") WITH LOGIN = true \
    AND PASSWORD = $(quote "$APP_PASSWORD")"
  admin "ALTER ROLE $(ident "$APP_USERNAME") WITH PASSWORD = $(quote "$APP_PASSWORD")"
  log "app role ${APP_USERNAME} ready"
}

grant() {
  : "${ADMIN_USERNAME:?}" "${ADMIN_PASSWORD:?}" "${APP_USERNAME:?}" "${DIGITS_STORE_URL:?}"
  local keyspace="${DIGITS_STORE_URL##*/}"
  [[ "$keyspace" =~ ^[A-Za-z][A-Za-z0-9_]*$ ]] || { log "bad keyspace: ${keyspace}"; exit 1; }
  # Unquoted, as storage/schema.cql creates it. Least privilege: the service reads and writes
  # rows (SELECT, MODIFY); creating, altering or dropping tables is the migration's, as admin.
  # An earlier grant of ALL is taken back first, so re-running the job narrows it.
  admin "REVOKE ALL PERMISSIONS ON KEYSPACE ${keyspace} FROM $(ident "$APP_USERNAME")"
  admin "GRANT SELECT ON KEYSPACE ${keyspace} TO $(ident "$APP_USERNAME")"
  admin "GRANT MODIFY ON KEYSPACE ${keyspace} TO $(ident "$APP_USERNAME")"
  log "granted SELECT and MODIFY on keyspace ${keyspace} to ${APP_USERNAME}"
}

case "${1:-}" in
  bootstrap) bootstrap ;;
  grant) grant ;;
  replication) replication "${2:?usage: cassandra-roles.sh replication SPEC}" && echo ;;
  *)
    echo "usage: cassandra-roles.sh bootstrap|grant|replication SPEC" >&2
    exit 2
    ;;
esac
