#!/usr/bin/env bash
# A real single-node Kubernetes for this project's tests, in private mount and network namespaces.
#   k8s/local/cluster.sh up              build (cached), then start etcd, the control plane, containerd,
#                                        kubelet, kube-proxy and CoreDNS; node Ready, DNS answering
#   k8s/local/cluster.sh load IMAGE...   copy Docker images into the node's containerd (docker save)
#   k8s/local/cluster.sh kubectl ARGS    kubectl as the cluster admin, inside the cluster's network
#   k8s/local/cluster.sh run CMD...      any command inside the cluster's network (pod and Service IPs)
#   k8s/local/cluster.sh status          what runs; exit status 0 when the API server answers
#   k8s/local/cluster.sh down            stop everything it started, delete the cluster's state
# Nothing listens on, or sends to, an address outside the namespaces; the host's network and kernel
# settings are never changed (kubelet's sysctl writes land on files bind-mounted over /proc/sys).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=k8s/local/lib.sh
. "$HERE/lib.sh"

STATE_DIR="$CLUSTER_DIR/state"
CONF_DIR="$CLUSTER_DIR/conf"
PKI_DIR="$CLUSTER_DIR/pki"
LOG_DIR="$CLUSTER_DIR/logs"
NODE_NAME=localhost
BRIDGE=digits0
POD_CIDR=10.244.0.0/24
NODE_IP=10.244.0.1
SERVICE_CIDR=10.96.0.0/24
API_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
NO_DNS_IP=10.244.0.254
PAUSE_IMAGE=localhost/digits-pause:1
COREDNS_IMAGE="localhost/digits-coredns:$COREDNS_VERSION"
# Start order; `down` stops them in reverse.
DAEMONS="etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy"
PATH="$KUBE_BIN:$DEB_ROOT/usr/bin:$DEB_ROOT/usr/sbin:$PATH"
export PATH

# shellcheck source=k8s/local/pki.sh
. "$HERE/pki.sh"
# shellcheck source=k8s/local/configs.sh
. "$HERE/configs.sh"

# The holder has left the host's network namespace (unshare is done).
namespace_made() { [ "$(readlink "/proc/$(holder_pid)/ns/net")" != "$(readlink /proc/self/ns/net)" ]; }
admin_kubectl() { in_namespace kubectl --kubeconfig "$PKI_DIR/admin.kubeconfig" "$@"; }

# wait_until LABEL SECONDS CMD...: docker/lib.sh's wait_for, fatal on timeout.
wait_until() {
  local label="$1"
  shift
  wait_for "$label ready" "$@" || die "$label: not ready after $1 s"
}

# The namespaces: a sleeping process holds a private mount and network namespace; in it, loopback and a
# bridge whose address is the node IP (kubelet refuses a loopback node IP). Host paths the components
# insist on get private tmpfs mounts, and the three kernel settings kubelet enforces are files.
start_namespace() {
  mkdir -p "$RUN_DIR" "$LOG_DIR" "$STATE_DIR" /run/netns /var/log/containers
  setsid unshare --mount --net --propagation private sleep infinity </dev/null >/dev/null 2>&1 &
  echo $! >"$HOLDER_PID_FILE"
  wait_until "namespace" 10 namespace_made
  local sysctls="$STATE_DIR/sysctl"
  mkdir -p "$sysctls"
  in_namespace bash -euc "
    ip link set lo up
    ip link add $BRIDGE type bridge
    ip addr add $NODE_IP/${POD_CIDR#*/} dev $BRIDGE
    ip link set $BRIDGE up
    ip route add $SERVICE_CIDR dev $BRIDGE src $NODE_IP
    sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
    mount -t tmpfs -o mode=0755 digits-netns /run/netns
    mount -t tmpfs -o mode=0755 digits-logs /var/log/containers
    for setting in vm/overcommit_memory=1 kernel/panic=10 kernel/panic_on_oops=1; do
      file=$sysctls/\${setting%%=*}; mkdir -p \"\$(dirname \"\$file\")\"; echo \${setting#*=} >\"\$file\"
      mount --bind \"\$file\" /proc/sys/\${setting%%=*}
    done"
  log "namespace: pid $(holder_pid), bridge $BRIDGE $NODE_IP, pods $POD_CIDR, services $SERVICE_CIDR"
}

# start_daemon NAME CMD...: run CMD in the namespaces, in its own session, logging to logs/NAME.log.
start_daemon() {
  local name="$1"
  shift
  nsenter -t "$(holder_pid)" -m -n -- setsid "$@" </dev/null >"$LOG_DIR/$name.log" 2>&1 &
  echo $! >"$RUN_DIR/$name.pid"
}

api_ready() { admin_kubectl get --raw /readyz; }
node_ready() {
  admin_kubectl get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True
}

start_control_plane() {
  start_daemon etcd etcd --name digits-local --data-dir "$STATE_DIR/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster digits-local=http://127.0.0.1:2380 --listen-metrics-urls ""
  wait_until "etcd" 30 in_namespace etcdctl --endpoints http://127.0.0.1:2379 endpoint health
  start_daemon kube-apiserver kube-apiserver --etcd-servers http://127.0.0.1:2379 \
    --bind-address 0.0.0.0 --advertise-address "$NODE_IP" --secure-port 6443 \
    --service-cluster-ip-range "$SERVICE_CIDR" --allow-privileged=true \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction,PodSecurity \
    --client-ca-file "$PKI_DIR/ca.crt" \
    --tls-cert-file "$PKI_DIR/apiserver.crt" --tls-private-key-file "$PKI_DIR/apiserver.key" \
    --kubelet-client-certificate "$PKI_DIR/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI_DIR/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types Hostname,InternalIP \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI_DIR/service-accounts.pub" \
    --service-account-signing-key-file "$PKI_DIR/service-accounts.key" \
    --profiling=false --event-ttl 1h
  wait_until "kube-apiserver" 120 api_ready
  start_daemon kube-controller-manager kube-controller-manager \
    --kubeconfig "$PKI_DIR/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$PKI_DIR/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$PKI_DIR/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file "$PKI_DIR/service-accounts.key" \
    --root-ca-file "$PKI_DIR/ca.crt" --service-cluster-ip-range "$SERVICE_CIDR" \
    --cluster-signing-cert-file "$PKI_DIR/ca.crt" --cluster-signing-key-file "$PKI_DIR/ca.key"
  start_daemon kube-scheduler kube-scheduler --kubeconfig "$PKI_DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig "$PKI_DIR/scheduler.kubeconfig" \
    --authorization-kubeconfig "$PKI_DIR/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false
}

start_node() {
  start_daemon containerd containerd --config "$CONF_DIR/containerd.toml"
  wait_until "containerd" 30 in_namespace ctr --address "$CONTAINERD_SOCK" version
  "$HERE/images.sh"
  mkdir -p "$STATE_DIR/kubelet" "$STATE_DIR/pod-logs"
  start_daemon kubelet kubelet --config "$CONF_DIR/kubelet.yaml" \
    --kubeconfig "$PKI_DIR/kubelet.kubeconfig" --root-dir "$STATE_DIR/kubelet" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP"
  start_daemon kube-proxy kube-proxy --config "$CONF_DIR/kube-proxy.yaml"
  wait_until "node $NODE_NAME" 120 node_ready
}

# Static volumes for the stack's claims (no provisioner on this node): two ReadWriteOnce (Cassandra's
# data) and one ReadWriteMany (the service's shared spool, POSIX locks work on a local directory).
# Directories are world-writable, as a local-path provisioner makes them: pods run as their own uids.
write_volumes() {
  local spec name mode size dir
  for spec in data-0:ReadWriteOnce:10Gi data-1:ReadWriteOnce:10Gi shared-0:ReadWriteMany:2Gi; do
    IFS=: read -r name mode size <<<"$spec"
    dir="$STATE_DIR/volumes/$name"
    mkdir -p "$dir" && chmod 0777 "$dir"
    cat <<YAML
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: local-$name
  labels: {digits.local/volume: "true"}
spec:
  capacity: {storage: $size}
  accessModes: [$mode]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: $dir, type: Directory}
YAML
  done
}

