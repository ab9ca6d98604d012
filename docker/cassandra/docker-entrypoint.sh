#!/bin/bash
# Entrypoint of the cassandra:5.0 stand-in. Applies the official image's environment variables to
# /etc/cassandra before starting: CASSANDRA_CLUSTER_NAME, CASSANDRA_SEEDS, CASSANDRA_LISTEN_ADDRESS,
# CASSANDRA_BROADCAST_ADDRESS, CASSANDRA_BROADCAST_RPC_ADDRESS, CASSANDRA_RPC_ADDRESS,
# CASSANDRA_ENDPOINT_SNITCH, CASSANDRA_NUM_TOKENS, CASSANDRA_DC, CASSANDRA_RACK.
set -euo pipefail

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
  set -- cassandra -f "$@"
fi

# Started as root (e.g. `--user 0`): fix ownership, then continue as the cassandra user.
if [ "$1" = cassandra ] && [ "$(id -u)" = 0 ]; then
  chown -R cassandra:cassandra /var/lib/cassandra /var/log/cassandra "$CASSANDRA_CONF"
  exec setpriv --reuid=cassandra --regid=cassandra --init-groups "$0" "$@"
fi

first_ip() {
  ip -4 -o address show scope global | awk '{ split($4, a, "/"); print a[1]; exit }'
}

# Rewrite a file in place without replacing it (works on bind-mounted files too).
rewrite() {
  local file="$1" tmp
  shift
  tmp="$(mktemp)"
  sed "$@" "$file" >"$tmp"
  cat "$tmp" >"$file"
  rm -f "$tmp"
}

if [ "$1" = cassandra ]; then
  : "${CASSANDRA_RPC_ADDRESS:=0.0.0.0}"
  : "${CASSANDRA_LISTEN_ADDRESS:=auto}"
  [ "$CASSANDRA_LISTEN_ADDRESS" = auto ] && CASSANDRA_LISTEN_ADDRESS="$(first_ip)"
  : "${CASSANDRA_BROADCAST_ADDRESS:=$CASSANDRA_LISTEN_ADDRESS}"
  [ "$CASSANDRA_BROADCAST_ADDRESS" = auto ] && CASSANDRA_BROADCAST_ADDRESS="$(first_ip)"
  : "${CASSANDRA_BROADCAST_RPC_ADDRESS:=$CASSANDRA_BROADCAST_ADDRESS}"
  : "${CASSANDRA_SEEDS:=$CASSANDRA_BROADCAST_ADDRESS}"
  export CASSANDRA_RPC_ADDRESS CASSANDRA_LISTEN_ADDRESS CASSANDRA_BROADCAST_ADDRESS \
    CASSANDRA_BROADCAST_RPC_ADDRESS CASSANDRA_SEEDS

  yaml="$CASSANDRA_CONF/cassandra.yaml"
  rewrite "$yaml" -r 's/(- seeds:).*/\1 "'"$CASSANDRA_SEEDS"'"/'
  for key in broadcast_address broadcast_rpc_address cluster_name endpoint_snitch \
    listen_address num_tokens rpc_address; do
    var="CASSANDRA_${key^^}"
    val="${!var:-}"
    if [ -n "$val" ]; then
      rewrite "$yaml" -r 's/^(# )?('"$key"':).*/\2 '"$val"'/'
    fi
  done
  for key in dc rack; do
    var="CASSANDRA_${key^^}"
    val="${!var:-}"
    if [ -n "$val" ]; then
      rewrite "$CASSANDRA_CONF/cassandra-rackdc.properties" -r 's/^('"$key"'=).*/\1'"$val"'/'
    fi
  done
fi

exec "$@"
