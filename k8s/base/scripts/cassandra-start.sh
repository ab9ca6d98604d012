#!/bin/bash
# Start a Cassandra node of the official image with a heap sized from the container's memory
# limit and password authentication switched on, then hand over to the image's entrypoint.
#
# cassandra-env.sh would size the heap from the host's memory, not the pod's limit: half of
# the limit goes to the heap (the rest is off-heap memtables, caches and the page cache).
set -euo pipefail

limit_mib="${MEMORY_LIMIT_MIB:?MEMORY_LIMIT_MIB (the container memory limit in MiB) is required}"
heap_mib=$((limit_mib / 2))
if ((heap_mib > 31744)); then
  heap_mib=31744 # stay below the compressed-oops limit
fi
export MAX_HEAP_SIZE="${heap_mib}M"
export HEAP_NEWSIZE="$((heap_mib / 4))M"
echo "cassandra-start: memory limit ${limit_mib}Mi -> heap ${MAX_HEAP_SIZE}, new gen ${HEAP_NEWSIZE}"

"$(dirname "$0")/cassandra-config.sh" "${CASSANDRA_CONF:-/etc/cassandra}/cassandra.yaml"
exec docker-entrypoint.sh cassandra -f