start_addons() {
  write_volumes | admin_kubectl apply -f - >/dev/null
  sed -e "s/COREDNS_VERSION/$COREDNS_VERSION/" -e "s/DNS_SERVICE_IP/$DNS_SERVICE_IP/" \
    "$HERE/addons/coredns.yaml" | admin_kubectl apply -f - >/dev/null
  wait_until "coredns" 120 admin_kubectl -n kube-system rollout status deployment/coredns --timeout 2s
}

cmd_up() {
  if namespace_alive && api_ready >/dev/null 2>&1; then
    log "cluster already up (namespace pid $(holder_pid))"
    return 0
  fi
  [ -d "$CLUSTER_DIR" ] && cmd_down
  local start=$SECONDS
  "$HERE/build.sh"
  mkdir -p "$CLUSTER_DIR"
  make_pki
  write_configs
  start_namespace
  start_control_plane
  start_node
  start_addons
  log "cluster up in $((SECONDS - start)) s: $0 kubectl get pods -A"
}

# Everything in a pod's cgroup, then every process still in the namespaces (shims, daemons).
kill_pods() {
  local pid
  for pid in $(grep -l kubepods /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3); do
    kill -9 "$pid" 2>/dev/null || true
  done
}

processes_in_namespace() {
  local holder ns pid
  holder="$(holder_pid)"
  [ -n "$holder" ] || return 0
  ns="$(readlink "/proc/$holder/ns/mnt" 2>/dev/null)" || return 0
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    [ "$pid" = "$holder" ] && continue
    [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "$ns" ] && echo "$pid"
  done
  return 0
}

stop_daemon() {
  local name="$1" pid
  pid="$(cat "$RUN_DIR/$name.pid" 2>/dev/null)" || return 0
  stop_pid "$name" "$pid" 20
}

# Depth first: a cgroup directory can only be removed once its children are.
remove_pod_cgroups() {
  local dir
  for dir in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$dir" ] || continue
    find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

cmd_down() {
  local start=$SECONDS name
  log "stopping the local cluster"
  for name in kube-proxy kubelet; do stop_daemon "$name"; done
  kill_pods
  for name in containerd kube-scheduler kube-controller-manager kube-apiserver etcd; do
    stop_daemon "$name"
  done
  for pid in $(processes_in_namespace); do kill -9 "$pid" 2>/dev/null || true; done
  if namespace_alive; then kill "$(holder_pid)"; fi
  remove_pod_cgroups
  rm -rf "$CLUSTER_DIR"
  log "cluster down in $((SECONDS - start)) s"
}

cmd_status() {
  if ! namespace_alive; then echo "no cluster"; return 1; fi
  local name pid
  for name in $DAEMONS; do
    pid="$(cat "$RUN_DIR/$name.pid" 2>/dev/null || echo -)"
    if [ "$pid" != - ] && kill -0 "$pid" 2>/dev/null; then echo "$name: running (pid $pid)"
    else echo "$name: stopped"; fi
  done
  admin_kubectl get nodes
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  kubectl) shift; admin_kubectl "$@" ;;
  run) shift; in_namespace "$@" ;;
  load) shift; "$HERE/images.sh" "$@" ;;
  kubeconfig) echo "$PKI_DIR/admin.kubeconfig" ;;
  *) sed -n '2,10p' "$0" >&2; exit 2 ;;
esac
