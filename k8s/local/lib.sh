# shellcheck shell=bash
# Shared settings and helpers of the local cluster's scripts (k8s/local/). Source it.

LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$LOCAL_DIR/../.." && pwd)"
VAR_DIR="${VAR_DIR:-$ROOT/var/k8s}"
# shellcheck source=docker/lib.sh
. "$ROOT/docker/lib.sh"
# shellcheck source=k8s/local/versions.env
. "$LOCAL_DIR/versions.env"

K8S_CACHE="${DIGITS_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/digits-k8s}"
KUBE_COMMANDS="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl"
KUBE_BIN="$K8S_CACHE/kubernetes-$KUBERNETES_VERSION/bin"
COREDNS_BIN="$K8S_CACHE/coredns-$COREDNS_VERSION/coredns"
DEB_ROOT="$K8S_CACHE/debian-$(printf '%s' "$DEBIAN_PACKAGES" | sha256sum | cut -c1-12)"

# The running cluster's state (cluster.sh creates it; images.sh imports into its containerd).
CLUSTER_DIR="$VAR_DIR/cluster"
RUN_DIR="$CLUSTER_DIR/run"
HOLDER_PID_FILE="$RUN_DIR/namespace.pid"
CONTAINERD_SOCK="$RUN_DIR/containerd.sock"

holder_pid() { cat "$HOLDER_PID_FILE" 2>/dev/null || true; }
namespace_alive() { local pid; pid="$(holder_pid)"; [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
# Run a command inside the cluster's mount and network namespaces.
in_namespace() { nsenter -t "$(holder_pid)" -m -n --wd="$PWD" -- "$@"; }
