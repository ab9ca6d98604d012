#!/bin/bash
# Switch a cassandra.yaml to password authentication and role-based authorization, in place.
#
# Usage: cassandra-config.sh /etc/cassandra/cassandra.yaml
# Handles both the flat (`authenticator: AllowAllAuthenticator`) and the 5.0 nested form
# (`authenticator:` then `  class_name : ...AllowAllAuthenticator`). Idempotent.
set -euo pipefail

yaml="${1:?usage: cassandra-config.sh CASSANDRA_YAML}"

# set_class KEY CLASS: make the top-level KEY name CLASS, dropping a nested class_name line
# (appended when the file has no KEY).
set_class() {
  local key="$1" class="$2" tmp
  tmp="$(mktemp)"
  awk -v key="$key" -v class="$class" '
    skip && /^[[:space:]]+class_name[[:space:]]*:/ { skip = 0; next }
    { skip = 0 }
    $0 ~ "^" key ":" { print key ": " class; skip = 1; found = 1; next }
    { print }
    END { if (!found) print key ": " class }
  ' "$yaml" >"$tmp"
  cat "$tmp" >"$yaml" # keep the file's owner and mode
  rm -f "$tmp"
  if ! grep -q "^${key}: ${class}\$" "$yaml"; then
    echo "cassandra-config: could not set ${key} in ${yaml}" >&2
    exit 1
  fi
}

set_class authenticator PasswordAuthenticator
set_class authorizer CassandraAuthorizer
set_class role_manager CassandraRoleManager
echo "cassandra-config: ${yaml}: PasswordAuthenticator, CassandraAuthorizer"
